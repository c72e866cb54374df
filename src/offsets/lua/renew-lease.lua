-- Extends a lease only while it is still held by this owner with this fencing token.
-- KEYS[1]  lease key
-- ARGV[1]  owner id
-- ARGV[2]  fencing token
-- ARGV[3]  ttl in ms
-- Returns 1 when renewed, 0 when lost.
if redis.call("HGET", KEYS[1], "owner") == ARGV[1] and redis.call("HGET", KEYS[1], "fence") == ARGV[2] then
  redis.call("PEXPIRE", KEYS[1], ARGV[3])
  return 1
end
return 0
