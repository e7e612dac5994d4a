-- Conversations leftovers (issue 11): the log of every webhook delivery attempt, the index that
-- lets ended rule cooldowns be pruned without a scan, and flow-engagement steps for analytics.

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

-- One row per step of a user's way through a flow (started, completed, dropped_off at a node,
-- handed_off), written with the session save that takes it. Analytics counts a tenant's steps
-- in a time range from the index alone.
CREATE TABLE flow_engagement (
    tenant_id BLOB NOT NULL,
    flow_id BLOB NOT NULL,
    kind TEXT NOT NULL,
    node TEXT,
    at INTEGER NOT NULL
);
CREATE INDEX flow_engagement_range ON flow_engagement (tenant_id, at, flow_id, kind, node);
