-- The far side said a number sends too fast (130429): for every process at once, cut its rate
-- by a quarter and pause it. ARGV[2] = group, ARGV[3] = pause ms. After the pause it starts
-- without a burst. Returns the new effective rate (0 when the number has no fleet limit).
local group = ARGV[2]
local v = redis.call('GET', limit_key(group))
if not v then return 0 end
local eff, burst, conf, _, _, tat = read_limit(v)
eff = math.max(1, math.floor(eff * 3 / 4))
local pause = nowf + tonumber(ARGV[3])
local tau = (burst - 1) * 1000 / eff
tat = math.max(tat, pause + tau)
write_limit(group, eff, burst, conf, pause, pause, tat)
redis.call('ZADD', P .. 'groups', 'XX', ceil_ms(pause), group)
return eff
