-- Sets a number's fleet-wide rate. ARGV[2] = group, ARGV[3] = messages per second (0 removes
-- the limit), ARGV[4] = burst. A number slowed down by a throttle stays slowed (below the
-- new rate) and wins rate back from there. Returns the effective rate.
local group = ARGV[2]
local rate, burst = tonumber(ARGV[3]), tonumber(ARGV[4])
if rate <= 0 then
  redis.call('DEL', limit_key(group))
  return 0
end
local v = redis.call('GET', limit_key(group))
local eff, calm, pause, tat = rate, nowf, 0, 0
if v then
  local old, _, conf
  old, _, conf, calm, pause, tat = read_limit(v)
  if old < conf and old < rate then eff = old end
end
write_limit(group, eff, burst, rate, calm, pause, tat)
return eff
