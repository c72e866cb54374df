import { TidemarkError } from '../core/errors';

/**
 * Prefix of the transactional WAL message that asks the source to delete keys it does not hold
 * (`tidemark sweep`): rows only a sink still has, which a copy cannot remove since it only
 * upserts. The message is written under a SHARE lock on the table after checking that no key
 * in it exists there, so at its place in the stream none does: a delete there is exact.
 */
export const SWEEP_REQUEST = 'tidemark_sweep';

export interface SweepRequest {
  readonly slot: string;
  /** "schema.table". */
  readonly table: string;
  /** Per key: the key columns' Postgres text, in the order of the table's key. */
  readonly keys: readonly (readonly string[])[];
}

export function parseSweepRequest(content: Buffer): SweepRequest {
  let req: Partial<SweepRequest>;
  try {
    req = JSON.parse(content.toString('utf8')) as Partial<SweepRequest>;
  } catch (e) {
    throw new TidemarkError('malformed_event', `${SWEEP_REQUEST} message is not JSON`, { cause: e });
  }
  if (
    typeof req.slot !== 'string' ||
    typeof req.table !== 'string' ||
    !Array.isArray(req.keys) ||
    !req.keys.every((k) => Array.isArray(k) && k.every((v) => typeof v === 'string'))
  )
    throw new TidemarkError('malformed_event', `${SWEEP_REQUEST} message lacks slot, table or keys`);
  return req as SweepRequest;
}
