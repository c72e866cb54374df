import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../../src/config/load';
import { isTidemarkError } from '../../../src/core/errors';

const env = { PG: 'postgres://tm:s3cret@db:5432/app', KAFKA: 'k1:9092,k2:9092', REDIS: 'redis://r:6379' };
const good = `
pipeline: shop
source:
  url: \${PG}
  tables: [public.orders, "inventory.*"]
  snapshot: initial
log: { kind: kafka, brokers: \${KAFKA}, topicPrefix: shop }
offsets: { kind: redis, url: \${REDIS} }
`;

function configErrorOf(text: string, e: NodeJS.ProcessEnv = env): string {
  try {
    parseConfig(text, e);
  } catch (err) {
    if (isTidemarkError(err, 'config')) return err.message;
    throw err;
  }
  throw new Error('expected a config error');
}

describe('config', () => {
  it('parses the documented example, fills defaults and derives names', () => {
    const c = parseConfig(good, env);
    expect(c.pipeline).toBe('shop');
    expect(c.source.slot).toBe('tidemark_shop');
    expect(c.source.publication).toBe('tidemark_shop');
    expect(c.source.tables).toEqual(['public.orders', 'inventory.*']);
    expect(c.log.kind === 'kafka' && c.log.brokers).toEqual(['k1:9092', 'k2:9092']);
    expect(c.topicPrefix).toBe('shop');
    expect(c.source.url.reveal()).toBe(env.PG);
    expect(c.tableOptions('public.orders').mode).toBe('mirror');
    expect(Object.isFrozen(c.source)).toBe(true);
  });

  it('never shows a password in its printed form', () => {
    const c = parseConfig(good, env);
    const printed = JSON.stringify(c) + String(c.source.url);
    expect(printed).not.toContain('s3cret');
  });

  it.each([
    [good.replace('snapshot: initial', 'snapshot: sometimes'), /"source\.snapshot"/],
    [good.replace('pipeline: shop', 'pipeline: Shop!'), /"pipeline"/],
    [good.replace('kind: kafka', 'kind: rabbit'), /"log\.kind"/],
    [good.replace('tables: [public.orders, "inventory.*"]', 'tables: [orders]'), /"source\.tables\.0"/],
    [`${good}\nsurprise: 1\n`, /unknown key\(s\) "surprise"/],
    [good.replace('${PG}', 'postgres://tm:plain@db/app'), /"source\.url" holds a plain password/],
    ['pipeline: [', /not valid YAML/],
  ])('rejects a bad config with one message naming the key (%#)', (text, pattern) => {
    expect(configErrorOf(text)).toMatch(pattern);
  });

  it('names the missing environment variable and the key that needs it', () => {
    expect(configErrorOf(good, { KAFKA: 'k', REDIS: 'redis://r' })).toMatch(
      /"source\.url": environment variable PG is not set/,
    );
  });

  it('accepts ${VAR:-default}', () => {
    const c = parseConfig(good.replace('${REDIS}', '${NOPE:-redis://localhost:6379}'), env);
    expect(c.offsets.kind === 'redis' && c.offsets.url.reveal()).toBe('redis://localhost:6379');
  });

  it("leaves DuckDB's memory to DuckDB unless told, and refuses a limit it cannot work in", () => {
    const withWarehouse = (wh: string) => `${good}sinks: { warehouse: ${wh} }\n`;
    const c = parseConfig(withWarehouse('{ kind: duckdb, path: ./w.duckdb }'), env);
    expect(c.sinks.warehouse?.kind === 'duckdb' && c.sinks.warehouse.memoryLimit).toBeUndefined();
    const set = parseConfig(withWarehouse('{ kind: duckdb, path: ./w.duckdb, memoryLimit: 2GB }'), env);
    expect(set.sinks.warehouse?.kind === 'duckdb' && set.sinks.warehouse.memoryLimit).toBe('2GB');
    expect(configErrorOf(withWarehouse('{ kind: duckdb, path: w, memoryLimit: lots }'))).toMatch(
      /"sinks\.warehouse\.memoryLimit": a size such as 512MiB or 2GB/,
    );
    expect(configErrorOf(withWarehouse('{ kind: duckdb, path: w, memoryLimit: 10MB }'))).toMatch(
      /"sinks\.warehouse\.memoryLimit": at least 64MiB/,
    );
  });

  it('bounds the Iceberg snapshots kept by count as well as by age, and refuses a bound below the ones always kept', () => {
    const withMaintenance = (m: string) =>
      `${good}sinks: { iceberg: { catalog: { kind: sql, url: "sqlite://c.db" }, location: ./lake, maintenance: ${m} } }\n`;
    const c = parseConfig(withMaintenance('{}'), env);
    expect(c.sinks.iceberg?.maintenance).toMatchObject({ keepSnapshots: 100, maxSnapshots: 1000 });
    expect(configErrorOf(withMaintenance('{ keepSnapshots: 50, maxSnapshots: 10 }'))).toMatch(
      /"sinks\.iceberg\.maintenance\.maxSnapshots": maxSnapshots must be at least keepSnapshots/,
    );
  });

  it("bounds log.maxMessageBytes between Kafka's default and what one produce request can carry", () => {
    const withLimit = (n: number) =>
      good.replace('topicPrefix: shop }', `topicPrefix: shop, maxMessageBytes: ${n} }`);
    const c = parseConfig(good, env);
    expect(c.log.kind === 'kafka' && c.log.maxMessageBytes).toBe(32 * 1024 * 1024);
    expect(configErrorOf(withLimit(1000))).toMatch(/"log\.maxMessageBytes": must be at least 1048576/);
    expect(configErrorOf(withLimit(200 * 1024 * 1024))).toMatch(
      /"log\.maxMessageBytes": must be at most 100663296 .*socket\.request\.max\.bytes/,
    );
  });

  it('takes one Iceberg namespace for every table, of one level', () => {
    const withNamespace = (ns: string) =>
      `${good}sinks:\n  iceberg: { catalog: { kind: sql, url: "sqlite:///tmp/c.db" }, location: /tmp/lake, namespace: ${ns} }\n`;
    expect(parseConfig(withNamespace('bronze'), env).sinks.iceberg?.namespace).toBe('bronze');
    expect(parseConfig(good, env).sinks.iceberg?.namespace).toBeUndefined();
    expect(configErrorOf(withNamespace('lake.bronze'))).toMatch(
      /"sinks\.iceberg\.namespace": must be one namespace level, without a dot/,
    );
  });

  it('needs a mask key from the environment for masked columns, and a column masked or excluded, not both', () => {
    const masked = `${good}tables:\n  public.orders: { mask: [email] }\n`;
    expect(configErrorOf(masked)).toBe('config key "tables.public.orders.mask" needs source.maskKey');
    const inFile = masked.replace('snapshot: initial', 'snapshot: initial\n  maskKey: 0123456789abcdefXYZ');
    expect(configErrorOf(inFile)).toBe('config key "source.maskKey" is written in the file');
    const fromEnv = masked.replace('snapshot: initial', 'snapshot: initial\n  maskKey: ${MK}');
    const c = parseConfig(fromEnv, { ...env, MK: '0123456789abcdefXYZ' });
    expect(c.source.maskKey?.reveal()).toBe('0123456789abcdefXYZ');
    expect(JSON.stringify(c)).not.toContain('0123456789abcdefXYZ');
    expect(configErrorOf(fromEnv, { ...env, MK: 'short' })).toContain('source.maskKey');
    const both = fromEnv.replace('{ mask: [email] }', '{ mask: [email], exclude: [email] }');
    expect(configErrorOf(both, { ...env, MK: '0123456789abcdefXYZ' })).toBe(
      'config key "tables.public.orders": email both masked and excluded',
    );
  });

  it('copies a table on its own unless it or the pipeline says snapshot never, which a rebuild or refresh cannot go with', () => {
    const withTables = (t: string) => `${good}tables:\n${t}`;
    const c = parseConfig(withTables('  public.events: { snapshot: never }\n'), env);
    expect(c.copiesOnItsOwn('public.orders')).toBe(true);
    expect(c.copiesOnItsOwn('public.events')).toBe(false);
    const never = parseConfig(good.replace('snapshot: initial', 'snapshot: never'), env);
    expect(never.copiesOnItsOwn('public.orders')).toBe(false);
    expect(configErrorOf(withTables('  public.events: { snapshot: initial }\n'))).toMatch(
      /"tables\.public\.events\.snapshot"/,
    );
    expect(
      configErrorOf(withTables('  public.events: { snapshot: never, onIncompatibleSchema: rebuild }\n')),
    ).toBe(
      'config key "tables.public.events.snapshot": never cannot go with onIncompatibleSchema: rebuild (a rebuilt table is filled again by a copy)',
    );
    expect(configErrorOf(withTables('  public.events: { snapshot: never, refreshEveryMs: 60000 }\n'))).toBe(
      'config key "tables.public.events.snapshot": never cannot go with refreshEveryMs (a scheduled copy)',
    );
  });

  it('reads secrets from mounted files: ${file:/path}, or NAME_FILE for an unset NAME', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tm-secret-'));
    writeFileSync(join(dir, 'pg'), 'postgres://tm:from-file@db:5432/app\n');
    writeFileSync(join(dir, 'redis'), 'redis://:pw@r:6379');
    const c = parseConfig(good.replace('${PG}', `\${file:${join(dir, 'pg')}}`), env);
    expect(c.source.url.reveal()).toBe('postgres://tm:from-file@db:5432/app');
    const { REDIS: _unset, ...rest } = env;
    const d = parseConfig(good, { ...rest, REDIS_FILE: join(dir, 'redis') });
    expect(d.offsets.kind === 'redis' && d.offsets.url.reveal()).toBe('redis://:pw@r:6379');
    expect(configErrorOf(good.replace('${PG}', '${file:/no/such/secret}'))).toMatch(
      /^config key "source\.url": cannot read \/no\/such\/secret/,
    );
  });
});
