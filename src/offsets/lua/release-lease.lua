-- Gives a lease up, only if it is still ours (never deletes a successor's lease).
-- KEYS[1]  lease key
-- ARGV[1]  owner id
-- ARGV[2]  fencing token
-- Returns 1 when released, 0 otherwise.
if redis.call("HGET", KEYS[1], "owner") == ARGV[1] and redis.call("HGET", KEYS[1], "fence") == ARGV[2] then
  redis.call("DEL", KEYS[1])
  return 1
end
return 0
