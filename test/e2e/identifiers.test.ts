import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { tableTopic } from '../../src/log/topics';
import { readWithPyIceberg } from '../integration/iceberg/iceberg-fixtures';
import { createTestDatabase, kafkaBrokers, psql, type TestDatabase } from '../support/services';
import { settled } from '../support/settled';
import { kafkaPipelineYaml, killAllTidemarks, runPipeline, writeConfig } from '../support/tidemark-process';
import { waitForSlot } from './support/shop-mirror';

/**
 * Identifiers as applications create them: quoted mixed-case names (ORMs), spaces, dots, a "$"
 * and non-ASCII letters, in table, schema and column names. Kafka topic names allow only
 * [A-Za-z0-9._-], and a dot in a name must not make two tables share a topic; the rows still
 * land under the source's own names in Iceberg (read by PyIceberg) and the warehouse.
 */
const DDL = `
CREATE SCHEMA "Sales";
CREATE TABLE "Sales"."Order Items" ("Id" int PRIMARY KEY, "Unit Price" numeric(10,2), "naïve" text);
CREATE TABLE public."User" (id int PRIMARY KEY, "createdAt" timestamptz, "e.mail" text);
CREATE TABLE public.order$lines (id int PRIMARY KEY, qty int);
INSERT INTO "Sales"."Order Items" VALUES (1, 9.99, 'café'), (2, NULL, NULL);
INSERT INTO public."User" VALUES (1, '2024-05-01T12:00:00Z', 'x@y.z');
INSERT INTO public.order$lines VALUES (1, 3);
`;

/** One row as text comparable across Postgres (pg's types) and PyIceberg (read_table.py's forms). */
function line(row: Record<string, unknown>): string {
  return Object.keys(row)
    .sort()
    .map((k) => {
      const v = row[k] as unknown;
      if (v instanceof Date) return `${k}=${v.getTime()}`;
      if (v && typeof v === 'object' && 'decimal' in v) return `${k}=${(v as { decimal: string }).decimal}`;
      if (v && typeof v === 'object' && 'tstz' in v)
        return `${k}=${BigInt((v as { tstz: string }).tstz) / 1000n}`;
      return `${k}=${v}`;
    })
    .join('|');
}
const lines = (rows: Array<Record<string, unknown>>) => rows.map(line).sort();

describe('identifiers Kafka topic names cannot hold', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    src = await createTestDatabase('e2e_idents');
    wh = await createTestDatabase('e2e_identsw');
    await psql(src.url, DDL);
    dir = mkdtempSync(join(tmpdir(), 'tm-idents-'));
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('mirrors them under their own names into both sinks', async () => {
    // GIVEN a pipeline on the Kafka path over every table
    const config = writeConfig(
      dir,
      'tidemark.yaml',
      kafkaPipelineYaml(
        src.name,
        dir,
        '"Sales.Order Items", "public.*"',
        'tables:\n  "Sales.Order Items": { onError: stop }\n',
      ),
    );
    const proc = await runPipeline(config, { SRC_URL: src.url, WH_URL: wh.url });
    await waitForSlot(src.url, `tidemark_${src.name}`);
    // WHEN rows change while it streams
    await psql(
      src.url,
      `UPDATE "Sales"."Order Items" SET "naïve" = 'über' WHERE "Id" = 2;
       INSERT INTO public."User" VALUES (2, '2024-05-02T00:00:00Z', NULL);
       UPDATE public.order$lines SET qty = 4;
       DELETE FROM public."User" WHERE id = 1;`,
    );
    await waitForSlot(src.url, `tidemark_${src.name}`);
    const tables: Array<[string, string, string]> = [
      ['"Sales"."Order Items"', 'Sales.Order Items', '"Id"'],
      ['public."User"', 'public.User', 'id'],
      ['public.order$lines', 'public.order$lines', 'id'],
    ];
    const expected = new Map<string, string[]>();
    for (const [sql] of tables) expected.set(sql, lines(await psql(src.url, `SELECT * FROM ${sql}`)));
    // THEN the warehouse holds each table under its own name
    for (const [sql] of tables) {
      const got = await settled(
        async () => lines(await psql(wh.url, `SELECT * FROM ${sql}`).catch(() => [])),
        expected.get(sql),
      );
      expect([sql, got]).toEqual([sql, expected.get(sql)]);
    }
    expect(await proc.terminate()).toBe(0);
    // AND so does Iceberg, read by PyIceberg
    for (const [sql, ident] of tables) {
      const ice = await readWithPyIceberg(`sqlite:///${dir}/catalog.db`, ident);
      expect([sql, lines(ice.rows as Array<Record<string, unknown>>)]).toEqual([sql, expected.get(sql)]);
    }
    // AND the topics are named within Kafka's alphabet, one per table
    const admin = new Kafka({ brokers: kafkaBrokers(), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const topics = (await admin.listTopics()).filter(
      (t) => t.startsWith(`${src.name}.`) && !t.includes('._tidemark.'),
    );
    await admin.disconnect();
    expect(topics.sort()).toEqual(
      [
        tableTopic(src.name, { schema: 'Sales', table: 'Order Items' }),
        `${src.name}.public.User`,
        tableTopic(src.name, { schema: 'public', table: 'order$lines' }),
      ].sort(),
    );
    for (const t of topics) expect(t).toMatch(/^[A-Za-z0-9._-]+$/);
  }, 300_000);
});
