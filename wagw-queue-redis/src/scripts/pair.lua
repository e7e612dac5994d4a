-- Takes one message of a (number, recipient) pair if its fleet-wide bucket allows it (GCRA).
-- ARGV[2] = group, ARGV[3] = recipient (empty: the number's own send slots), ARGV[4] = ms to
-- earn one message (fractional), ARGV[5] = burst.
-- The state expires when the bucket is full again. Returns 0, or the ms to wait.
local key = P .. 'p:' .. ARGV[2] .. ':' .. ARGV[3]
local period, burst = tonumber(ARGV[4]), tonumber(ARGV[5])
local tau = (burst - 1) * period
local tat = tonumber(redis.call('GET', key) or '0')
if tat < nowf then tat = nowf end
if tat - tau > nowf then
  return math.ceil(tat - tau - nowf)
end
tat = tat + period
redis.call('SET', key, milli(tat), 'PX', math.max(1, math.ceil(tat - nowf)))
return 0
