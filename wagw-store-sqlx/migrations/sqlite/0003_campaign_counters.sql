-- Campaign work that scales with what changed: the due-campaign query reads only running and
-- scheduled campaigns, counters are maintained by the database as recipients change instead
-- of recounted, and every audience input a campaign refused is stored.

-- The start time as a key column, for the due-campaign query. Backfilled from the document;
-- SQLite's date functions keep milliseconds, ample to decide whether a start time has come.
ALTER TABLE campaigns ADD COLUMN start_at INTEGER;
UPDATE campaigns
SET start_at = CAST(round(unixepoch(json_extract(doc, '$.start_at'), 'subsec') * 1000) AS INTEGER) * 1000
WHERE json_extract(doc, '$.start_at') IS NOT NULL;
-- Running campaigns page by id; scheduled ones are found by start time.
CREATE INDEX campaigns_running ON campaigns (state, id);
CREATE INDEX campaigns_scheduled ON campaigns (state, start_at);

-- Audience inputs a campaign refused (invalid number, duplicate, malformed row).
CREATE TABLE campaign_rejections (
    tenant_id BLOB NOT NULL,
    campaign_id BLOB NOT NULL,
    id BLOB NOT NULL,
    line INTEGER,
    input TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, campaign_id, id)
);

-- One row per recipient status, plus 'rejected' for refused inputs, per campaign.
CREATE TABLE campaign_counters (
    tenant_id BLOB NOT NULL,
    campaign_id BLOB NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, campaign_id, status)
) WITHOUT ROWID;

INSERT INTO campaign_counters (tenant_id, campaign_id, status, n)
SELECT c.tenant_id, c.id, s.status,
       (SELECT COUNT(*) FROM campaign_recipients r
        WHERE r.campaign_id = c.id AND r.tenant_id = c.tenant_id AND r.status = s.status)
FROM campaigns c
CROSS JOIN (SELECT 'pending' AS status UNION ALL SELECT 'sent' UNION ALL SELECT 'delivered'
            UNION ALL SELECT 'read' UNION ALL SELECT 'failed' UNION ALL SELECT 'skipped'
            UNION ALL SELECT 'rejected') s;

-- The rows exist from the campaign's creation, so the recipient triggers only ever update.
CREATE TRIGGER campaigns_counters_create AFTER INSERT ON campaigns
BEGIN
    INSERT INTO campaign_counters (tenant_id, campaign_id, status, n) VALUES
        (NEW.tenant_id, NEW.id, 'pending', 0),
        (NEW.tenant_id, NEW.id, 'sent', 0),
        (NEW.tenant_id, NEW.id, 'delivered', 0),
        (NEW.tenant_id, NEW.id, 'read', 0),
        (NEW.tenant_id, NEW.id, 'failed', 0),
        (NEW.tenant_id, NEW.id, 'skipped', 0),
        (NEW.tenant_id, NEW.id, 'rejected', 0);
END;

-- Every statement that inserts, moves or deletes a recipient keeps the counters right,
-- whichever code path runs it (SQLite has row-level triggers only).
CREATE TRIGGER campaign_recipients_count_insert AFTER INSERT ON campaign_recipients
BEGIN
    UPDATE campaign_counters SET n = n + 1
    WHERE tenant_id = NEW.tenant_id AND campaign_id = NEW.campaign_id AND status = NEW.status;
END;

CREATE TRIGGER campaign_recipients_count_update
AFTER UPDATE OF status, tenant_id, campaign_id ON campaign_recipients
WHEN OLD.status IS NOT NEW.status OR OLD.campaign_id IS NOT NEW.campaign_id
    OR OLD.tenant_id IS NOT NEW.tenant_id
BEGIN
    UPDATE campaign_counters SET n = n - 1
    WHERE tenant_id = OLD.tenant_id AND campaign_id = OLD.campaign_id AND status = OLD.status;
    UPDATE campaign_counters SET n = n + 1
    WHERE tenant_id = NEW.tenant_id AND campaign_id = NEW.campaign_id AND status = NEW.status;
END;

CREATE TRIGGER campaign_recipients_count_delete AFTER DELETE ON campaign_recipients
BEGIN
    UPDATE campaign_counters SET n = n - 1
    WHERE tenant_id = OLD.tenant_id AND campaign_id = OLD.campaign_id AND status = OLD.status;
END;
