import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import {
  freePort,
  kafkaPipelineYaml,
  killAllTidemarks,
  runCli,
  startTidemark,
  writeConfig,
} from '../support/tidemark-process';

/**
 * `tidemark pause|resume --table`: a paused table stays as it was in both sinks while the other
 * tables keep being mirrored (its changes wait in Kafka, the slot moves on), and once resumed it
 * catches up from its tokens until verify finds every table equal. Embedded mode refuses it.
 */
describe('pausing one table', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  let config: string;
  const env = (port = 0) => ({ SRC_URL: src.url, WH_URL: wh.url, METRICS_PORT: String(port) });
  const count = async (table: string, where = 'true') =>
    Number(
      (
        await psql<{ n: string }>(
          wh.url,
          `SELECT count(*)::text AS n FROM public.${table} WHERE ${where}`,
        ).catch(() => [{ n: '-1' }])
      )[0]!.n,
    );
  const until = async (what: string, ok: () => Promise<boolean>) => {
    const end = Date.now() + 60_000;
    while (!(await ok())) {
      if (Date.now() > end) throw new Error(`not reached: ${what}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  };

  beforeAll(async () => {
    src = await createTestDatabase('e2e_pause');
    wh = await createTestDatabase('e2e_pausew');
    await psql(
      src.url,
      `CREATE TABLE public.a (id int PRIMARY KEY, v text);
       CREATE TABLE public.b (id int PRIMARY KEY, v text);
       INSERT INTO public.a SELECT g, 'before' FROM generate_series(1, 100) g;
       INSERT INTO public.b SELECT g, 'before' FROM generate_series(1, 100) g;`,
    );
    dir = mkdtempSync(join(tmpdir(), 'tm-pause-'));
    config = writeConfig(dir, 'tidemark.yaml', kafkaPipelineYaml(src.name, dir, '"public.*"'));
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('holds a paused table as it was while the others go on, then catches it up', async () => {
    const port = await freePort();
    const proc = startTidemark(['run', '--config', config], env(port), port);
    await proc.ready(90_000);
    await until('both tables copied', async () => (await count('a')) === 100 && (await count('b')) === 100);

    // WHEN b is paused and both tables change
    const paused = await runCli(['pause', '--table', 'b', '--reason', 'backfill', '--config', config], env());
    expect(paused.stderr).toBe('');
    expect(paused.stdout).toContain('public.b is paused');
    await new Promise((r) => setTimeout(r, 1500)); // a few commit ticks
    await psql(
      src.url,
      `UPDATE public.a SET v = 'after'; UPDATE public.b SET v = 'after';
       INSERT INTO public.a SELECT g, 'after' FROM generate_series(101, 150) g;
       INSERT INTO public.b SELECT g, 'after' FROM generate_series(101, 150) g;`,
    );

    // THEN a follows, b stays as it was, and status and the metric say b is paused
    await until('a mirrored', async () => (await count('a', `v = 'after'`)) === 150);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await count('b')).toBe(100);
    expect(await count('b', `v = 'before'`)).toBe(100);
    const status = await runCli(['status', '--config', config], env());
    expect(status.stdout).toMatch(/paused public\.b since .* \(backfill\): its changes wait in Kafka/);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^tidemark_sink_paused_tables\{[^}]*\} 1$/m);

    // WHEN b resumes, THEN it catches up and every table agrees
    const resumed = await runCli(['resume', '--table', 'public.b', '--config', config], env());
    expect(resumed.stdout).toContain('public.b resumes');
    await until('b caught up', async () => (await count('b', `v = 'after'`)) === 150);
    const verify = JSON.parse(
      (await runCli(['verify', '--config', config, '--json', '--wait', '10'], env())).stdout,
    );
    expect(verify.tables.filter((t: { agree: boolean }) => !t.agree)).toEqual([]);
    expect(verify.agree).toBe(true);
    expect(await proc.terminate()).toBe(0);
  }, 240_000);

  it('stops only the table whose schema change the sinks cannot follow', async () => {
    const port = await freePort();
    const proc = startTidemark(['run', '--config', config], env(port), port);
    await proc.ready(90_000);
    // WHEN b's column becomes an int (text → int: neither sink can follow) while a keeps changing
    await psql(
      src.url,
      `ALTER TABLE public.b ALTER COLUMN v TYPE int USING length(v);
       INSERT INTO public.b VALUES (1000, 7);
       INSERT INTO public.a SELECT g, 'later' FROM generate_series(1000, 1049) g;`,
    );
    // THEN b is paused with the reason, a goes on, and the process keeps running
    await until('a mirrored', async () => (await count('a', `v = 'later'`)) === 50);
    await until(`b stopped:\n${proc.stderr().slice(-3000)}`, async () =>
      /paused public\.b since .*cannot (change type|follow)/.test(
        (await runCli(['status', '--config', config], env())).stdout,
      ),
    );
    expect(proc.stderr()).toMatch(/table stopped: a schema change its sinks cannot follow/);
    expect(await count('b', 'id = 1000')).toBe(0);
    await psql(src.url, `INSERT INTO public.a VALUES (2000, 'still going')`);
    await until('a still mirrored', async () => (await count('a', 'id = 2000')) === 1);
    expect(await proc.terminate()).toBe(0);
  }, 240_000);

  it('is refused in embedded mode, where the slot would hold every table', async () => {
    const embedded = writeConfig(
      dir,
      'embedded.yaml',
      `pipeline: ${src.name}_emb
source: { url: \${SRC_URL}, tables: ["public.*"] }
log: { kind: embedded }
offsets: { kind: file, path: ${dir}/offsets.json }
sinks:
  warehouse: { kind: postgres, url: \${WH_URL} }
`,
    );
    const r = await runCli(['pause', '--table', 'b', '--config', embedded], env());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/wait in Kafka; with log\.kind embedded they would hold the slot/);
  });
});
