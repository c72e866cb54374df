-- Takes a lease if it is free (or already ours) and hands out a fencing token that grows with
-- every change of holder, so a paused ex-holder's writes are recognisably stale.
-- KEYS[1]  lease key (hash owner, fence; expires with the lease)
-- KEYS[2]  fence counter key (never expires)
-- ARGV[1]  owner id
-- ARGV[2]  ttl in ms
-- Returns the fencing token, or false when another owner holds the lease.
local owner = redis.call("HGET", KEYS[1], "owner")
if owner and owner ~= ARGV[1] then
  return false
end
local fence
if owner == ARGV[1] then
  fence = redis.call("HGET", KEYS[1], "fence")
else
  fence = tostring(redis.call("INCR", KEYS[2]))
  redis.call("HSET", KEYS[1], "owner", ARGV[1], "fence", fence)
end
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return fence
