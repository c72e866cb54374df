import { parseToken } from '../core/offset-token';

/**
 * A string whose lexicographic order is the token order (LSN, then sequence, then log offset),
 * so that a Redis Lua script can refuse to move a token backwards with a plain string compare
 * (Lua numbers are doubles and cannot hold a 64-bit LSN exactly).
 */
export function tokenSortKey(token: string): string {
  const t = parseToken(token);
  const lsn = t.position.lsn.toString(16).padStart(16, '0');
  const seq = (t.position.seq + 1).toString(16).padStart(8, '0');
  const off = (t.nextOffset + 1).toString(16).padStart(14, '0');
  return `${lsn}${seq}${off}`;
}
