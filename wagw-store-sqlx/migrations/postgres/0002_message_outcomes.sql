-- Send outcomes: statuses that arrive before the send's answer, the quota charge, and the
-- reconciler's view of queued messages.

-- Whether the message was charged to the monthly quota (charged once, however often fed).
ALTER TABLE messages ADD COLUMN charged BOOLEAN NOT NULL DEFAULT FALSE;

-- Queued messages only: the reconciler's scan follows them, not the whole table.
CREATE INDEX messages_queued ON messages (id) WHERE status = 'queued';

-- Status webhooks for a wamid not recorded yet (Meta can answer the webhook before the
-- send). Applied and deleted when the wamid is recorded; old ones are pruned.
CREATE TABLE pending_statuses (
    tenant_id UUID NOT NULL,
    wamid TEXT NOT NULL,
    status TEXT NOT NULL,
    error_code BIGINT,
    error_reason TEXT,
    at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, wamid, status)
);
CREATE INDEX pending_statuses_at ON pending_statuses (at);
