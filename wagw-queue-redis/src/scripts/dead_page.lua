-- A page of dead letters in id order. ARGV[2] = the id to start after ('' = the first),
-- ARGV[3] = how many. Returns 10 values per job: id, payload, group, priority, run_at,
-- dedup key, attempts, max attempts, last error, created_at.
local from = '-'
if ARGV[2] ~= '' then from = '(' .. ARGV[2] end
local ids = redis.call('ZRANGE', P .. 'dead', from, '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local f = redis.call('HMGET', job_key(id), 'p', 'g', 'pr', 'ra', 'dk', 'a', 'ma', 'e', 'c')
  out[#out + 1] = id
  for k = 1, 9 do out[#out + 1] = f[k] end
end
return out
