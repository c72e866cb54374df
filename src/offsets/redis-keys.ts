/**
 * Redis key layout of one pipeline. The pipeline name is a hash tag ({shop}) so that every key
 * of a pipeline lives in one Redis Cluster slot and the Lua scripts may touch several of them.
 */
export function redisKeys(pipeline: string) {
  const p = `tidemark:{${pipeline}}`;
  return {
    tokens: `${p}:tokens`,
    tokenOrder: `${p}:tokens:order`,
    watermark: `${p}:watermark`,
    state: `${p}:state`,
    lease: (name: string) => `${p}:lease:${name}`,
    fence: (name: string) => `${p}:fence:${name}`,
  };
}
