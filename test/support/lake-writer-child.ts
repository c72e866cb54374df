/**
 * A second lakehouse writer in its own process, driven line by line over stdin/stdout by
 * test/support/lake-writer-process.ts (so that it holds its own catalog connection and can be
 * killed with SIGKILL at a chosen step, e.g. after staging).
 *
 * argv[2]: JSON {catalog: a SQL catalog URL (sqlite://<file> or postgres://…), warehouse, schema}
 * where schema is the TableSchema of a table keyed by `id` (int64) with text column `v`.
 * stdin, one JSON command a line; stdout, one JSON answer a line:
 *   {"op":"stage","upserts":[[id,"v"],…],"deletes":[id,…]}  → {"staged":{"files":[…]}}
 *     (staged on the table as the catalog holds it now: the writer reloads it first)
 *   {"op":"commit","commitId":"…"}                           → {"committed":{"attempts":n,"snapshotId":id}}
 *   {"op":"exit"}                                             → exits 0
 * A failure answers {"error":"message"} and the process keeps reading.
 */
import { createInterface } from 'node:readline';
import type { TableSchema } from '../../src/core/table-schema';
import type { Catalog } from '../../src/sink/iceberg/catalog';
import { LocalFileIO } from '../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../src/sink/iceberg/lakehouse';
import { openCatalog } from '../../src/sink/iceberg/open-catalog';
import type { StagedChange } from '../../src/sink/iceberg/staged-change';
import { del, upsert } from '../integration/iceberg/iceberg-fixtures';

interface Command {
  readonly op: 'stage' | 'commit' | 'exit';
  readonly upserts?: readonly [number, string][];
  readonly deletes?: readonly number[];
  readonly commitId?: string;
}

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2]!) as { catalog: string; warehouse: string; schema: TableSchema };
  const catalog: Catalog = await openCatalog({ kind: 'sql', url: opts.catalog, name: 'tidemark' } as never);
  const lake = new Lakehouse({ catalog, io: new LocalFileIO(), warehouse: opts.warehouse });
  const schema = opts.schema;
  let staged: StagedChange | null = null;
  let seq = 0;
  const say = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    const cmd = JSON.parse(line) as Command;
    try {
      if (cmd.op === 'exit') break;
      if (cmd.op === 'stage') {
        const changes = [
          ...(cmd.upserts ?? []).map(([id, v]) => upsert(schema, { id: BigInt(id), v }, seq++)),
          ...(cmd.deletes ?? []).map((id) => del(schema, { id: BigInt(id) }, seq++)),
        ];
        await lake.metadata(schema); // reloads the table
        staged = await lake.stage(schema, { truncatedAt: null, changes });
        say({ staged: { files: staged.files } });
      } else {
        const c = await lake.commit([staged!], { properties: {}, commitId: cmd.commitId });
        staged = null;
        say({ committed: { attempts: c.attempts, snapshotId: [...c.snapshots.values()][0] } });
      }
    } catch (e) {
      say({ error: String((e as Error).message) });
    }
  }
  await catalog.close();
}

void main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${String((e as Error).stack)}\n`);
    process.exit(1);
  },
);
