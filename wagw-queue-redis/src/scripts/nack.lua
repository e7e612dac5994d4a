-- Fails an attempt. ARGV[2] = id, ARGV[3] = token, ARGV[4] = retry-at ms, ARGV[5] = error.
-- Returns {lease status (see check_lease), 1 if the job became a dead letter}.
local id, token = ARGV[2], ARGV[3]
local status = check_lease(id, token)
if status ~= 0 then return {status, 0} end
local key = job_key(id)
redis.call('ZREM', P .. 'leases', id)
redis.call('HDEL', key, 't')
redis.call('HSET', key, 'e', ARGV[5])
local v = redis.call('HMGET', key, 'a', 'd', 'g')
if tonumber(v[1] or 0) >= max_attempts_of(v[2]) then
  redis.call('ZADD', P .. 'dead', 0, id)
  return {0, 1}
end
local run_at = tonumber(ARGV[4])
redis.call('HSET', key, 'ra', int(run_at))
schedule(id, v[3], priority_of(v[2]), run_at)
flush_ready()
return {0, 0}
