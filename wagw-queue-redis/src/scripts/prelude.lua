-- The head of every script but init.lua (the Rust side puts it in front of each).
--
-- KEYS[1] is the queue's meta key "<prefix>meta"; every other key is "<prefix>...", built
-- here, so a whole queue lives in the hash slot of its "{wagw:<name>}" tag. ARGV[1] is the
-- epoch the caller connected to: a missing or different epoch means the queue's data was
-- lost (Redis restarted without persistence) or reset, and the caller must learn of it
-- before anything else happens.
--
-- Times are milliseconds since the Unix epoch from Redis TIME, never from a client clock.
-- Fractional numbers go to redis.call through string.format (tostring keeps only 14 digits);
-- whole numbers below 2^53 go as they are, which redis.call writes in full.
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

-- A job's hash: 'd' (what never changes: created_at, then what the client packed), 'g'
-- (group), 'ra' (run-at ms), 'a' (attempts, absent = 0), 't' (lease token), 'e' (last
-- error), 'dk' (dedup key). 'd' is created_at as a big-endian double of ms, then priority
-- (1 byte), max attempts (4 bytes), then the dedup key and payload, which only the client
-- reads. Few fields keep each job's HSET and HMGET short.
local function priority_of(d) return string.byte(d, 9) end
local function max_attempts_of(d) return (struct.unpack('>I4', d, 10)) end
local function ready_key(group) return P .. 'r:' .. group end

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
-- settled). One read: every job has a group, so a missing group means a missing job.
local function check_lease(id, token)
  local v = redis.call('HMGET', job_key(id), 't', 'g')
  if not v[2] then return 1 end
  if v[1] ~= token then return 2 end
  return 0
end

-- Runs `cmd key <args>` over a long flat argument list in slices of `step` (a multiple of
-- the values per item): Lua's unpack is bounded by its C stack (about 8,000 values).
local function sliced(cmd, key, args, step)
  for i = 1, #args, step do
    redis.call(cmd, key, unpack(args, i, math.min(i + step - 1, #args)))
  end
end

-- HMGET over a long list of fields, in slices; the replies in the same order.
local function hmget_all(key, fields)
  local out = {}
  for i = 1, #fields, 1000 do
    local part = redis.call('HMGET', key, unpack(fields, i, math.min(i + 999, #fields)))
    for j = 1, #part do out[#out + 1] = part[j] end
  end
  return out
end

-- A number's fleet-wide limit: "l:<group>" holds its effective rate, burst, configured
-- rate, when it last won rate back, paused until, and its GCRA TAT, packed as big-endian
-- doubles (exact for milliseconds, cheap to read in Lua), so a reservation reads a whole page
-- of groups with one MGET and writes every charge it made with one MSET, each key found in
-- O(1).
local function limit_key(group) return P .. 'l:' .. group end
local function pack_limit(eff, burst, conf, calm, pause, tat)
  return struct.pack('>dddddd', eff, burst, conf, calm, pause, tat)
end
local function write_limit(group, eff, burst, conf, calm, pause, tat)
  redis.call('SET', limit_key(group), pack_limit(eff, burst, conf, calm, pause, tat))
end
-- eff, burst, conf, calm, pause, tat
local function read_limit(v) return struct.unpack('>dddddd', v) end
-- The groups index holds whole milliseconds: a group becomes eligible at the first whole
-- millisecond at or after the time it has capacity again. (A listpack-encoded sorted set
-- stores other scores as text and parses them on every insert.) A whole number below 2^53
-- goes to redis.call in full, with no string.format.
local function ceil_ms(x) return math.ceil(x) end

-- Expired reservations back to ready, their attempt counted and their token cleared so the
-- late holder cannot settle them. Never to the dead letters: only nack does that. One range
-- query on the lease index, bounded per call.
local function recover(limit)
  local leases = P .. 'leases'
  local ids = redis.call('ZRANGEBYSCORE', leases, '-inf', int(now), 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    local key = job_key(id)
    redis.call('HDEL', key, 't')
    local v = redis.call('HMGET', key, 'g', 'd', 'ra')
    if v[1] then
      make_ready(id, v[1], priority_of(v[2]), tonumber(v[3]))
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
    local v = redis.call('HMGET', job_key(id), 'g', 'd', 'ra')
    if v[1] then
      make_ready(id, v[1], priority_of(v[2]), tonumber(v[3]))
    end
    redis.call('ZREM', delayed, id)
  end
  return #ids
end
