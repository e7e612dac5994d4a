-- Creates the queue's meta record unless it exists. KEYS[1] = meta key, ARGV[1] = a fresh
-- epoch, ARGV[2] = schema version. Returns {epoch in force, 1 if it was created here}.
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch then
  return {epoch, 0}
end
local clock = redis.call('TIME')
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'version', ARGV[2], 'born', clock[1])
return {ARGV[1], 1}
