-- A page of dead letters in id order. ARGV[2] = the id to start after ('' = the first),
-- ARGV[3] = how many. Returns 6 values per job: id, packed data, group, run_at, attempts,
-- last error.
local from = '-'
if ARGV[2] ~= '' then from = '(' .. ARGV[2] end
local ids = redis.call('ZRANGE', P .. 'dead', from, '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local f = redis.call('HMGET', job_key(id), 'd', 'g', 'ra', 'a', 'e')
  out[#out + 1] = id
  out[#out + 1] = f[1]
  out[#out + 1] = f[2]
  out[#out + 1] = f[3]
  out[#out + 1] = tonumber(f[4] or 0)
  out[#out + 1] = f[5]
end
return out
