-- wagw schema for PostgreSQL.
-- Low-volume configuration entities keep the whole record in `doc` (JSONB), with the key
-- columns that constraints and lookups need. High-volume paths (messages, recipients,
-- deliveries, usage, queue jobs) are plain columns with the indexes their access paths use.

CREATE TABLE tenants (
    id UUID PRIMARY KEY,
    doc JSONB NOT NULL
);

CREATE TABLE users (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    email TEXT NOT NULL,
    doc JSONB NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

CREATE TABLE api_keys (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    doc JSONB NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE usage_counters (
    tenant_id UUID NOT NULL,
    period TEXT NOT NULL,
    resource TEXT NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, period, resource)
);

CREATE TABLE channels (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    phone_number_id TEXT NOT NULL UNIQUE,
    doc JSONB NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE contacts (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    phone TEXT NOT NULL,
    name TEXT,
    fields JSONB NOT NULL,
    tags JSONB NOT NULL,
    opted_out BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, phone)
);
CREATE INDEX contacts_tags ON contacts USING GIN (tags jsonb_path_ops);
CREATE INDEX contacts_fields ON contacts USING GIN (fields jsonb_path_ops);

CREATE TABLE contact_lists (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    name TEXT NOT NULL,
    doc JSONB NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE contact_list_members (
    tenant_id UUID NOT NULL,
    list_id UUID NOT NULL,
    contact_id UUID NOT NULL,
    PRIMARY KEY (tenant_id, list_id, contact_id)
);
CREATE INDEX contact_list_members_contact ON contact_list_members (tenant_id, contact_id);

CREATE TABLE templates (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    channel_id UUID NOT NULL,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    remote_id TEXT,
    doc JSONB NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, channel_id, name, language)
);
CREATE INDEX templates_remote ON templates (tenant_id, remote_id) WHERE remote_id IS NOT NULL;

CREATE TABLE messages (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    channel_id UUID NOT NULL,
    contact_phone TEXT NOT NULL,
    direction TEXT NOT NULL,
    body JSONB NOT NULL,
    status TEXT NOT NULL,
    prev_status TEXT,
    wamid TEXT,
    error_code BIGINT,
    error_reason TEXT,
    campaign_id UUID,
    recipient_id UUID,
    idempotency_key TEXT,
    priority BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    ambiguous BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX messages_idempotency ON messages (tenant_id, idempotency_key);
CREATE INDEX messages_wamid ON messages (tenant_id, wamid) WHERE wamid IS NOT NULL;
CREATE INDEX messages_inbound ON messages (tenant_id, channel_id, contact_phone, created_at)
    WHERE direction = 'inbound';
CREATE INDEX messages_campaign ON messages (tenant_id, campaign_id, id) WHERE campaign_id IS NOT NULL;

CREATE TABLE campaigns (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    state TEXT NOT NULL,
    version BIGINT NOT NULL,
    doc JSONB NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE campaign_recipients (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    campaign_id UUID NOT NULL,
    phone TEXT NOT NULL,
    contact_id UUID,
    variables JSONB NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    message_id UUID,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX campaign_recipients_phone ON campaign_recipients (campaign_id, phone);
-- A campaign belongs to one tenant, so the campaign leads and the tenant is checked per row.
CREATE INDEX campaign_recipients_page ON campaign_recipients (campaign_id, id);
CREATE INDEX campaign_recipients_status ON campaign_recipients (campaign_id, status, id);

CREATE TABLE flows (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    doc JSONB NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE sessions (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    channel_id UUID NOT NULL,
    user_phone TEXT NOT NULL,
    version BIGINT NOT NULL,
    doc JSONB NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, channel_id, user_phone)
);

CREATE TABLE auto_reply_rules (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    priority BIGINT NOT NULL,
    doc JSONB NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE schedules (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    active BOOLEAN NOT NULL,
    next_run_at TIMESTAMPTZ,
    version BIGINT NOT NULL,
    doc JSONB NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX schedules_due ON schedules (next_run_at, id) WHERE active AND next_run_at IS NOT NULL;

CREATE TABLE webhook_subscriptions (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    doc JSONB NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE webhook_deliveries (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    subscription_id UUID NOT NULL,
    event TEXT NOT NULL,
    payload JSONB NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_status BIGINT,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    delivered_at TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (tenant_id, subscription_id, id);

CREATE TABLE activity (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    doc JSONB NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- The queue. `state` is waiting (ready or delayed by run_at), reserved or dead.
CREATE TABLE queue_jobs (
    id UUID PRIMARY KEY,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    grp TEXT NOT NULL,
    priority BIGINT NOT NULL,
    run_at TIMESTAMPTZ NOT NULL,
    payload BYTEA NOT NULL,
    dedup_key TEXT UNIQUE,
    attempts BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    state TEXT NOT NULL,
    token UUID,
    reserved_until TIMESTAMPTZ
);
CREATE INDEX queue_jobs_ready ON queue_jobs (grp, priority DESC, run_at, seq) WHERE state = 'waiting';
CREATE INDEX queue_jobs_reserved ON queue_jobs (reserved_until) WHERE state = 'reserved';
CREATE INDEX queue_jobs_dead ON queue_jobs (id) WHERE state = 'dead';

-- Fairness: groups are served least recently served first.
CREATE TABLE queue_groups (
    grp TEXT PRIMARY KEY,
    last_served BIGINT NOT NULL
);
CREATE SEQUENCE queue_tick;
