import { type ErrorKind, isTidemarkError } from '../core/errors';

/** Process exit codes, documented in the README; scripts and Kubernetes rely on them. */
export const EXIT = {
  ok: 0,
  /** An unexpected failure: a bug or an unclassified error. Restarting may help; report it. */
  failure: 1,
  /** Bad command line or configuration: restarting will not help; fix the config. */
  config: 2,
  /** The source database is not set up for tidemark (wal_level, privileges, keys, tables). */
  sourceSetup: 3,
  /** A service stayed unreachable (Postgres, Kafka, Redis) through every retry. */
  unavailable: 4,
  /** Stored state is corrupt or contradicts the sinks: an operator must look. */
  state: 5,
  /** `verify` found differences between the source and a sink. */
  differs: 6,
  /**
   * A change cannot be mirrored: a value no sink can hold (an infinite timestamp, text Postgres
   * cannot convert to UTF-8) or an event that cannot be decoded under `onError: stop`. Restarting
   * alone stops at the same change: fix the data, or exclude the column or the table.
   */
  data: 7,
} as const;

export function exitCodeFor(e: unknown): number {
  if (!isTidemarkError(e)) return EXIT.failure;
  const byKind: Partial<Record<ErrorKind, number>> = {
    config: EXIT.config,
    source_setup: EXIT.sourceSetup,
    unsupported_type: EXIT.sourceSetup,
    transient: EXIT.unavailable,
    corrupt_state: EXIT.state,
    unsupported_value: EXIT.data,
    malformed_event: EXIT.data,
  };
  return byKind[e.kind] ?? EXIT.failure;
}
