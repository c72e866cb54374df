import { Client, type ClientConfig } from 'pg';
import { TidemarkError } from '../../core/errors';
import { type Lsn, parseLsn } from '../../core/lsn';
import { quoteIdent } from './catalog';

export interface SlotInfo {
  readonly plugin: string;
  readonly database: string;
  readonly confirmedFlushLsn: Lsn | null;
  readonly active: boolean;
}

export async function readSlot(client: Client, name: string): Promise<SlotInfo | null> {
  const row = (
    await client.query(
      'SELECT plugin, database, confirmed_flush_lsn::text AS confirmed, active FROM pg_replication_slots WHERE slot_name = $1',
      [name],
    )
  ).rows[0];
  if (!row) return null;
  return {
    plugin: row.plugin,
    database: row.database,
    confirmedFlushLsn: row.confirmed ? parseLsn(row.confirmed) : null,
    active: row.active,
  };
}

export function checkSlot(slot: SlotInfo, name: string, database: string): void {
  if (slot.plugin !== 'pgoutput') {
    throw new TidemarkError(
      'source_setup',
      `replication slot ${name} uses plugin ${slot.plugin}, not pgoutput`,
      {
        fix: `choose another source.slot, or drop it: SELECT pg_drop_replication_slot('${name}');`,
      },
    );
  }
  if (slot.database !== database) {
    throw new TidemarkError(
      'source_setup',
      `replication slot ${name} belongs to database ${slot.database}, not ${database}`,
      {
        fix: 'choose another source.slot (it names the pipeline by default)',
      },
    );
  }
}

export interface CreatedSlot {
  readonly consistentPoint: Lsn;
  /** The exported snapshot, valid while `holder` stays open and idle. */
  readonly snapshotName: string | null;
  readonly holder: Client;
}

/**
 * Creates the slot on a replication connection. With `exportSnapshot`, the snapshot stays
 * importable (SET TRANSACTION SNAPSHOT) until `holder` runs another command or closes. A
 * `temporary` slot is dropped by Postgres when `holder` closes, and only `holder` can use it.
 */
export async function createSlot(
  config: ClientConfig,
  name: string,
  exportSnapshot: boolean,
  temporary = false,
): Promise<CreatedSlot> {
  const holder = new Client({ ...config, replication: 'database' } as ClientConfig);
  holder.on('error', () => {}); // a lost holder surfaces as a failed snapshot import
  await holder.connect();
  try {
    const r = await holder.query(
      `CREATE_REPLICATION_SLOT ${quoteIdent(name)}${temporary ? ' TEMPORARY' : ''} LOGICAL pgoutput ${exportSnapshot ? 'EXPORT_SNAPSHOT' : 'NOEXPORT_SNAPSHOT'}`,
    );
    const row = r.rows[0];
    return {
      consistentPoint: parseLsn(row.consistent_point),
      snapshotName: row.snapshot_name ?? null,
      holder,
    };
  } catch (e) {
    await holder.end().catch(() => {});
    throw new TidemarkError(
      'source_setup',
      `cannot create replication slot ${name}: ${(e as Error).message}`,
      {
        cause: e,
        fix: 'check max_replication_slots (free slots) and that the role has REPLICATION',
      },
    );
  }
}
