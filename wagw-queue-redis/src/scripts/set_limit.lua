-- Sets a number's fleet-wide rate. ARGV[2] = group, ARGV[3] = messages per second (0 removes
-- the limit), ARGV[4] = burst. A number slowed down by a throttle stays slowed (below the
-- new rate) and wins rate back from there. Returns the effective rate.
local key = limit_key(ARGV[2])
local rate, burst = tonumber(ARGV[3]), tonumber(ARGV[4])
if rate <= 0 then
  redis.call('DEL', key)
  return 0
end
local v = redis.call('HMGET', key, 'conf', 'eff')
local eff = rate
if v[1] then
  local conf, old = tonumber(v[1]), tonumber(v[2])
  if old < conf and old < rate then eff = old end
else
  redis.call('HSET', key, 'calm', milli(nowf))
end
redis.call('HSET', key, 'conf', rate, 'eff', eff, 'burst', burst)
return eff
