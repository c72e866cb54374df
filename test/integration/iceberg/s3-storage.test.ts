import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { TidemarkError } from '../../../src/core/errors';
import type { TableSchema } from '../../../src/core/table-schema';
import type { FileIO } from '../../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../../src/sink/iceberg/lakehouse';
import { openFileIO } from '../../../src/sink/iceberg/open-file-io';
import { MULTIPART_THRESHOLD_BYTES, type S3FileIO } from '../../../src/sink/iceberg/s3-file-io';
import { SqlCatalog } from '../../../src/sink/iceberg/sql-catalog';
import { removeOrphanFiles } from '../../../src/sink/iceberg/table-maintenance';
import { planScan } from '../../../src/sink/iceberg/table-scan';
import type { TableState } from '../../../src/sink/iceberg/table-state';
import {
  awsEnv,
  createTestBucket,
  s3Config,
  s3Env,
  s3PyIcebergProps,
  type TestBucket,
  testS3Client,
} from '../../support/s3';
import {
  allTypesRow,
  allTypesSchema,
  byId,
  del,
  nullRow,
  readWithPyIceberg,
  toPlain,
  upsert,
} from './iceberg-fixtures';

const ROOT = join(__dirname, '..', '..', '..');

const kept: TableSchema = {
  schema: 'public',
  table: 'kept',
  version: 1,
  primaryKey: ['id'],
  columns: [
    { name: 'id', attnum: 1, type: { kind: 'int64' }, pgType: 'bigint', nullable: false },
    { name: 'v', attnum: 2, type: { kind: 'text' }, pgType: 'text', nullable: true },
  ],
};

/** Runs `fn` with the AWS variables of the SDK's default credential chain set to `vars`. */
async function withAwsEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

/**
 * Iceberg tables on an S3-compatible store (moto's S3 server, with IAM authentication on):
 * written through S3FileIO with the credentials of the SDK's default chain (the standard AWS
 * variables), read back from S3 by PyIceberg (pyarrow's S3 filesystem), maintained there
 * (compaction, expiry, orphan removal through a listing), and the errors an operator meets.
 */
describe('Iceberg on S3 (moto): S3FileIO read back by PyIceberg', () => {
  let dir: string;
  let bucket: TestBucket;
  let catalog: SqlCatalog;
  let lake: Lakehouse;
  let io: FileIO;
  let warehouse: string;
  const uri = () => `sqlite:///${join(dir, 'catalog.db')}`;
  const pyRead = async (ident: string, snapshot?: number) =>
    byId((await readWithPyIceberg(uri(), ident, snapshot, undefined, s3PyIcebergProps())).rows);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iceberg-s3-'));
    bucket = await createTestBucket('tm-s3');
    // The credentials come from the standard AWS variables, as in a deployment.
    ({ io, warehouse } = await withAwsEnv(awsEnv(), () =>
      openFileIO({ location: `s3://${bucket.name}/warehouse/`, s3: s3Config() }),
    ));
    catalog = await SqlCatalog.sqlite(join(dir, 'catalog.db'));
    lake = new Lakehouse({ catalog, io, warehouse, targetFileRows: 3 });
  });
  afterAll(async () => {
    await catalog?.close();
    (io as S3FileIO | undefined)?.close();
    await bucket?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('inserts, updates and deletes of every type land on S3 and PyIceberg reads them from there', async () => {
    // GIVEN a table of every type under s3://bucket/warehouse
    expect(warehouse).toBe(`s3://${bucket.name}/warehouse`);
    const schema = allTypesSchema('all_types');
    await lake.createTable(schema);

    // WHEN rows are inserted, then updated, deleted and inserted in a second commit
    const first = [1, 2, 3, 4].map(allTypesRow).concat([nullRow(5, schema)]);
    const c1 = await lake.commit(
      [await lake.stage(schema, { truncatedAt: null, changes: first.map((r, i) => upsert(schema, r, i)) })],
      { properties: { 'tidemark.token': 'a' } },
    );
    const snap1 = c1.snapshots.get('public.all_types')!;
    const row2 = { ...allTypesRow(2), txt: 'updated', ints: [7] };
    const changes = [
      upsert(schema, row2, 10),
      del(schema, { id: 3n }, 11),
      upsert(schema, allTypesRow(6), 12),
    ];
    await lake.commit([await lake.stage(schema, { truncatedAt: null, changes })], {
      properties: { 'tidemark.token': 'b' },
    });

    // THEN every file of the table is an s3:// object under the warehouse, data and deletes alike
    const m = await lake.metadata(schema);
    expect(m.location).toBe(`s3://${bucket.name}/warehouse/public/all_types`);
    const plan = await planScan(io, m, 'public.all_types');
    expect(plan.dataFiles.length).toBeGreaterThan(1);
    expect(plan.deleteFiles.length).toBeGreaterThan(0);
    for (const f of [...plan.dataFiles, ...plan.deleteFiles])
      expect(f.file.filePath.startsWith(`${m.location}/data/`)).toBe(true);
    // AND PyIceberg reads the rows from S3, now and at the first snapshot
    const expected = [allTypesRow(1), row2, allTypesRow(4), nullRow(5, schema), allTypesRow(6)];
    expect(await pyRead('public.all_types')).toEqual(expected.map((r) => toPlain(r, schema)));
    expect(await pyRead('public.all_types', snap1)).toEqual(first.map((r) => toPlain(r, schema)));
    // AND a fresh writer reads them back through S3FileIO (its key index rebuilt from S3)
    const again = new Lakehouse({ catalog, io, warehouse });
    const found = await again.lookupRows(schema, [{ id: 2n }, { id: 3n }]);
    expect([...found.values()].map((r) => r.txt)).toEqual(['updated']);
  });

  test('compaction, snapshot expiry and orphan removal work on S3', async () => {
    // GIVEN a table of many small commits with deletes, and an orphan a crashed writer left
    await lake.createTable(kept);
    let seq = 0;
    const expected = new Map<number, string>();
    for (let round = 0; round < 4; round++) {
      const changes = [];
      for (let i = 0; i < 6; i++) {
        changes.push(upsert(kept, { id: BigInt(round * 4 + i), v: `r${round}` }, seq++));
        expected.set(round * 4 + i, `r${round}`);
      }
      if (round > 0) {
        changes.push(del(kept, { id: BigInt(4 * round - 3) }, seq++));
        expected.delete(4 * round - 3);
      }
      await lake.commit([await lake.stage(kept, { truncatedAt: null, changes })], { properties: {} });
    }
    const want = [...expected].map(([id, v]) => ({ id, v })).sort((a, b) => a.id - b.id);
    expect(await pyRead('public.kept')).toEqual(want);
    const before = await lake.metadata(kept);
    const oldFiles = (await planScan(io, before, 'public.kept')).dataFiles.map((e) => e.file.filePath);
    const orphan = `${before.location}/data/crashed-writer.parquet`;
    await io.write(orphan, new TextEncoder().encode('not parquet'));

    // WHEN the table is compacted, then expired keeping one snapshot (orphans older than a day)
    const compacted = await lake.compact(kept, 100);
    const expired = await lake.expire(kept, {
      keepLast: 1,
      olderThanMs: 0,
      orphansOlderThanMs: 86_400_000,
    });

    // THEN the rows are as they were, from fewer files, and the expired files are gone from S3
    expect(compacted.rewrittenFiles).toBeGreaterThan(compacted.newFiles);
    expect(expired.expired).toBe(before.snapshots.length);
    expect(expired.deletedFiles).toBeGreaterThan(oldFiles.length);
    for (const f of oldFiles) expect(await io.exists(f)).toBe(false);
    expect(await pyRead('public.kept')).toEqual(want);
    // AND the young orphan was kept (the listing's modification times are S3's, of just now)...
    expect(expired.orphans).toBe(0);
    expect(await io.exists(orphan)).toBe(true);
    const listed = await io.list(`${before.location}/`);
    const orphanEntry = listed.find((f) => f.location === orphan)!;
    expect(Math.abs(orphanEntry.modifiedMs - Date.now())).toBeLessThan(120_000);
    // ...and two days later it is the only file orphan removal deletes
    const after = await lake.metadata(kept);
    const metadataLocation = (await catalog.currentLocation({ namespace: 'public', name: 'kept' }))!;
    const st = { metadata: after, metadataLocation } as TableState;
    const removed = await removeOrphanFiles(io, st, {
      olderThanMs: 86_400_000,
      nowMs: Date.now() + 2 * 86_400_000,
    });
    expect(removed).toEqual([orphan]);
    expect(await io.exists(orphan)).toBe(false);
    expect(await pyRead('public.kept')).toEqual(want);

    // AND `tidemark compact` (another process, credentials from its environment) works on S3 too
    await lake.commit(
      [await lake.stage(kept, { truncatedAt: null, changes: [upsert(kept, { id: 99n, v: 'late' }, seq++)] })],
      { properties: {} },
    );
    want.push({ id: 99, v: 'late' });
    const config = join(dir, 'tidemark.yaml');
    writeFileSync(
      config,
      `pipeline: s3maint
source: { url: "postgres://unused@127.0.0.1/none", tables: ["public.*"] }
log: { kind: embedded }
offsets: { kind: file, path: ${dir}/offsets.json }
sinks:
  iceberg:
    catalog: { kind: sql, url: "sqlite://${join(dir, 'catalog.db')}" }
    location: ${warehouse}
    s3: { endpoint: "${s3Env().endpoint}", region: us-east-1, forcePathStyle: true }
`,
    );
    const out = await promisify(execFile)(
      process.execPath,
      [join(ROOT, 'bin', 'tidemark'), 'compact', '--table', 'public.kept', '--json', '--config', config],
      { cwd: ROOT, env: { ...process.env, ...awsEnv() } },
    );
    expect(JSON.parse(out.stdout)).toEqual([{ table: 'public.kept', rewrittenFiles: 2, newFiles: 1 }]);
    expect(await pyRead('public.kept')).toEqual(want);
  });

  test('an object above the multipart threshold round-trips byte for byte, uploaded in parts', async () => {
    const big = randomBytes(MULTIPART_THRESHOLD_BYTES + 3 * 1024 * 1024 + 17);
    const location = `${warehouse}/big/data-file.parquet`;
    await io.write(location, big);
    const back = await io.read(location);
    expect(back.byteLength).toBe(big.byteLength);
    expect(Buffer.from(back).equals(big)).toBe(true);
    // A multipart object's ETag ends with "-<parts>"
    const client = testS3Client();
    try {
      const head = await client.send(
        new HeadObjectCommand({ Bucket: bucket.name, Key: 'warehouse/big/data-file.parquet' }),
      );
      expect(head.ETag).toMatch(/-2"$/);
    } finally {
      client.destroy();
    }
    expect((await io.list(`${warehouse}/big/`)).map((f) => f.location)).toEqual([location]);
    await io.delete(location);
    expect(await io.exists(location)).toBe(false);
  });

  test('a missing bucket, wrong credentials, an unreachable endpoint and a missing object are clear errors', async () => {
    const open = (location: string, s3 = s3Config()) => openFileIO({ location, s3 });
    const failure = async (p: Promise<unknown>): Promise<TidemarkError> => {
      const e = await p.then(
        () => null,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(TidemarkError);
      return e as TidemarkError;
    };

    // A bucket that does not exist
    const missing = await withAwsEnv(awsEnv(), () => failure(open('s3://tm-no-such-bucket/warehouse')));
    expect(missing.kind).toBe('config');
    expect(missing.message).toMatch(
      /^config key "sinks.iceberg.location": s3:\/\/tm-no-such-bucket\/warehouse\/ is not usable: S3 list of s3:\/\/tm-no-such-bucket\/warehouse\/ failed with NoSuchBucket/,
    );
    expect(missing.fix).toMatch(/create the bucket/);

    // A wrong secret, then a key the server does not know
    const { accessKeyId } = s3Env();
    const wrongSecret = await withAwsEnv(
      { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: 'wrong' },
      () => failure(open(`s3://${bucket.name}/warehouse`)),
    );
    expect(wrongSecret.kind).toBe('config');
    expect(wrongSecret.message).toMatch(/failed with SignatureDoesNotMatch/);
    expect(wrongSecret.fix).toMatch(/check the credentials .*AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
    const unknownKey = await withAwsEnv(
      { AWS_ACCESS_KEY_ID: 'AKIAUNKNOWNTIDEMARK', AWS_SECRET_ACCESS_KEY: 'wrong' },
      () => failure(open(`s3://${bucket.name}/warehouse`)),
    );
    expect(unknownKey.message).toMatch(/failed with InvalidAccessKeyId/);
    expect(unknownKey.fix).toMatch(/check the credentials/);

    // An endpoint nothing listens on
    const unreachable = await withAwsEnv(awsEnv(), () =>
      failure(open(`s3://${bucket.name}/warehouse`, { ...s3Config(), endpoint: 'http://127.0.0.1:1' })),
    );
    expect(unreachable.kind).toBe('config');
    expect(unreachable.message).toMatch(/failed with ECONNREFUSED/);
    expect(unreachable.fix).toMatch(
      /endpoint http:\/\/127.0.0.1:1 \(sinks.iceberg.s3.endpoint\) is reachable/,
    );

    // A location that names no bucket
    await expect(open('s3://')).rejects.toThrow(/"s3:\/\/" names no bucket/);

    // A missing object: exists is false, a read fails naming the object
    expect(await io.exists(`${warehouse}/no/such/file.parquet`)).toBe(false);
    const noKey = await failure(io.read(`${warehouse}/no/such/file.parquet`));
    expect(noKey.message).toMatch(
      new RegExp(`^S3 read of s3://${bucket.name}/warehouse/no/such/file.parquet failed with NoSuchKey`),
    );
    // AND an s3a:// location (as Hadoop-based engines write) names the same object
    await io.write(`${warehouse}/a.txt`, Uint8Array.of(1, 2, 3));
    expect([...(await io.read(`s3a://${bucket.name}/warehouse/a.txt`))]).toEqual([1, 2, 3]);
  });
});
