-- Makes up to ARGV[2] jobs whose reservation expired ready again. Returns how many.
local n = recover(tonumber(ARGV[2]))
flush_ready()
return n
