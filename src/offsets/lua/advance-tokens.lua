-- Moves offset tokens forward only, optionally fenced by a lease; all or nothing.
-- KEYS[1]  hash channel -> token text
-- KEYS[2]  hash channel -> token sort key (lexicographic order = token order)
-- KEYS[3]  lease key (hash owner, fence), or "" for an unfenced write
-- ARGV[1]  lease owner ("" when unfenced)
-- ARGV[2]  lease fencing token ("" when unfenced)
-- ARGV[3..] triples: channel, token, sortKey
-- Returns 1 when written (tokens at or behind the stored ones are skipped), 0 when fenced out.
if KEYS[3] ~= "" then
  local owner = redis.call("HGET", KEYS[3], "owner")
  local fence = redis.call("HGET", KEYS[3], "fence")
  if owner ~= ARGV[1] or fence ~= ARGV[2] then
    return 0
  end
end
for i = 3, #ARGV, 3 do
  local channel, token, sortKey = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local current = redis.call("HGET", KEYS[2], channel)
  if (not current) or sortKey > current then
    redis.call("HSET", KEYS[1], channel, token)
    redis.call("HSET", KEYS[2], channel, sortKey)
  end
end
return 1
