-- The far side said a number sends too fast (130429): for every process at once, cut its rate
-- by a quarter and pause it. ARGV[2] = group, ARGV[3] = pause ms. After the pause it starts
-- without a burst. Returns the new effective rate (0 when the number has no fleet limit).
local group = ARGV[2]
local key = limit_key(group)
local v = redis.call('HMGET', key, 'eff', 'burst', 'tat')
if not v[1] then return 0 end
local eff = math.max(1, math.floor(tonumber(v[1]) * 3 / 4))
local pause = nowf + tonumber(ARGV[3])
local tau = (tonumber(v[2]) - 1) * 1000 / eff
local tat = math.max(tonumber(v[3] or 0), pause + tau)
redis.call('HSET', key, 'eff', eff, 'pause', milli(pause), 'tat', milli(tat), 'calm', milli(pause))
redis.call('ZADD', P .. 'groups', 'XX', milli(pause), group)
return eff
