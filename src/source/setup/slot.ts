import { Client, type ClientConfig } from 'pg';
import { TidemarkError } from '../../core/errors';
import { formatLsn, type Lsn, parseLsn } from '../../core/lsn';
import { quoteIdent } from './catalog';

export interface SlotInfo {
  readonly plugin: string;
  readonly database: string;
  readonly confirmedFlushLsn: Lsn | null;
  readonly active: boolean;
  /**
   * Why PostgreSQL invalidated the slot (it can no longer give changes), or null: `wal` (it held
   * back more WAL than max_slot_wal_keep_size, PostgreSQL 13+), `conflict` (a slot on a standby
   * that recovery conflicted with, 16+).
   */
  readonly invalidated: 'wal' | 'conflict' | null;
}

export async function readSlot(client: Client, name: string): Promise<SlotInfo | null> {
  const row = (
    await client.query(
      // to_jsonb: columns a PostgreSQL version does not have read as null
      `SELECT plugin, database, confirmed_flush_lsn::text AS confirmed, active,
              to_jsonb(s) ->> 'wal_status' AS wal_status, to_jsonb(s) ->> 'conflicting' AS conflicting
         FROM pg_replication_slots s WHERE slot_name = $1`,
      [name],
    )
  ).rows[0];
  if (!row) return null;
  return {
    plugin: row.plugin,
    database: row.database,
    confirmedFlushLsn: row.confirmed ? parseLsn(row.confirmed) : null,
    active: row.active,
    invalidated: row.wal_status === 'lost' ? 'wal' : row.conflicting === 'true' ? 'conflict' : null,
  };
}

/**
 * Postgres lets one connection stream a slot. A source that took over from a frozen one finds
 * the slot still active until Postgres drops that connection (wal_sender_timeout, 60 s by
 * default): it waits for that, then fails naming the holder.
 */
export async function waitForIdleSlot(
  client: Client,
  name: string,
  logger: { info: (o: object, m: string) => void },
  timeoutMs = 120_000,
): Promise<SlotInfo | null> {
  const until = Date.now() + timeoutMs;
  for (let told = false; ; told = true) {
    const slot = await readSlot(client, name);
    if (!slot?.active) return slot;
    const pid = (
      await client.query('SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1', [name])
    ).rows[0]?.active_pid;
    if (Date.now() >= until)
      throw new TidemarkError(
        'source_setup',
        `replication slot ${name} is in use by another connection (pid ${pid})`,
        {
          fix: `another tidemark source (or a client) streams it: stop that one, or end it with SELECT pg_terminate_backend(${pid});`,
        },
      );
    if (!told)
      logger.info(
        { slot: name, pid },
        'replication slot in use by another connection: waiting for it to be released',
      );
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export function checkSlot(slot: SlotInfo, name: string, database: string): void {
  if (slot.invalidated) {
    const at = slot.confirmedFlushLsn === null ? '' : ` (${formatLsn(slot.confirmedFlushLsn)})`;
    throw new TidemarkError(
      'source_setup',
      `replication slot ${name} was invalidated by PostgreSQL (${
        slot.invalidated === 'wal'
          ? 'it held back more WAL than max_slot_wal_keep_size allows, and that WAL was removed'
          : 'a recovery conflict on the standby it is on'
      }): the changes after its last confirmed position${at} can no longer be read`,
      {
        fix: `copy every table again with a new slot: tidemark offsets reset --resnapshot --apply (rows deleted meanwhile stay in the sinks: tidemark verify lists them); so that it does not happen again, raise max_slot_wal_keep_size, and heed the TidemarkRetainedWalHigh alert before the slot reaches it`,
      },
    );
  }
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
