-- Campaign work that scales with what changed: the due-campaign query reads only running and
-- scheduled campaigns, counters are maintained by the database as recipients change instead
-- of recounted, and every audience input a campaign refused is stored.

-- The start time as a key column, for the due-campaign query; backfilled from the document.
ALTER TABLE campaigns ADD COLUMN start_at TIMESTAMPTZ;
UPDATE campaigns SET start_at = (doc->>'start_at')::timestamptz WHERE doc->>'start_at' IS NOT NULL;
-- Running campaigns page by id; scheduled ones are found by start time.
CREATE INDEX campaigns_running ON campaigns (state, id);
CREATE INDEX campaigns_scheduled ON campaigns (state, start_at);

-- Audience inputs a campaign refused (invalid number, duplicate, malformed row).
CREATE TABLE campaign_rejections (
    tenant_id UUID NOT NULL,
    campaign_id UUID NOT NULL,
    id UUID NOT NULL,
    line BIGINT,
    input TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, campaign_id, id)
);

-- Counter deltas, summed by status on read: each statement that changes recipients appends
-- one row per (campaign, status) it changed, and reads fold them back into one row per status
-- now and then. Appending takes no lock on a shared row, so concurrent writers of one campaign
-- neither wait for each other nor deadlock (an updated row per status would serialise every
-- recipient write of a campaign, and transactions of several statements could deadlock on
-- it). 'rejected' counts refused inputs.
CREATE TABLE campaign_counters (
    tenant_id UUID NOT NULL,
    campaign_id UUID NOT NULL,
    status TEXT NOT NULL,
    n BIGINT NOT NULL
);
CREATE INDEX campaign_counters_campaign ON campaign_counters (tenant_id, campaign_id);

INSERT INTO campaign_counters (tenant_id, campaign_id, status, n)
SELECT tenant_id, campaign_id, status, COUNT(*) FROM campaign_recipients
GROUP BY tenant_id, campaign_id, status;

-- Every statement that inserts, moves or deletes recipients keeps the counters right,
-- whichever code path runs it. Statement-level with transition tables: one grouped change
-- per statement instead of one per row; a statement that moves no status (attaching a
-- message id) appends nothing.
CREATE FUNCTION campaign_recipients_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO campaign_counters (tenant_id, campaign_id, status, n)
        SELECT tenant_id, campaign_id, status, COUNT(*) FROM new_rows
        GROUP BY tenant_id, campaign_id, status;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO campaign_counters (tenant_id, campaign_id, status, n)
        SELECT tenant_id, campaign_id, status, -COUNT(*) FROM old_rows
        GROUP BY tenant_id, campaign_id, status;
    ELSE
        INSERT INTO campaign_counters (tenant_id, campaign_id, status, n)
        SELECT tenant_id, campaign_id, status, SUM(k) FROM (
            SELECT tenant_id, campaign_id, status, 1 AS k FROM new_rows
            UNION ALL
            SELECT tenant_id, campaign_id, status, -1 AS k FROM old_rows
        ) d
        GROUP BY tenant_id, campaign_id, status
        HAVING SUM(k) <> 0;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER campaign_recipients_count_insert AFTER INSERT ON campaign_recipients
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION campaign_recipients_count();
CREATE TRIGGER campaign_recipients_count_update AFTER UPDATE ON campaign_recipients
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION campaign_recipients_count();
CREATE TRIGGER campaign_recipients_count_delete AFTER DELETE ON campaign_recipients
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION campaign_recipients_count();
