import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWithPyIceberg } from '../integration/iceberg/iceberg-fixtures';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import { settled } from '../support/settled';
import { killAllTidemarks, pipelineYaml, runPipeline, writeConfig } from '../support/tidemark-process';
import { waitForSlot } from './support/shop-mirror';

/**
 * Types with no exact mapping (ranges, network addresses, geometry, XML, full-text vectors, bit
 * strings, composite types, and arrays of them) are mirrored as their Postgres text form: the
 * warehouse column and the Iceberg string hold exactly what the type's output function prints in the source, from
 * the snapshot and from the stream, NULLs and awkward characters included.
 */
const COLUMNS: Array<[string, string]> = [
  ['r', 'tstzrange'],
  ['ra', 'int4range[]'],
  ['ip', 'inet'],
  ['net', 'cidr'],
  ['mac', 'macaddr'],
  ['pt', 'point'],
  ['x', 'xml'],
  ['tv', 'tsvector'],
  ['bits', 'bit varying(16)'],
  ['ad', 'addr'],
  ['ads', 'addr[]'],
  ['ch', '"char"'],
];
const ROW = (id: number) => `(${id},
  tstzrange('2024-01-01 00:00+00', '2024-02-01 00:00+00', '[)'), ARRAY[int4range(1, 5), 'empty'::int4range],
  '192.168.0.${id}/24', '10.0.0.0/8', '08:00:2b:01:02:03', point(${id}, -2.5),
  '<a b="1">x &amp; y</a>', to_tsvector('simple', 'the quick fox ${id}'), B'1011',
  ROW('Main St, "No" 5', ${id})::addr, ARRAY[ROW('a', 1)::addr, ROW(NULL, 2)::addr], 'q')`;

describe('types mirrored as their text form', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    src = await createTestDatabase('e2e_textty');
    wh = await createTestDatabase('e2e_texttyw');
    await psql(
      src.url,
      `CREATE TYPE addr AS (street text, zip int);
       CREATE TABLE odd_types (id int PRIMARY KEY, ${COLUMNS.map(([n, t]) => `${n} ${t}`).join(', ')});
       INSERT INTO odd_types VALUES ${ROW(1)}; INSERT INTO odd_types (id) VALUES (2);`,
    );
    dir = mkdtempSync(join(tmpdir(), 'tm-textty-'));
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('holds what the source prints, in both sinks', async () => {
    const config = writeConfig(
      dir,
      'tidemark.yaml',
      pipelineYaml('embedded', src.name, dir, 'public.odd_types'),
    );
    const proc = await runPipeline(config, { SRC_URL: src.url, WH_URL: wh.url });
    await waitForSlot(src.url, `tidemark_${src.name}`);
    await psql(
      src.url,
      `INSERT INTO odd_types VALUES ${ROW(3)}; UPDATE odd_types SET ip = '::1', ch = 'z' WHERE id = 1`,
    );
    await waitForSlot(src.url, `tidemark_${src.name}`);
    // format('%s') prints with the type's output function, as pgoutput and COPY do (::text of an
    // inet adds its netmask: '::1/128' where the output function prints '::1').
    const select = `SELECT id, ${COLUMNS.map(([n]) => `CASE WHEN ${n} IS NULL THEN NULL ELSE format('%s', ${n}) END AS ${n}`).join(', ')} FROM odd_types ORDER BY id`;
    const expected = await psql<Record<string, unknown>>(src.url, select);
    expect(expected).toHaveLength(3);
    const inWarehouse = await settled(
      () =>
        psql<Record<string, unknown>>(
          wh.url,
          select.replace('FROM odd_types', 'FROM public.odd_types'),
        ).catch(() => []),
      expected,
    );
    expect(inWarehouse).toEqual(expected);
    expect(await proc.terminate()).toBe(0);
    // AND Iceberg holds the same text, an array as a list of its elements' text
    const ice = (await readWithPyIceberg(`sqlite:///${dir}/catalog.db`, 'public.odd_types')).rows as Array<
      Record<string, unknown>
    >;
    const elements = (n: string) =>
      `CASE WHEN ${n} IS NULL THEN NULL ELSE ARRAY(SELECT format('%s', ${n}[i]) FROM generate_subscripts(${n}, 1) i ORDER BY i) END AS ${n}`;
    const asLists = await psql<Record<string, unknown>>(
      src.url,
      select.replace(/CASE WHEN (ra|ads) IS NULL THEN NULL ELSE format\('%s', \1\) END AS \1/g, (_m, n) =>
        elements(n),
      ),
    );
    expect(ice.sort((a, b) => Number(a.id) - Number(b.id))).toEqual(asLists);
  }, 300_000);
});
