-- Completes a batch of jobs. ARGV[2] = count, then (id, token) pairs. A live lease deletes
-- its job and frees its dedup key if the key still points to it; a stale one is reported,
-- never raised, so the batch is never left half done. Returns, for each stale lease, its
-- 1-based position and its status (see check_lease).
--
-- One read per live lease (token and dedup key); the dedup entries are checked with one
-- HMGET and the deletions made with one DEL, one HDEL and one ZREM for the whole batch.
local n = tonumber(ARGV[2])
local dedup = P .. 'dedup'
local stale = {}
local done_ids = {}
local done_keys = {}
local key_ids = {}
local key_jobs = {}
local settled = {}
for i = 1, n do
  local id, token = ARGV[1 + 2 * i], ARGV[2 + 2 * i]
  local key = job_key(id)
  local v = redis.call('HMGET', key, 't', 'dk')
  local status = 0
  if settled[id] then
    -- Settled earlier in this batch: gone, as it would be one call later.
    status = 1
  elseif v[1] ~= token then
    status = 2
    if not v[1] and redis.call('EXISTS', key) == 0 then status = 1 end
  end
  if status == 0 then
    settled[id] = true
    done_ids[#done_ids + 1] = id
    done_keys[#done_keys + 1] = key
    if v[2] then
      key_ids[#key_ids + 1] = v[2]
      key_jobs[#key_jobs + 1] = id
    end
  else
    stale[#stale + 1] = i
    stale[#stale + 1] = status
  end
end
if #key_ids > 0 then
  -- Free a dedup key only while it still points to this job.
  local holders = hmget_all(dedup, key_ids)
  local free = {}
  for j, dk in ipairs(key_ids) do
    if holders[j] == key_jobs[j] then free[#free + 1] = dk end
  end
  if #free > 0 then sliced('HDEL', dedup, free, 1000) end
end
if #done_ids > 0 then
  for i = 1, #done_keys, 1000 do
    redis.call('DEL', unpack(done_keys, i, math.min(i + 999, #done_keys)))
  end
  sliced('ZREM', P .. 'leases', done_ids, 1000)
end
return stale
