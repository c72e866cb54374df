import type { Lsn } from '../core/lsn';

export interface SinkStatus {
  readonly phase: 'starting' | 'consuming';
  readonly lastCutLsn: Lsn;
  readonly bufferedChanges: number;
}

/** A running sink role (Kafka consumer or embedded runner). */
export interface SinkHandle {
  /** Rejects when the sinks cannot go on (fenced, a non-retryable sink error, a bad event under `stop`). */
  readonly done: Promise<void>;
  /** Commits what is complete, then releases everything. */
  stop(): Promise<void>;
  status(): SinkStatus;
}
