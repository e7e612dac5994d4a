-- Gives a job back unprocessed: ready now, the attempt not counted. ARGV[2] = id,
-- ARGV[3] = token. Returns the lease status (see check_lease).
local id, token = ARGV[2], ARGV[3]
local status = check_lease(id, token)
if status ~= 0 then return status end
local key = job_key(id)
redis.call('ZREM', P .. 'leases', id)
redis.call('HDEL', key, 't')
local v = redis.call('HMGET', key, 'a', 'g', 'd', 'ra')
local attempts = tonumber(v[1] or 0) - 1
if attempts < 0 then attempts = 0 end
local run_at = tonumber(v[4])
if run_at > now then run_at = now end
redis.call('HSET', key, 'a', attempts, 'ra', int(run_at))
make_ready(id, v[2], priority_of(v[3]), run_at)
flush_ready()
return 0
