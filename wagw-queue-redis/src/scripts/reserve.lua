-- Reserves up to ARGV[2] due jobs round-robin across groups, in one call.
-- ARGV[3] = visibility ms, ARGV[4] = per-group cap (0 = none), ARGV[5] = 12 random bytes
-- that start every lease token of this call, ARGV[6] = count of allowed groups (-1 = all)
-- then the groups, then the count of excluded groups and the groups.
--
-- Groups sit in P.."groups" scored by when they are next eligible: only groups with ready
-- jobs are there, so an idle number costs nothing. Longest-waiting groups go first; each
-- group's allowance is min(ready, cap, rate capacity); one job per group per round until the
-- batch is full (so at most max groups are looked at), then each group's share is popped at
-- once. A number with a fleet-wide rate (P.."l:"..group) is charged here (GCRA), once
-- per group for all its jobs of the call, so a reservation only hands out jobs whose number
-- has capacity; a number without capacity leaves the index until it has.
--
-- Redis commands: per group looked at, one ZCARD and one ZPOPMIN; per job, one HMGET and
-- one HSET (attempts and lease token together); per page of groups, one MGET of their
-- limits; per call, one ZADD of the leases, one MSET of the charges and one ZADD (and ZREM)
-- of the groups' new places.
--
-- Returns {now, expires_at, count, then 7 values per job: id, token, packed data ('d'),
-- group, run_at, attempts, last error}, jobs interleaved by their rank in their group.
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

-- Candidates, as parallel arrays (cheaper than a table per group): the group, its ready
-- count, how many it may give, its share of this call, and for a limited number its stored
-- limit (lim_s: eff, burst, conf, calm, pause), TAT, period and tau (nil when it has none).
local cand, ready_n, allow, share = {}, {}, {}, {}
local lim_s, lim_tat, lim_period, lim_tau = {}, {}, {}, {}
local moves = {}
local empty = {}

-- Looks at a page of eligible groups in order until the batch has enough groups. Their
-- limits come with one MGET.
local function consider(page)
  if #page == 0 then return end
  local keys = {}
  for i, group in ipairs(page) do keys[i] = limit_key(group) end
  local settings = redis.call('MGET', unpack(keys))
  for i, group in ipairs(page) do
    if #cand >= max then return end
    local n = redis.call('ZCARD', ready_key(group))
    if n == 0 then
      empty[#empty + 1] = group
    else
      local a = n
      if cap > 0 and a > cap then a = cap end
      local stored, tat, period, tau = nil, nil, nil, nil
      local room = true
      if settings[i] then
        local eff, burst, conf, calm, pause
        eff, burst, conf, calm, pause, tat = read_limit(settings[i])
        if eff < conf and nowf - calm >= CALM_MS then
          -- A calm period since the last throttle or win-back: a tenth of the rate back.
          eff = math.min(conf, eff + math.max(1, math.floor(conf / 10)))
          calm = nowf
          write_limit(group, eff, burst, conf, calm, pause, tat)
        end
        stored = {eff, burst, conf, calm, pause}
        period = 1000 / eff
        tau = (burst - 1) * period
        if tat < nowf then tat = nowf end
        -- GCRA: the jobs the number may take now, else when it next may.
        local c, next_at = 0, pause
        if pause <= nowf then
          c = math.floor((nowf + tau - tat) / period) + 1
          next_at = tat - tau
        end
        if c <= 0 then
          room = false
          moves[#moves + 1] = ceil_ms(next_at)
          moves[#moves + 1] = group
        elseif a > c then
          a = c
        end
      end
      if room then
        local k = #cand + 1
        cand[k], ready_n[k], allow[k], share[k] = group, n, a, 0
        lim_s[k], lim_tat[k], lim_period[k], lim_tau[k] = stored, tat, period, tau
      end
    end
  end
end

if only then
  local asked = {}
  local seen = {}
  for _, group in ipairs(only) do
    if not excluded[group] and not seen[group] then
      seen[group] = true
      asked[#asked + 1] = group
    end
  end
  for i = 1, #asked, 128 do
    if #cand >= max then break end
    local slice = {unpack(asked, i, math.min(i + 127, #asked))}
    local scores = redis.call('ZMSCORE', groups, unpack(slice))
    local page = {}
    for j, group in ipairs(slice) do
      if scores[j] and tonumber(scores[j]) <= now then page[#page + 1] = group end
    end
    consider(page)
  end
else
  local offset = 0
  local PAGE = 128
  while #cand < max do
    local found = redis.call('ZRANGEBYSCORE', groups, '-inf', int(now), 'LIMIT', offset, PAGE)
    local page = {}
    for _, group in ipairs(found) do
      if not excluded[group] then page[#page + 1] = group end
    end
    consider(page)
    if #found < PAGE then break end
    offset = offset + PAGE
  end
end

-- Shares: one job per group per round until the batch is full.
local left = max
local moved = true
while left > 0 and moved do
  moved = false
  for k = 1, #cand do
    if left == 0 then break end
    if share[k] < allow[k] then
      share[k] = share[k] + 1
      left = left - 1
      moved = true
    end
  end
end

-- Each group's share popped at once; its charge and new place.
local popped = {}
local longest = 0
local charges = {}
for k = 1, #cand do
  local group = cand[k]
  local ids = {}
  if share[k] > 0 then
    ids = redis.call('ZPOPMIN', ready_key(group), share[k])
  end
  popped[k] = ids
  local got = #ids / 2
  if got > longest then longest = got end
  if lim_tat[k] and got > 0 then
    lim_tat[k] = lim_tat[k] + got * lim_period[k]
    local l = lim_s[k]
    charges[#charges + 1] = limit_key(group)
    charges[#charges + 1] = pack_limit(l[1], l[2], l[3], l[4], l[5], lim_tat[k])
  end
  -- Applied after the scan, so paging skipped nothing.
  if ready_n[k] - got <= 0 then
    empty[#empty + 1] = group
  elseif lim_tat[k] then
    local at = lim_tat[k] - lim_tau[k]
    if at < nowf then at = nowf end
    moves[#moves + 1] = ceil_ms(at)
    moves[#moves + 1] = group
  else
    moves[#moves + 1] = now
    moves[#moves + 1] = group
  end
end

-- The jobs, interleaved by their rank in their group: each leased (attempts and token in
-- one write) and read on the way out.
local expires = now + visibility
local expires_s = int(expires)
local taken = 0
local lease_args = {}
local out = {now, expires, 0}
for rank = 1, longest do
  local at = rank * 2 - 1
  for k = 1, #cand do
    local id = popped[k][at]
    if id then
      taken = taken + 1
      local token = token_base .. struct.pack('>I4', taken)
      local key = job_key(id)
      -- The ready score holds the run-at (below the priority), so 'ra' needs no read.
      local score = tonumber(popped[k][at + 1])
      local run_at = score - math.floor(score / SHIFT) * SHIFT
      local f = redis.call('HMGET', key, 'd', 'a', 'e')
      local attempts = tonumber(f[2] or 0) + 1
      redis.call('HSET', key, 'a', attempts, 't', token)
      local o = #out
      out[o + 1], out[o + 2], out[o + 3], out[o + 4] = id, token, f[1], cand[k]
      out[o + 5], out[o + 6], out[o + 7] = run_at, attempts, f[3]
      lease_args[#lease_args + 1] = expires_s
      lease_args[#lease_args + 1] = id
    end
  end
end
out[3] = taken

if #lease_args > 0 then sliced('ZADD', P .. 'leases', lease_args, 1000) end
for i = 1, #charges, 1000 do
  redis.call('MSET', unpack(charges, i, math.min(i + 999, #charges)))
end
if #moves > 0 then sliced('ZADD', groups, moves, 1000) end
if #empty > 0 then sliced('ZREM', groups, empty, 1000) end

ready_delta = ready_delta - taken
flush_ready()
return out
