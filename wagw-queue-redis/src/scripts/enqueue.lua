-- Adds a batch of jobs. ARGV[2] = count, then 8 values per job: id, payload, group,
-- priority, run_at ms ('' = now), has dedup key ('1'/'0'), dedup key, max attempts.
-- Returns, per job, its own id when created or the id holding its dedup key.
local n = tonumber(ARGV[2])
local dedup = P .. 'dedup'
local out = {}
for i = 0, n - 1 do
  local b = 3 + i * 8
  local id, payload, group = ARGV[b], ARGV[b + 1], ARGV[b + 2]
  local priority, run_at_arg = tonumber(ARGV[b + 3]), ARGV[b + 4]
  local has_key, key, max_attempts = ARGV[b + 5] == '1', ARGV[b + 6], ARGV[b + 7]
  local existing = false
  if has_key then
    existing = redis.call('HGET', dedup, key)
    if not existing then
      redis.call('HSET', dedup, key, id)
    end
  end
  if existing then
    out[i + 1] = existing
  else
    local run_at = now
    if run_at_arg ~= '' then run_at = tonumber(run_at_arg) end
    local jk = job_key(id)
    redis.call('HSET', jk, 'p', payload, 'g', group, 'pr', priority, 'ra', int(run_at),
      'a', 0, 'ma', max_attempts, 'c', int(now))
    if has_key then
      redis.call('HSET', jk, 'dk', key)
    end
    schedule(id, group, priority, run_at)
    out[i + 1] = id
  end
end
flush_ready()
return out
