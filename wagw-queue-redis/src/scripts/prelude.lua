-- The head of every script but init.lua (the Rust side puts it in front of each).
--
-- KEYS[1] is the queue's meta key "<prefix>meta"; every other key is "<prefix>...", built
-- here, so a whole queue lives in the hash slot of its "{wagw:<name>}" tag. ARGV[1] is the
-- epoch the caller connected to: a missing or different epoch means the queue's data was
-- lost (Redis restarted without persistence) or reset, and the caller must learn of it
-- before anything else happens.
--
-- Times are milliseconds since the Unix epoch from Redis TIME, never from a client clock.
-- Numbers go to redis.call through string.format: tostring keeps only 14 digits.
local P = string.sub(KEYS[1], 1, -5)
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then
  return redis.error_reply('WAGW_LOST the queue data was lost or reset')
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local nowf = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
-- Ready score: (255 - priority) * 2^44 + run_at, below 2^53 so a double holds it exactly.
local SHIFT = 17592186044416
-- A number's rate wins back a tenth of its configured value per calm period.
local CALM_MS = 10000

local function int(x) return string.format('%.0f', x) end
local function milli(x) return string.format('%.3f', x) end
local function job_key(id) return P .. 'j:' .. id end
local function ready_key(group) return P .. 'r:' .. group end
local function limit_key(group) return P .. 'l:' .. group end

local ready_delta = 0
local function flush_ready()
  if ready_delta ~= 0 then
    redis.call('HINCRBY', P .. 'counts', 'ready', ready_delta)
    ready_delta = 0
  end
end

-- Files a due job in its group; the group joins the round-robin if it had nothing ready.
local function make_ready(id, group, priority, run_at)
  redis.call('ZADD', ready_key(group), int((255 - priority) * SHIFT + run_at), id)
  redis.call('ZADD', P .. 'groups', 'NX', int(now), group)
  ready_delta = ready_delta + 1
end

-- Files a job as ready or delayed by its run-at.
local function schedule(id, group, priority, run_at)
  if run_at > now then
    redis.call('ZADD', P .. 'delayed', int(run_at), id)
  else
    make_ready(id, group, priority, run_at)
  end
end

-- 0 = the lease is live, 1 = no such job, 2 = the lease is stale (expired, taken over or
-- settled).
local function check_lease(id, token)
  local key = job_key(id)
  local held = redis.call('HGET', key, 't')
  if not held then
    if redis.call('EXISTS', key) == 0 then return 1 end
    return 2
  end
  if held ~= token then return 2 end
  return 0
end

-- Expired reservations back to ready, their attempt counted and their token cleared so the
-- late holder cannot settle them. Never to the dead letters: only nack does that. One range
-- query on the lease index, bounded per call.
local function recover(limit)
  local leases = P .. 'leases'
  local ids = redis.call('ZRANGEBYSCORE', leases, '-inf', int(now), 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    local key = job_key(id)
    redis.call('HDEL', key, 't')
    local v = redis.call('HMGET', key, 'g', 'pr', 'ra')
    if v[1] then
      make_ready(id, v[1], tonumber(v[2]), tonumber(v[3]))
    end
    redis.call('ZREM', leases, id)
  end
  return #ids
end

-- Delayed jobs that are due, to ready; bounded per call.
local function promote(limit)
  local delayed = P .. 'delayed'
  local ids = redis.call('ZRANGEBYSCORE', delayed, '-inf', int(now), 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    local v = redis.call('HMGET', job_key(id), 'g', 'pr', 'ra')
    if v[1] then
      make_ready(id, v[1], tonumber(v[2]), tonumber(v[3]))
    end
    redis.call('ZREM', delayed, id)
  end
  return #ids
end
