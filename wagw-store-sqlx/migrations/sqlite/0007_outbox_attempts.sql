-- Conversations leftovers (issue 11): the log of every webhook delivery attempt, and the index
-- that lets ended rule cooldowns be pruned without a scan.

-- One row per delivery attempt, numbered from 1 per delivery (replays count on).
CREATE TABLE webhook_delivery_attempts (
    tenant_id BLOB NOT NULL,
    delivery_id BLOB NOT NULL,
    number INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    status INTEGER,
    error TEXT,
    PRIMARY KEY (tenant_id, delivery_id, number)
);

-- `prune_cooldowns` deletes by end time.
CREATE INDEX rule_cooldowns_until ON rule_cooldowns (until);
