-- Flow sessions come due (node timeout, expiry, end of a hand-off) at `due_at`, in unix
-- microseconds like every SQLite timestamp here; the sweeper reads the partial index only.
ALTER TABLE sessions ADD COLUMN due_at INTEGER;
-- Sessions saved before this migration: an active one expires at its stored `expires_at`.
UPDATE sessions
SET due_at = CAST((julianday(json_extract(doc, '$.expires_at')) - 2440587.5) * 86400000000 AS INTEGER)
WHERE json_extract(doc, '$.state') = 'active' AND json_extract(doc, '$.expires_at') IS NOT NULL;
CREATE INDEX sessions_due ON sessions (due_at, id) WHERE due_at IS NOT NULL;
