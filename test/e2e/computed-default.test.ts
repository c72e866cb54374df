import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { readWithPyIceberg } from '../integration/iceberg/iceberg-fixtures';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import { waitUntil } from '../support/settled';
import {
  killAllTidemarks,
  pipelineYaml,
  runCli,
  runPipeline,
  waitForRefresh,
  writeConfig,
} from '../support/tidemark-process';
import { waitForSlot } from './support/shop-mirror';

/**
 * A column added with a default Postgres computes row by row (a volatile default such as
 * gen_random_uuid() or clock_timestamp(), an identity, a domain with a volatile default) makes
 * Postgres rewrite the table, and
 * a rewrite is not in the replication stream: the existing rows' values reach no sink that way.
 * tidemark copies the table again by itself, while a live load goes on, and both sinks end with
 * the values Postgres computed (not nulls). Embedded and Kafka mode.
 */
const DDL = `CREATE TABLE parcels (id int PRIMARY KEY, weight int NOT NULL, label text);
INSERT INTO parcels SELECT g, g % 90, 'p' || g FROM generate_series(1, 2500) g;
CREATE DOMAIN dice AS int DEFAULT (1 + floor(random() * 6))::int;`;

/** Updates, inserts and deletes on parcels until stopped, one small transaction at a time. */
function parcelsLoad(url: string): { stop: () => Promise<number> } {
  let stopped = false;
  let count = 0;
  const run = (async () => {
    const c = new Client({ connectionString: url });
    await c.connect();
    try {
      for (let next = 10_001; !stopped; next++) {
        const id = 1 + Math.floor(Math.random() * 2500);
        await c.query('BEGIN');
        await c.query('UPDATE parcels SET weight = weight + 1 WHERE id = $1', [id]);
        await c.query('INSERT INTO parcels (id, weight, label) VALUES ($1, 1, $2)', [next, `new ${next}`]);
        if (next % 7 === 0) await c.query('DELETE FROM parcels WHERE id = $1', [next - 3]);
        await c.query('COMMIT');
        count++;
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      await c.end();
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await run;
      return count;
    },
  };
}

/** A uuid as PyIceberg's reader prints it (read_table.py): a UUID, or its 16 bytes. */
type TaggedUuid = { uuid: string } | { hex: string };

function uuidText(v: TaggedUuid | null): string | null {
  if (v === null) return null;
  if ('uuid' in v) return v.uuid;
  const h = v.hex;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

describe.each(['embedded', 'kafka'] as const)('column added with a default computed per row (%s)', (mode) => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  let config: string;
  const env = () => ({ SRC_URL: src.url, WH_URL: wh.url, METRICS_PORT: '0' });

  beforeAll(async () => {
    src = await createTestDatabase(`e2e_cdef${mode[0]}`);
    wh = await createTestDatabase(`e2e_cdefw${mode[0]}`);
    await psql(src.url, DDL);
    dir = mkdtempSync(join(tmpdir(), 'tm-cdef-'));
    config = writeConfig(
      dir,
      'tidemark.yaml',
      pipelineYaml(mode, src.name, dir, '"public.*"', 'snapshotChunkRows: 700'),
    );
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('copies the table again so that the existing rows get the values Postgres computed', async () => {
    const proc = await runPipeline(config, env());
    await waitForSlot(src.url, `tidemark_${src.name}`);
    await waitUntil(
      'the initial copy in the warehouse',
      async () => (await psql(wh.url, 'SELECT 1 FROM parcels WHERE id = 2500').catch(() => [])).length > 0,
      120_000,
    );
    const since = new Date().toISOString();
    const load = parcelsLoad(src.url);
    await new Promise((r) => setTimeout(r, 500));

    // WHEN columns whose existing values Postgres computes row by row are added under the load
    await psql(
      src.url,
      `ALTER TABLE parcels ADD COLUMN tag uuid DEFAULT gen_random_uuid(),
                           ADD COLUMN seen_at timestamptz DEFAULT clock_timestamp(),
                           ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY,
                           ADD COLUMN roll dice`,
    );

    // THEN the source copies the table again by itself
    await waitForRefresh(config, env(), 'public.parcels', proc, 120_000, since);
    expect(proc.stderr()).toContain('copying the table again so that the sinks get the existing rows');
    const status = await runCli(['status', '--config', config], env());
    expect(status.stdout).toMatch(
      /refresh public\.parcels \(column added with a default Postgres computed row by row\): \d+ rows copied, complete at/,
    );
    expect(await load.stop()).toBeGreaterThan(0);
    await waitForSlot(src.url, `tidemark_${src.name}`);

    // AND both sinks hold every row with the values Postgres computed for it, nulls nowhere
    const verify = await runCli(['verify', '--config', config, '--json', '--wait', '30'], env());
    const report = JSON.parse(verify.stdout);
    expect(report.tables.filter((t: { agree: boolean }) => !t.agree)).toEqual([]);
    expect(report.agree).toBe(true);
    const sourceTags = await psql<{ id: number; tag: string; n: string; roll: number }>(
      src.url,
      'SELECT id, tag::text AS tag, n::text AS n, roll FROM parcels ORDER BY id',
    );
    const warehouseTags = await psql<{ id: number; tag: string; n: string; roll: number }>(
      wh.url,
      'SELECT id, tag::text AS tag, n::text AS n, roll FROM parcels ORDER BY id',
    );
    expect(warehouseTags).toEqual(sourceTags);
    expect(sourceTags.some((r) => r.tag === null || r.roll === null)).toBe(false);
    const { rows } = await readWithPyIceberg(`sqlite:///${dir}/catalog.db`, 'public.parcels');
    const lake = (
      rows as Array<{ id: number; tag: TaggedUuid | null; n: number | string | null; roll: number | null }>
    )
      .map((r) => ({
        id: Number(r.id),
        tag: uuidText(r.tag),
        n: r.n === null ? null : String(r.n),
        roll: r.roll,
      }))
      .sort((a, b) => a.id - b.id);
    expect(lake).toEqual(sourceTags);
    expect(await proc.terminate()).toBe(0);
  }, 300_000);
});
