import type { Client } from 'pg';
import { parseTableKey } from '../core/table-schema';
import type { Logger } from '../observe/logger';

interface Leaf {
  readonly name: string;
  /** Changes on TRUNCATE (and on rewrites: VACUUM FULL, CLUSTER, some ALTER TABLEs). */
  readonly filenode: number;
}

/**
 * Watches the partitions of the mirrored partitioned tables for what changes a table's rows
 * without any row change in the WAL, so the stream cannot carry it:
 * - a partition attached with rows (ATTACH PARTITION): the table is copied again (a refresh,
 *   which upserts), so its rows reach the sinks;
 * - a partition truncated on its own, detached or dropped: Postgres publishes nothing for the
 *   partitioned table (publish_via_partition_root skips a partition's TRUNCATE), so the sinks keep
 *   those rows. That is reported, with what to do; `tidemark verify` lists them as extra.
 * Changes while the pipeline was stopped are not seen: the first check is the baseline.
 */
export class PartitionWatch {
  private known: Map<string, Map<number, Leaf>> | null = null;

  constructor(
    private readonly client: Client,
    private readonly logger: Logger,
    /** Asks for a copy of a table ("schema.table") while streaming goes on. */
    private readonly copy: (table: string) => Promise<void>,
  ) {}

  async check(tables: readonly string[]): Promise<void> {
    const now = await this.leaves(tables);
    const before = this.known;
    this.known = now;
    if (!before) return;
    for (const [table, leaves] of now) {
      const was = before.get(table);
      if (!was) continue; // a table that joined since: its copy covers it
      let attachedWithRows = false;
      for (const [oid, leaf] of leaves) {
        const old = was.get(oid);
        if (!old) {
          if (await this.hasRows(oid)) attachedWithRows = true;
        } else if (old.filenode !== leaf.filenode) {
          this.logger.warn(
            { table, partition: leaf.name },
            'partition truncated or rewritten on its own: if it was truncated, Postgres wrote no row changes, and the sinks keep its rows (tidemark verify lists them; to drop them, delete them in the sinks or rebuild the table)',
          );
        }
      }
      for (const [oid, leaf] of was)
        if (!leaves.has(oid))
          this.logger.warn(
            { table, partition: leaf.name },
            'partition detached or dropped: its rows left the table without row changes in the WAL, and the sinks keep them (tidemark verify lists them; to drop them, delete them in the sinks or rebuild the table)',
          );
      if (attachedWithRows) {
        this.logger.info(
          { table },
          'partition attached with rows: copying the table while streaming goes on',
        );
        await this.copy(table);
      }
    }
  }

  private async leaves(tables: readonly string[]): Promise<Map<string, Map<number, Leaf>>> {
    const refs = tables.map(parseTableKey);
    const r = await this.client.query(
      `SELECT t.s || '.' || t.r AS table, p.relid::oid::int AS oid,
              pn.nspname || '.' || pc.relname AS leaf, pc.relfilenode::int AS filenode
         FROM unnest($1::text[], $2::text[]) AS t(s, r)
         JOIN pg_namespace n ON n.nspname = t.s
         JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.r AND c.relkind = 'p'
        CROSS JOIN LATERAL pg_partition_tree(c.oid) p
         JOIN pg_class pc ON pc.oid = p.relid
         JOIN pg_namespace pn ON pn.oid = pc.relnamespace
        WHERE p.isleaf`,
      [refs.map((t) => t.schema), refs.map((t) => t.table)],
    );
    const out = new Map<string, Map<number, Leaf>>();
    for (const row of r.rows) {
      let leaves = out.get(row.table);
      if (!leaves) out.set(row.table, (leaves = new Map()));
      leaves.set(row.oid, { name: row.leaf, filenode: row.filenode });
    }
    return out;
  }

  private async hasRows(oid: number): Promise<boolean> {
    try {
      // regclass prints the name quoted where it needs quotes
      const name = (await this.client.query('SELECT $1::oid::regclass::text AS n', [oid])).rows[0]
        .n as string;
      return (await this.client.query(`SELECT EXISTS (SELECT 1 FROM ${name}) AS has`)).rows[0].has === true;
    } catch {
      return false; // gone again since: nothing of it is in the table
    }
  }
}
