-- Flow sessions come due (node timeout, expiry, end of a hand-off) at `due_at`; the sweeper
-- reads the partial index only.
ALTER TABLE sessions ADD COLUMN due_at TIMESTAMPTZ;
-- Sessions saved before this migration: an active one expires at its stored `expires_at`.
UPDATE sessions
SET due_at = (doc->>'expires_at')::timestamptz
WHERE doc->>'state' = 'active' AND doc->>'expires_at' IS NOT NULL;
CREATE INDEX sessions_due ON sessions (due_at, id) WHERE due_at IS NOT NULL;
