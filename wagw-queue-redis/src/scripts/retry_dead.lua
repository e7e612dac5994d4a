-- Moves a dead letter back to the queue with fresh attempts. ARGV[2] = id, ARGV[3] = run-at
-- ms. Returns 0, or 1 when there is no such dead letter.
local id = ARGV[2]
if redis.call('ZREM', P .. 'dead', id) == 0 then return 1 end
local key = job_key(id)
local run_at = tonumber(ARGV[3])
redis.call('HSET', key, 'a', 0, 'ra', int(run_at))
local v = redis.call('HMGET', key, 'g', 'd')
schedule(id, v[1], priority_of(v[2]), run_at)
flush_ready()
return 0
