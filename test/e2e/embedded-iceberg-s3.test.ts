import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWithPyIceberg } from '../integration/iceberg/iceberg-fixtures';
import { awsEnv, createTestBucket, s3Env, s3PyIcebergProps, type TestBucket } from '../support/s3';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import {
  freePort,
  killAllTidemarks,
  startTidemark,
  type TidemarkProcess,
  writeConfig,
} from '../support/tidemark-process';
import { ITEMS_DDL, itemsWorkload, sourceLines, waitForSlot } from './support/shop-mirror';

/** PyIceberg's view of public.items, read from S3, as the lines of shop-mirror's sourceLines. */
async function icebergLinesOnS3(catalogUri: string): Promise<string[]> {
  const md5 = (s: string | null) => (s === null ? 'null' : createHash('md5').update(s, 'utf8').digest('hex'));
  const { rows } = await readWithPyIceberg(
    catalogUri,
    'public.items',
    undefined,
    undefined,
    s3PyIcebergProps(),
  );
  return (rows as Array<Record<string, unknown>>)
    .map((r) => ({
      id: Number(r.id),
      line: `${r.id}|${r.qty}|${(r.price as { decimal: string } | null)?.decimal ?? 'null'}|${md5(r.note as string | null)}|${(r.updated_at as { tstz: string }).tstz}`,
    }))
    .sort((a, b) => a.id - b.id)
    .map((x) => x.line);
}

/**
 * The embedded pipeline writing its Iceberg tables to S3 (moto's S3 server), with credentials
 * from the standard AWS variables as in a deployment: the snapshot and a live load, through
 * kill -9, land on S3 and PyIceberg reads from there exactly the source's rows. Wrong
 * credentials stop it at start with a config error naming the location.
 */
describe('embedded mode: Postgres → Iceberg on S3', () => {
  let db: TestDatabase;
  let bucket: TestBucket;
  let dir: string;
  let config: string;
  let port: number;
  const start = (env: Record<string, string> = awsEnv()) =>
    startTidemark(
      ['run', '--config', config],
      { SRC_URL: db.url, TIDEMARK_METRICS_PORT: String(port), S3_ENDPOINT: s3Env().endpoint, ...env },
      port,
    );

  beforeAll(async () => {
    db = await createTestDatabase('e2e_s3');
    await psql(db.url, ITEMS_DDL);
    bucket = await createTestBucket('tm-e2e');
    dir = mkdtempSync(join(tmpdir(), 'tm-s3-'));
    port = await freePort();
    config = writeConfig(
      dir,
      'tidemark.yaml',
      `pipeline: ${db.name}
source:
  url: \${SRC_URL}
  tables: ["public.items"]
  heartbeatIntervalMs: 500
log: { kind: embedded }
offsets: { kind: file, path: ${dir}/offsets.json }
sinks:
  commitIntervalMs: 300
  iceberg:
    catalog: { kind: sql, url: "sqlite://${dir}/catalog.db" }
    location: s3://${bucket.name}/lake
    s3: { endpoint: \${S3_ENDPOINT}, region: us-east-1, forcePathStyle: true }
observe: { port: \${TIDEMARK_METRICS_PORT} }
`,
    );
  });
  afterAll(async () => {
    await killAllTidemarks();
    await db?.drop();
    await bucket?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses wrong credentials at start, then mirrors a snapshot and a live load onto S3 through kill -9', async () => {
    // GIVEN wrong credentials THEN it stops at start with the config exit code and a clear message
    const refused = start({ AWS_ACCESS_KEY_ID: s3Env().accessKeyId, AWS_SECRET_ACCESS_KEY: 'wrong' });
    expect(await refused.exited).toBe(2);
    expect(refused.stderr()).toMatch(
      new RegExp(`sinks.iceberg.location.*s3://${bucket.name}/lake/ is not usable.*SignatureDoesNotMatch`),
    );
    expect(refused.stderr()).toMatch(/fix: check the credentials/);

    // GIVEN the right credentials, tidemark copying the table, and a live workload
    let proc: TidemarkProcess = start();
    await proc.ready(60_000);
    const load = itemsWorkload(db.url);
    // WHEN it is killed with SIGKILL during the load and restarted from its stored offsets
    await new Promise((r) => setTimeout(r, 2000));
    await proc.kill9();
    proc = start();
    await proc.ready(60_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await load.stop()).toBeGreaterThan(10);
    await waitForSlot(db.url, `tidemark_${db.name}`);
    expect(await proc.terminate()).toBe(0);

    // THEN PyIceberg, reading from S3, sees exactly the source's rows
    const expected = await sourceLines(db.url);
    expect(expected.length).toBeGreaterThan(3000);
    expect(await icebergLinesOnS3(`sqlite:///${dir}/catalog.db`)).toEqual(expected);
  }, 120_000);
});
