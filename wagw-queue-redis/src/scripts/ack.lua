-- Completes a batch of jobs. ARGV[2] = count, then (id, token) pairs. A live lease deletes
-- its job and frees its dedup key if the key still points to it; a stale one is reported,
-- never raised, so the batch is never left half done. Returns, for each stale lease, its
-- 1-based position and its status (see check_lease).
local n = tonumber(ARGV[2])
local dedup = P .. 'dedup'
local stale = {}
local done = {}
for i = 1, n do
  local id, token = ARGV[1 + 2 * i], ARGV[2 + 2 * i]
  local status = check_lease(id, token)
  if status == 0 then
    local key = job_key(id)
    local dk = redis.call('HGET', key, 'dk')
    if dk and redis.call('HGET', dedup, dk) == id then
      redis.call('HDEL', dedup, dk)
    end
    redis.call('DEL', key)
    done[#done + 1] = id
    if #done >= 1000 then
      redis.call('ZREM', P .. 'leases', unpack(done))
      done = {}
    end
  else
    stale[#stale + 1] = i
    stale[#stale + 1] = status
  end
end
if #done > 0 then
  redis.call('ZREM', P .. 'leases', unpack(done))
end
return stale
