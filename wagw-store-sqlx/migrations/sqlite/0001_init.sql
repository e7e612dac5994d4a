-- wagw schema for SQLite. BLOBs are 16-byte BLOBs, timestamps integer microseconds since
-- the Unix epoch, JSON is TEXT, booleans are 0/1.
-- Low-volume configuration entities keep the whole record in `doc` (TEXT), with the key
-- columns that constraints and lookups need. High-volume paths (messages, recipients,
-- deliveries, usage, queue jobs) are plain columns with the indexes their access paths use.

CREATE TABLE tenants (
    id BLOB PRIMARY KEY,
    doc TEXT NOT NULL
);

CREATE TABLE users (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    email TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

CREATE TABLE api_keys (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE usage_counters (
    tenant_id BLOB NOT NULL,
    period TEXT NOT NULL,
    resource TEXT NOT NULL,
    amount INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, period, resource)
);

CREATE TABLE channels (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    phone_number_id TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE contacts (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    phone TEXT NOT NULL,
    name TEXT,
    fields TEXT NOT NULL,
    tags TEXT NOT NULL,
    opted_out INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, phone)
);

CREATE TABLE contact_lists (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE contact_list_members (
    tenant_id BLOB NOT NULL,
    list_id BLOB NOT NULL,
    contact_id BLOB NOT NULL,
    PRIMARY KEY (tenant_id, list_id, contact_id)
);
CREATE INDEX contact_list_members_contact ON contact_list_members (tenant_id, contact_id);

CREATE TABLE templates (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    channel_id BLOB NOT NULL,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    remote_id TEXT,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, channel_id, name, language)
);
CREATE INDEX templates_remote ON templates (tenant_id, remote_id) WHERE remote_id IS NOT NULL;

CREATE TABLE messages (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    channel_id BLOB NOT NULL,
    contact_phone TEXT NOT NULL,
    direction TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    prev_status TEXT,
    wamid TEXT,
    error_code INTEGER,
    error_reason TEXT,
    campaign_id BLOB,
    recipient_id BLOB,
    idempotency_key TEXT,
    priority INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    ambiguous INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX messages_idempotency ON messages (tenant_id, idempotency_key);
CREATE INDEX messages_wamid ON messages (tenant_id, wamid) WHERE wamid IS NOT NULL;
CREATE INDEX messages_inbound ON messages (tenant_id, channel_id, contact_phone, created_at)
    WHERE direction = 'inbound';
CREATE INDEX messages_campaign ON messages (tenant_id, campaign_id, id) WHERE campaign_id IS NOT NULL;

CREATE TABLE campaigns (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    state TEXT NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE campaign_recipients (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    campaign_id BLOB NOT NULL,
    phone TEXT NOT NULL,
    contact_id BLOB,
    variables TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    message_id BLOB,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX campaign_recipients_phone ON campaign_recipients (campaign_id, phone);
-- A campaign belongs to one tenant, so the campaign leads and the tenant is checked per row.
CREATE INDEX campaign_recipients_page ON campaign_recipients (campaign_id, id);
CREATE INDEX campaign_recipients_status ON campaign_recipients (campaign_id, status, id);

CREATE TABLE flows (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE sessions (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    channel_id BLOB NOT NULL,
    user_phone TEXT NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, channel_id, user_phone)
);

CREATE TABLE auto_reply_rules (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    priority INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE schedules (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    active INTEGER NOT NULL,
    next_run_at INTEGER,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX schedules_due ON schedules (next_run_at, id) WHERE active = 1 AND next_run_at IS NOT NULL;

CREATE TABLE webhook_subscriptions (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE webhook_deliveries (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    subscription_id BLOB NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (tenant_id, subscription_id, id);

CREATE TABLE activity (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- The queue. `state` is waiting (ready or delayed by run_at), reserved or dead.
CREATE TABLE queue_jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id BLOB NOT NULL UNIQUE,
    grp TEXT NOT NULL,
    priority INTEGER NOT NULL,
    run_at INTEGER NOT NULL,
    payload BLOB NOT NULL,
    dedup_key TEXT UNIQUE,
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    token BLOB,
    reserved_until INTEGER
);
CREATE INDEX queue_jobs_ready ON queue_jobs (grp, priority DESC, run_at, seq) WHERE state = 'waiting';
CREATE INDEX queue_jobs_reserved ON queue_jobs (reserved_until) WHERE state = 'reserved';
CREATE INDEX queue_jobs_dead ON queue_jobs (id) WHERE state = 'dead';

-- Fairness: groups are served least recently served first.
CREATE TABLE queue_groups (
    grp TEXT PRIMARY KEY,
    last_served INTEGER NOT NULL
);
