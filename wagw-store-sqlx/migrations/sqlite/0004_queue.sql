-- The queue's reservation cost follows the ready jobs, not what waits (issue 8).
--
-- `state` gains `delayed`: a waiting job not due yet. `waiting` now means ready, so the ready
-- index holds only jobs a reservation can take, and due delayed jobs are promoted by a range
-- scan of `queue_jobs_delayed`.
UPDATE queue_jobs SET state = 'delayed'
WHERE state = 'waiting'
  AND run_at > CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER);
CREATE INDEX queue_jobs_delayed ON queue_jobs (run_at) WHERE state = 'delayed';

-- `queue_groups` holds the groups with ready jobs only: a group leaves when a reservation
-- finds it empty and comes back (at the end of the line) when a job becomes ready in it.
DELETE FROM queue_groups
WHERE NOT EXISTS (
    SELECT 1 FROM queue_jobs j WHERE j.grp = queue_groups.grp AND j.state = 'waiting'
);
CREATE INDEX queue_groups_served ON queue_groups (last_served, grp);
