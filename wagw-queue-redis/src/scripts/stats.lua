-- Counts jobs by state: {ready, delayed, reserved, dead}. Delayed jobs already due count as
-- ready (reserve promotes them on its way).
local ready = tonumber(redis.call('HGET', P .. 'counts', 'ready') or '0')
local due = redis.call('ZCOUNT', P .. 'delayed', '-inf', int(now))
local later = redis.call('ZCOUNT', P .. 'delayed', '(' .. int(now), '+inf')
return {ready + due, later, redis.call('ZCARD', P .. 'leases'), redis.call('ZCARD', P .. 'dead')}
