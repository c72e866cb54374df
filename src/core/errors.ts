/**
 * One error family for the whole daemon. `kind` decides what happens next (see retryPolicy):
 * a transient fault is retried with backoff, a problem only an operator can fix stops the
 * process with a message saying what to do, and a bad event goes to the dead-letter topic.
 */
export type ErrorKind =
  | 'config' // bad or missing configuration: stop, name the key
  | 'source_setup' // wal_level, privileges, replica identity, missing table: stop, say the fix
  | 'unsupported_type' // a column type that cannot be mirrored without loss
  | 'unsupported_value' // a value that cannot be represented in a sink (e.g. date infinity)
  | 'malformed_event' // an envelope or message that cannot be decoded
  | 'schema_incompatible' // a schema change a sink cannot follow
  | 'fenced' // another writer moved the token: this worker's round is void
  | 'commit_state_unknown' // a commit whose outcome is unknown: reload and look for our commit id
  | 'commit_failed' // a commit that certainly did not land: safe to clean up and retry
  | 'transient' // network, broker, lock timeout: retry
  | 'corrupt_state' // metadata or stored files that do not parse: stop, name the file
  | 'internal';

export type RetryPolicy = 'retry' | 'stop' | 'dead_letter' | 'abort_round';

export class TidemarkError extends Error {
  readonly kind: ErrorKind;
  /** Short, operator-facing: what to do about it. */
  readonly fix?: string;
  /** The one table ("schema.table") the error concerns, when it concerns one: it can stop alone. */
  readonly table?: string;

  constructor(
    kind: ErrorKind,
    message: string,
    options: { cause?: unknown; fix?: string; table?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TidemarkError';
    this.kind = kind;
    this.fix = options.fix;
    this.table = options.table;
  }

  /** One line for humans: the message, then the fix. */
  describe(): string {
    return this.fix ? `${this.message}\n  fix: ${this.fix}` : this.message;
  }
}

export function retryPolicy(kind: ErrorKind): RetryPolicy {
  switch (kind) {
    case 'transient':
    case 'commit_failed':
    case 'commit_state_unknown':
      return 'retry';
    case 'fenced':
      return 'abort_round';
    case 'malformed_event':
    case 'unsupported_value':
      return 'dead_letter';
    default:
      return 'stop';
  }
}

export function isTidemarkError(e: unknown, kind?: ErrorKind): e is TidemarkError {
  return e instanceof TidemarkError && (kind === undefined || e.kind === kind);
}
