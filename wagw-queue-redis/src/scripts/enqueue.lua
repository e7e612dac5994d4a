-- Adds a batch of jobs. ARGV[2] = count, then 6 values per job: id, packed data (the job's
-- 'd' without its created_at, see the prelude), group, run_at ms ('' = now), has dedup key
-- ('1'/'0'), dedup key. Returns, per job, its own id when created or the id holding its
-- dedup key.
--
-- One write per job (its hash); the dedup keys of the batch are read with one HMGET and
-- written with one HSET, and each group's ready jobs are filed with one ZADD.
local n = tonumber(ARGV[2])
local dedup = P .. 'dedup'

local wanted = {}
local created = struct.pack('>d', now)
for i = 0, n - 1 do
  local b = 3 + i * 6
  if ARGV[b + 4] == '1' then wanted[#wanted + 1] = ARGV[b + 5] end
end
-- Dedup key -> the id holding it, for the keys of this batch; filled as jobs are created so
-- a key repeated in the batch finds its first job.
local held = {}
if #wanted > 0 then
  local found = hmget_all(dedup, wanted)
  for j, key in ipairs(wanted) do
    if found[j] then held[key] = found[j] end
  end
end

local taken_keys = {}
local delayed = {}
local ready = {}
local ready_groups = {}
local out = {}
for i = 0, n - 1 do
  local b = 3 + i * 6
  local id, packed, group, run_at_arg = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local has_key, key = ARGV[b + 4] == '1', ARGV[b + 5]
  local existing = has_key and held[key]
  if existing then
    out[i + 1] = existing
  else
    local run_at = now
    if run_at_arg ~= '' then run_at = tonumber(run_at_arg) end
    if has_key then
      held[key] = id
      taken_keys[#taken_keys + 1] = key
      taken_keys[#taken_keys + 1] = id
      redis.call('HSET', job_key(id), 'd', created .. packed, 'g', group, 'ra', run_at,
        'dk', key)
    else
      redis.call('HSET', job_key(id), 'd', created .. packed, 'g', group, 'ra', run_at)
    end
    if run_at > now then
      delayed[#delayed + 1] = run_at
      delayed[#delayed + 1] = id
    else
      local list = ready[group]
      if not list then
        list = {}
        ready[group] = list
        ready_groups[#ready_groups + 1] = group
      end
      list[#list + 1] = (255 - string.byte(packed, 1)) * SHIFT + run_at
      list[#list + 1] = id
      ready_delta = ready_delta + 1
    end
    out[i + 1] = id
  end
end

if #taken_keys > 0 then sliced('HSET', dedup, taken_keys, 1000) end
if #delayed > 0 then sliced('ZADD', P .. 'delayed', delayed, 1000) end
if #ready_groups > 0 then
  local joining = {}
  for _, group in ipairs(ready_groups) do
    sliced('ZADD', ready_key(group), ready[group], 1000)
    joining[#joining + 1] = now
    joining[#joining + 1] = group
  end
  -- NX: a group already waiting keeps its place in the round-robin.
  for i = 1, #joining, 1000 do
    redis.call('ZADD', P .. 'groups', 'NX', unpack(joining, i, math.min(i + 999, #joining)))
  end
end
flush_ready()
return out
