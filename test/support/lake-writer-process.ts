import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TableSchema } from '../../src/core/table-schema';

const ROOT = join(__dirname, '..', '..');

/** The shape of table the writer process writes: keyed by `id` (bigint), one text column `v`. */
export function keyValueSchema(table: string, schema = 'public'): TableSchema {
  const column = (name: string, attnum: number, kind: 'int64' | 'text', pgType: string) => ({
    name,
    attnum,
    type: { kind },
    pgType,
    nullable: name !== 'id',
  });
  return {
    schema,
    table,
    version: 1,
    primaryKey: ['id'],
    columns: [column('id', 1, 'int64', 'bigint'), column('v', 2, 'text', 'text')],
  };
}

/** A lakehouse writer in a child process (test/support/lake-writer-child.ts), one table keyed by id. */
export interface LakeWriterProcess {
  /** Stages upserts of [id, v] and deletes of ids; resolves with every file the staged change wrote. */
  stage(upserts: readonly [number, string][], deletes?: readonly number[]): Promise<{ files: string[] }>;
  /** Commits the staged change; resolves with the attempts it took and the new snapshot id. */
  commit(commitId: string): Promise<{ attempts: number; snapshotId: number }>;
  /** SIGKILL, at once: the writer crashes wherever it is. */
  kill9(): Promise<void>;
  /** Asks the writer to close its catalog and exit. */
  exit(): Promise<void>;
}

/** Starts a writer of `schema` (keyValueSchema) on the SQL catalog at `catalogUrl` (sqlite://<file> or postgres://…). */
export function startLakeWriter(
  catalogUrl: string,
  warehouse: string,
  schema: TableSchema,
): LakeWriterProcess {
  const child = spawn(
    process.execPath,
    [
      '-r',
      'tsx/cjs',
      join(__dirname, 'lake-writer-child.ts'),
      JSON.stringify({ catalog: catalogUrl, warehouse, schema }),
    ],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const answers: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => answers.shift()?.(line));
  const ask = <T>(cmd: object, key: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const gone = () =>
        reject(new Error(`lake writer exited before answering ${JSON.stringify(cmd)}:\n${stderr}`));
      void exited.then(gone);
      answers.push((line) => {
        const a = JSON.parse(line) as Record<string, unknown>;
        if (key in a) resolve(a[key] as T);
        else reject(new Error(`lake writer: ${String(a.error ?? line)}`));
      });
      child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    });
  return {
    stage: (upserts, deletes = []) => ask({ op: 'stage', upserts, deletes }, 'staged'),
    commit: (commitId) => ask({ op: 'commit', commitId }, 'committed'),
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async exit() {
      if (child.exitCode === null && child.signalCode === null) child.stdin!.write('{"op":"exit"}\n');
      await exited;
    },
  };
}
