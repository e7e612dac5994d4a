-- Extends a reservation. ARGV[2] = id, ARGV[3] = token, ARGV[4] = visibility ms.
-- Returns {lease status (see check_lease), new expiry ms}.
local id, token = ARGV[2], ARGV[3]
local status = check_lease(id, token)
if status ~= 0 then return {status, 0} end
local expires = now + tonumber(ARGV[4])
redis.call('ZADD', P .. 'leases', 'XX', int(expires), id)
return {0, expires}
