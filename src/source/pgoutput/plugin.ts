import type { Client } from 'pg';
import { decodePgoutput } from './decode';
import type { PgoutputMessage } from './messages';

export interface DecodeFailure {
  readonly tag: 'decode-failure';
  readonly error: Error;
}

/**
 * A pg-logical-replication plugin (same shape as its AbstractPlugin, which the package does not
 * export) that hands our own decoder the raw pgoutput bytes.
 */
export class TidemarkPgoutputPlugin {
  /** `onParsed` runs as each message arrives, before the library queues it for handling. */
  constructor(readonly options: { publication: string; onParsed?: () => void }) {}

  get name(): string {
    return 'pgoutput';
  }

  start(client: Client, slotName: string, lastLsn: string): Promise<unknown> {
    const pub = `"${this.options.publication.replace(/"/g, '""')}"`;
    const options = [
      `proto_version '1'`,
      `publication_names '${pub.replace(/'/g, "''")}'`,
      `messages 'true'`,
    ];
    return client.query(
      `START_REPLICATION SLOT "${slotName.replace(/"/g, '""')}" LOGICAL ${lastLsn} (${options.join(', ')})`,
    );
  }

  /** Never throws (it runs inside the connection's data handler): a failure is handed on as a value. */
  parse(buffer: Buffer): PgoutputMessage | DecodeFailure {
    this.options.onParsed?.();
    try {
      return decodePgoutput(buffer);
    } catch (error) {
      return { tag: 'decode-failure', error: error as Error };
    }
  }
}
