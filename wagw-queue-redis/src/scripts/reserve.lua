-- Reserves up to ARGV[2] due jobs round-robin across groups, in one call.
-- ARGV[3] = visibility ms, ARGV[4] = per-group cap (0 = none), ARGV[5] = 12 random bytes
-- that start every lease token of this call, ARGV[6] = count of allowed groups (-1 = all)
-- then the groups, then the count of excluded groups and the groups.
--
-- Groups sit in P.."groups" scored by when they are next eligible: only groups with ready
-- jobs are there, so an idle number costs nothing. Longest-waiting groups go first; each
-- group's allowance is min(ready, cap, rate capacity); one job per group per round until the
-- batch is full (so at most max groups are looked at), then each group's share is popped at
-- once. A number with a fleet-wide rate
-- (P.."l:"..group) is charged here (GCRA), so a reservation only hands out jobs whose number
-- has capacity; a number without capacity leaves the index until it has.
--
-- Returns {now, expires_at, count, then 11 values per job: id, token, payload, group,
-- priority, run_at, dedup key, attempts, max attempts, last error, created_at}, jobs
-- interleaved by their rank in their group.
local max = tonumber(ARGV[2])
local visibility = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local token_base = ARGV[5]
local idx = 6
local only = nil
local n_only = tonumber(ARGV[idx]); idx = idx + 1
if n_only >= 0 then
  only = {}
  for _ = 1, n_only do only[#only + 1] = ARGV[idx]; idx = idx + 1 end
end
local excluded = {}
local n_excluded = tonumber(ARGV[idx]); idx = idx + 1
for _ = 1, n_excluded do excluded[ARGV[idx]] = true; idx = idx + 1 end

recover(500)
promote(1000)

local groups = P .. 'groups'

-- A number's fleet-wide limit, or nil. Wins back rate after a calm period on the way.
local function limit_state(group)
  local key = limit_key(group)
  local v = redis.call('HMGET', key, 'eff', 'burst', 'tat', 'pause', 'conf', 'calm')
  if not v[1] then return nil end
  local s = {
    key = key, eff = tonumber(v[1]), burst = tonumber(v[2]), tat = tonumber(v[3] or 0),
    pause = tonumber(v[4] or 0), conf = tonumber(v[5]), calm = tonumber(v[6] or 0),
  }
  if s.eff < s.conf and nowf - s.calm >= CALM_MS then
    s.eff = math.min(s.conf, s.eff + math.max(1, math.floor(s.conf / 10)))
    s.calm = nowf
    redis.call('HSET', key, 'eff', s.eff, 'calm', milli(s.calm))
  end
  s.period = 1000 / s.eff
  s.tau = (s.burst - 1) * s.period
  if s.tat < nowf then s.tat = nowf end
  return s
end

-- Jobs the number may take now, and when it is next eligible.
local function capacity(s)
  if s.pause > nowf then return 0, s.pause end
  local c = math.floor((nowf + s.tau - s.tat) / s.period) + 1
  if c < 0 then c = 0 end
  return c, s.tat - s.tau
end

local candidates = {}
local later = {}
local empty = {}

local function consider(group)
  local n = redis.call('ZCARD', ready_key(group))
  if n == 0 then
    empty[#empty + 1] = group
    return
  end
  if cap > 0 and n > cap then n = cap end
  local lim = limit_state(group)
  if lim then
    local c, next_at = capacity(lim)
    if c <= 0 then
      later[#later + 1] = {group, next_at}
      return
    end
    if n > c then n = c end
  end
  candidates[#candidates + 1] = {group = group, allow = n, lim = lim, share = 0}
end

if only then
  for _, group in ipairs(only) do
    if #candidates >= max then break end
    if not excluded[group] then
      local s = redis.call('ZSCORE', groups, group)
      if s and tonumber(s) <= now then consider(group) end
    end
  end
else
  local offset = 0
  local PAGE = 128
  while #candidates < max do
    local page = redis.call('ZRANGEBYSCORE', groups, '-inf', int(now), 'LIMIT', offset, PAGE)
    for _, group in ipairs(page) do
      if not excluded[group] then
        consider(group)
        if #candidates >= max then break end
      end
    end
    if #page < PAGE then break end
    offset = offset + PAGE
  end
end

-- Shares: one job per group per round until the batch is full.
local left = max
local moved = true
while left > 0 and moved do
  moved = false
  for _, c in ipairs(candidates) do
    if left == 0 then break end
    if c.share < c.allow then
      c.share = c.share + 1
      left = left - 1
      moved = true
    end
  end
end

local expires = now + visibility
local per_group = {}
local longest = 0
local taken = 0
local lease_args = {}
local leases = P .. 'leases'
local function flush_leases()
  if #lease_args > 0 then
    redis.call('ZADD', leases, unpack(lease_args))
    lease_args = {}
  end
end
for i, c in ipairs(candidates) do
  local list = {}
  if c.share > 0 then
    local popped = redis.call('ZPOPMIN', ready_key(c.group), c.share)
    for j = 1, #popped, 2 do
      local id = popped[j]
      taken = taken + 1
      local token = token_base .. struct.pack('>I4', taken)
      local key = job_key(id)
      local attempts = redis.call('HINCRBY', key, 'a', 1)
      redis.call('HSET', key, 't', token)
      local f = redis.call('HMGET', key, 'p', 'pr', 'ra', 'dk', 'ma', 'e', 'c')
      list[#list + 1] = {id, token, f[1], c.group, f[2], f[3], f[4], attempts, f[5], f[6], f[7]}
      lease_args[#lease_args + 1] = int(expires)
      lease_args[#lease_args + 1] = id
      if #lease_args >= 1000 then flush_leases() end
    end
    if c.lim then
      c.lim.tat = c.lim.tat + (#popped / 2) * c.lim.period
      redis.call('HSET', c.lim.key, 'tat', milli(c.lim.tat))
    end
  end
  per_group[i] = list
  if #list > longest then longest = #list end
end
flush_leases()

-- Group changes after the scan, so paging skipped nothing.
for _, c in ipairs(candidates) do
  if redis.call('EXISTS', ready_key(c.group)) == 0 then
    redis.call('ZREM', groups, c.group)
  elseif c.lim then
    local at = c.lim.tat - c.lim.tau
    if at < nowf then at = nowf end
    redis.call('ZADD', groups, milli(at), c.group)
  else
    redis.call('ZADD', groups, int(now), c.group)
  end
end
for _, g in ipairs(later) do
  redis.call('ZADD', groups, milli(g[2]), g[1])
end
for _, group in ipairs(empty) do
  redis.call('ZREM', groups, group)
end

ready_delta = ready_delta - taken
flush_ready()

local out = {now, expires, taken}
for rank = 1, longest do
  for i = 1, #per_group do
    local job = per_group[i][rank]
    if job then
      for k = 1, 11 do out[#out + 1] = job[k] end
    end
  end
end
return out
