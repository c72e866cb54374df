import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { parseLsn } from '../../src/core/lsn';
import { parseToken } from '../../src/core/offset-token';
import { redisKeys } from '../../src/offsets/redis-keys';
import { RedisOffsetStore } from '../../src/offsets/redis-offset-store';
import { IcebergTarget } from '../../src/sink/iceberg-target';
import { readWithPyIceberg } from '../integration/iceberg/iceberg-fixtures';
import { createTestDatabase, psql, redisUrl, type TestDatabase } from '../support/services';
import {
  freePort,
  kafkaPipelineYaml,
  killAllTidemarks,
  runCli,
  startTidemark,
  type TidemarkProcess,
  writeConfig,
} from '../support/tidemark-process';
import { waitForSlot } from './support/shop-mirror';

/**
 * `tidemark offsets reset` on the Kafka path: refused while a sink runs; a dry run changes
 * nothing; moving forward is refused without --force; moving back to an LSN moves the tokens
 * in both sinks and Redis, and the restarted pipeline applies the later changes again, which
 * repairs rows damaged in the warehouse; --to-latest-cut rebuilds flushed Redis tokens from the
 * sinks; --resnapshot drops the slot and the next start copies the tables again. Every reset
 * applied is recorded and shown by `offsets show`.
 */
describe('tidemark offsets reset', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  let config: string;
  const env = () => ({ SRC_URL: src.url, WH_URL: wh.url });
  const cli = (...args: string[]) => runCli([...args, '--config', config], { ...env(), METRICS_PORT: '0' });
  const start = async (): Promise<TidemarkProcess> => {
    const port = await freePort();
    const p = startTidemark(['run', '--config', config], { ...env(), METRICS_PORT: String(port) }, port);
    await p.ready(90_000);
    return p;
  };
  const rows = () =>
    psql<{ id: number; v: string }>(wh.url, 'SELECT id, v FROM t ORDER BY id').catch(() => []);
  const sourceRows = () => psql<{ id: number; v: string }>(src.url, 'SELECT id, v FROM t ORDER BY id');
  /** The append table's history in the warehouse: one row per change of h. */
  const history = () =>
    psql<{ id: number; v: string; op: string }>(
      wh.url,
      'SELECT id, v, _tidemark_op AS op FROM h ORDER BY _tidemark_lsn, _tidemark_seq',
    ).catch(() => []);
  const mirrored = async () => {
    await waitForSlot(src.url, `tidemark_${src.name}`);
    const want = JSON.stringify(await sourceRows());
    const changesOfH = Number(
      (await psql<{ n: string }>(src.url, 'SELECT count(*) AS n FROM h_changes'))[0]!.n,
    );
    const until = Date.now() + 60_000;
    while (JSON.stringify(await rows()) !== want || (await history()).length < changesOfH) {
      if (Date.now() > until)
        throw new Error(`warehouse never equalled the source: ${JSON.stringify(await rows())}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  };
  const store = () => new RedisOffsetStore(redisUrl(), src.name);
  const redisTokens = async () => {
    const s = store();
    try {
      return await s.readTokens();
    } finally {
      await s.close();
    }
  };

  beforeAll(async () => {
    src = await createTestDatabase('e2e_rsrc');
    wh = await createTestDatabase('e2e_rwh');
    await psql(
      src.url,
      `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g;
       CREATE TABLE h (id int PRIMARY KEY, v text); INSERT INTO h SELECT g, 'h' || g FROM generate_series(1, 5) g;
       -- how many changes h has had: its history in the sinks must hold each once
       CREATE TABLE h_changes (n serial PRIMARY KEY); INSERT INTO h_changes SELECT FROM generate_series(1, 5);`,
    );
    dir = mkdtempSync(join(tmpdir(), 'tm-reset-'));
    config = writeConfig(
      dir,
      'tidemark.yaml',
      kafkaPipelineYaml(src.name, dir, '"public.t", "public.h"', 'tables:\n  public.h: { mode: append }\n'),
    );
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('moves a stopped pipeline back to an LSN, to the latest cut, and to a new snapshot', async () => {
    let proc = await start();
    await mirrored();
    const [{ lsn: x }] = await psql<{ lsn: string }>(
      src.url,
      'SELECT pg_current_wal_insert_lsn()::text AS lsn',
    );
    await psql(src.url, `INSERT INTO t SELECT g, 'v' || g FROM generate_series(11, 20) g`);
    await psql(src.url, `UPDATE t SET v = 'changed' WHERE id = 1`);
    await psql(
      src.url,
      `INSERT INTO h VALUES (6, 'h6'), (7, 'h7'); UPDATE h SET v = 'h1b' WHERE id = 1;
       INSERT INTO h_changes SELECT FROM generate_series(1, 3)`,
    );
    await mirrored();
    const historyBefore = await history();
    expect(historyBefore.map((r) => r.op).sort()).toEqual(['c', 'c', 'r', 'r', 'r', 'r', 'r', 'u']);

    // WHEN a reset is asked for while the sink runs THEN it is refused
    const running = await cli('offsets', 'reset', '--to-lsn', x!);
    expect(running.code).toBe(2);
    expect(running.stderr).toContain('a sink process holds the committer lease');
    expect(await proc.terminate()).toBe(0);

    // GIVEN rows damaged in the warehouse behind the pipeline's back
    await psql(wh.url, `DELETE FROM t WHERE id > 10; UPDATE t SET v = 'broken' WHERE id = 1`);
    const before = await redisTokens();

    // WHEN planned without --apply THEN nothing changes
    const dry = await cli('offsets', 'reset', '--to-lsn', x!);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('(back)');
    expect(dry.stdout).toContain('will: set the tokens');
    expect(dry.stdout).toContain('public.h is an append table: its channels keep their positions');
    expect(await redisTokens()).toEqual(before);
    // AND moving forward is refused without --force
    const forward = await cli('offsets', 'reset', '--to-lsn', 'FFFF/0', '--apply');
    expect(forward.code).toBe(2);
    expect(forward.stderr).toContain('skips every change up to it');
    expect(forward.stderr).toContain('--force');
    expect(await redisTokens()).toEqual(before);

    // WHEN applied THEN every store holds tokens at X, but for the append table's channels
    const applied = await cli('offsets', 'reset', '--to-lsn', x!, '--apply');
    expect(applied.code).toBe(0);
    const ofT = (tokens: Map<string, string>) => [...tokens].filter(([ch]) => ch.includes('.public.t/'));
    const ofH = (tokens: Map<string, string>) => [...tokens].filter(([ch]) => ch.includes('.public.h/'));
    const atX = (tokens: Map<string, string>) =>
      ofT(tokens).length > 0 && ofT(tokens).every(([, t]) => parseToken(t).position.lsn === parseLsn(x!));
    expect(ofH(await redisTokens())).toEqual(ofH(before));
    const redisAfter = await redisTokens();
    expect(redisAfter.size).toBeGreaterThan(0);
    expect(atX(redisAfter)).toBe(true);
    const whTokens = new Map(
      (
        await psql<{ channel: string; token: string }>(wh.url, 'SELECT channel, token FROM _tidemark_offsets')
      ).map((r) => [r.channel, r.token] as const),
    );
    expect(atX(whTokens)).toBe(true);
    const ice = await IcebergTarget.open({
      catalog: { kind: 'sql', url: `sqlite://${dir}/catalog.db`, name: 'tidemark' },
      location: `${dir}/lake`,
      targetFileBytes: 1 << 27,
    });
    const iceTokens = (await ice.readTokensOf([{ schema: 'public', table: 't' }])).tokens;
    await ice.close();
    expect(atX(iceTokens)).toBe(true);
    // AND the restarted pipeline applies the later changes again: the damaged rows are repaired
    proc = await start();
    await mirrored();
    const verified = await cli('verify', '--wait', '2', '--json');
    expect(JSON.parse(verified.stdout).agree).toBe(true);
    // AND the append table's history holds each change once, in both sinks (verify waited for a
    // cut past every change read again)
    expect(await history()).toEqual(historyBefore);
    const lakeHistory = await readWithPyIceberg(`sqlite:///${dir}/catalog.db`, 'public.h');
    expect(lakeHistory.rows.length).toBe(historyBefore.length);
    expect(await proc.terminate()).toBe(0);
    const shown = JSON.parse((await cli('offsets', 'show', '--json')).stdout);
    expect(shown.resets.map((r: { target: string }) => r.target)).toEqual([`lsn ${x}`]);

    // WHEN Redis loses the tokens THEN --to-latest-cut rebuilds them from the sinks
    const redis = new Redis(redisUrl());
    await redis.del(redisKeys(src.name).tokens, redisKeys(src.name).tokenOrder);
    redis.disconnect();
    expect((await cli('offsets', 'reset', '--to-latest-cut', '--apply')).code).toBe(0);
    const rebuilt = await redisTokens();
    const whNow = await psql<{ channel: string; token: string }>(
      wh.url,
      'SELECT channel, token FROM _tidemark_offsets',
    );
    expect(Object.fromEntries(rebuilt)).toEqual(Object.fromEntries(whNow.map((r) => [r.channel, r.token])));

    // WHEN a new snapshot is asked for THEN the slot is dropped, and the next start copies the table again
    await psql(wh.url, 'DELETE FROM t WHERE id = 5');
    const resnap = await cli('offsets', 'reset', '--resnapshot', '--apply');
    expect(resnap.code).toBe(0);
    expect(
      await psql(src.url, `SELECT 1 FROM pg_replication_slots WHERE slot_name = 'tidemark_${src.name}'`),
    ).toEqual([]);
    proc = await start();
    expect(proc.stderr()).toContain('created replication slot');
    await mirrored();
    expect(await proc.terminate()).toBe(0);
  }, 300_000);
});
