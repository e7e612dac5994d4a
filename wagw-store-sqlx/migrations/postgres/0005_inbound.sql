-- The inbound pipeline (issue 11): conversation jobs written with each inbound message, rule
-- cooldowns, and the index analytics reads message volume through.

-- One job per inbound message that bots should answer; the job runner claims the oldest
-- pending job of each contact, so one contact's messages are answered one at a time, in order.
CREATE TABLE conversation_jobs (
    tenant_id UUID NOT NULL,
    message_id UUID NOT NULL,
    channel_id UUID NOT NULL,
    contact_phone TEXT NOT NULL,
    wamid TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    run_at TIMESTAMPTZ NOT NULL,
    handled_by TEXT,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, message_id)
);
CREATE INDEX conversation_jobs_due ON conversation_jobs (run_at, message_id) WHERE state = 'pending';
CREATE INDEX conversation_jobs_contact ON conversation_jobs (tenant_id, channel_id, contact_phone, message_id)
    WHERE state = 'pending';
CREATE INDEX conversation_jobs_done ON conversation_jobs (tenant_id, created_at)
    INCLUDE (channel_id, handled_by) WHERE state = 'done';

-- Until when an auto-reply rule stays silent for a contact on a channel, and which job
-- (inbound wamid) took the cooldown: a re-run of that job may take it again.
CREATE TABLE rule_cooldowns (
    tenant_id UUID NOT NULL,
    rule_id UUID NOT NULL,
    channel_id UUID NOT NULL,
    contact_phone TEXT NOT NULL,
    until TIMESTAMPTZ NOT NULL,
    holder TEXT NOT NULL,
    PRIMARY KEY (tenant_id, rule_id, channel_id, contact_phone)
);

-- Message volume per tenant and time range, answered from the index alone.
CREATE INDEX messages_volume ON messages (tenant_id, created_at) INCLUDE (channel_id, direction, status);
