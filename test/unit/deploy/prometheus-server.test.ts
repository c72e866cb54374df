import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHealthServer } from '../../../src/observe/health-server';
import { createRegistry } from '../../../src/observe/metrics';
import { sourceMetrics } from '../../../src/source/metrics';
import { ROOT, tool } from './support';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Polls the Prometheus HTTP API until `accept` returns a value (bounded: 60 s). */
async function until<T>(url: string, accept: (body: { data: unknown }) => T | undefined): Promise<T> {
  const deadline = Date.now() + 60_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      const body = (await res.json()) as { data: unknown };
      last = JSON.stringify(body).slice(0, 500);
      const v = accept(body);
      if (v !== undefined) return v;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`gave up waiting on ${url}; last answer: ${last}`);
}

/**
 * A real Prometheus server (Debian's package) scrapes tidemark's own /metrics server and evaluates
 * deploy/prometheus/alerts.yaml: the metric comes back through the query API, every rule evaluates
 * without error against the real series, and the slot-lag alert goes pending on a high lag.
 */
describe('Prometheus scraping tidemark with the alert rules loaded', () => {
  let dir: string;
  let prometheus: ChildProcess | null = null;
  let server: Server | null = null;
  let api = '';

  beforeAll(async () => {
    const registry = createRegistry('promtest');
    const source = sourceMetrics(registry);
    source.lagBytes.set(2 * 1024 ** 3);
    source.retainedWalBytes.set(1024 ** 3);
    server = await startHealthServer(0, registry, { notReadyReason: () => null });
    const target = `127.0.0.1:${(server.address() as AddressInfo).port}`;

    dir = mkdtempSync(join(tmpdir(), 'tidemark-prometheus-'));
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        `rule_files: [${JSON.stringify(join(ROOT, 'deploy', 'prometheus', 'alerts.yaml'))}]`,
        'scrape_configs:',
        '  - job_name: tidemark',
        `    static_configs: [{ targets: ["${target}"], labels: { role: source } }]`,
      ].join('\n'),
    );
    const port = await freePort();
    api = `http://127.0.0.1:${port}/api/v1`;
    prometheus = spawn(
      tool('prometheus'),
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: 'ignore' },
    );
  });

  afterAll(async () => {
    prometheus?.kill('SIGTERM');
    if (prometheus && prometheus.exitCode === null) await new Promise((r) => prometheus!.once('exit', r));
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the scraped slot lag back through the query API', async () => {
    const query = encodeURIComponent('tidemark_source_slot_lag_bytes{job="tidemark",role="source"}');
    const result = await until(`${api}/query?query=${query}`, (b) => {
      const r = (b.data as { result: Array<{ metric: Record<string, string>; value: [number, string] }> })
        .result;
      return r.length > 0 ? r : undefined;
    });
    expect(result).toHaveLength(1);
    expect(result[0]!.metric.pipeline).toBe('promtest');
    expect(Number(result[0]!.value[1])).toBe(2 * 1024 ** 3);
  });

  it('evaluates every rule without error, and the slot-lag alert goes pending', async () => {
    type Group = {
      rules: Array<{ name: string; health: string; lastError?: string; lastEvaluation: string }>;
    };
    const rules = await until(`${api}/rules`, (b) => {
      const all = (b.data as { groups: Group[] }).groups.flatMap((g) => g.rules);
      const evaluated = all.length > 0 && all.every((r) => !r.lastEvaluation.startsWith('0001-'));
      return evaluated ? all : undefined;
    });
    expect(rules.filter((r) => r.health !== 'ok')).toEqual([]);
    expect(rules.map((r) => r.name)).toEqual(
      expect.arrayContaining(['TidemarkSlotLagHigh', 'TidemarkNoCommit']),
    );

    const alerts = await until(`${api}/alerts`, (b) => {
      const a = (b.data as { alerts: Array<{ labels: Record<string, string>; state: string }> }).alerts;
      return a.some((x) => x.labels.alertname === 'TidemarkSlotLagHigh') ? a : undefined;
    });
    const lag = alerts.find((a) => a.labels.alertname === 'TidemarkSlotLagHigh')!;
    // `for: 10m`: pending now, firing only if the lag stays.
    expect(lag.state).toBe('pending');
    expect(lag.labels).toMatchObject({ pipeline: 'promtest', severity: 'warning', role: 'source' });
    // 1 GiB retained is below 80% of the 10 GiB max_slot_wal_keep_size.
    expect(alerts.map((a) => a.labels.alertname)).not.toContain('TidemarkRetainedWalHigh');
  });
});
