import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret } from '../../../src/config/secret';
import { isTidemarkError } from '../../../src/core/errors';
import type { TableSchema } from '../../../src/core/table-schema';
import type { Logger } from '../../../src/observe/logger';
import type { TableIdent } from '../../../src/sink/iceberg/catalog';
import { LocalFileIO } from '../../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../../src/sink/iceberg/lakehouse';
import { RestCatalog, type RestCatalogOptions } from '../../../src/sink/iceberg/rest-catalog';
import { COMMIT_ID_PROPERTY } from '../../../src/sink/iceberg/snapshot-builder';
import {
  allTypesRow,
  allTypesSchema,
  byId,
  del,
  nullRow,
  readWithJava,
  readWithPyIceberg,
  toPlain,
  upsert,
} from './iceberg-fixtures';
import { RestFaultProxy } from './rest-fault-proxy';

/**
 * Tables written through Apache Iceberg's own REST catalog server (RESTCatalogServer from
 * iceberg-open-api's test fixtures, started by scripts/services as `rest`), then read back through
 * that server by PyIceberg's RestCatalog and Iceberg Java's RESTCatalog.
 */
const URL_ = process.env.TIDEMARK_ICEBERG_REST_URL!;
const ns = `rest_${randomUUID().slice(0, 8)}`;
const io = new LocalFileIO();

const simple = (table: string, withNote = false): TableSchema => ({
  schema: ns,
  table,
  version: withNote ? 2 : 1,
  primaryKey: ['id'],
  columns: [
    { name: 'id', attnum: 1, type: { kind: 'int64' }, pgType: 'bigint', nullable: false },
    { name: 'v', attnum: 2, type: { kind: 'text' }, pgType: 'text', nullable: true },
    ...(withNote
      ? [{ name: 'note', attnum: 3, type: { kind: 'text' as const }, pgType: 'text', nullable: true }]
      : []),
  ],
});
const row = (n: number, v = `v${n}`) => ({ id: BigInt(n), v });
const plain = (n: number, v = `v${n}`) => ({ id: n, v });
const ident = (table: string): TableIdent => ({ namespace: ns, name: table });

describe('Iceberg REST catalog: Apache Iceberg REST server, read back by PyIceberg and Iceberg Java', () => {
  let dir: string;
  let warehouse: string;
  const opened: RestCatalog[] = [];
  const proxies: RestFaultProxy[] = [];

  const open = async (opts: Partial<RestCatalogOptions> = {}) => {
    const c = await RestCatalog.open({ url: URL_, ...opts });
    opened.push(c);
    return c;
  };
  const lakeOn = (catalog: RestCatalog) => new Lakehouse({ catalog, io, warehouse, targetFileRows: 3 });
  const proxy = async () => {
    const p = await new RestFaultProxy(URL_).start();
    proxies.push(p);
    return p;
  };
  const pyRows = async (table: string, snapshot?: number) =>
    byId((await readWithPyIceberg(URL_, `${ns}.${table}`, snapshot)).rows);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'iceberg-rest-'));
    warehouse = `file://${dir}/warehouse`;
  });
  afterAll(async () => {
    const catalog = await open();
    for (const t of await catalog.listTables(ns)) await catalog.dropTable(t);
    await fetch(`${URL_}/v1/namespaces/${ns}`, { method: 'DELETE' }); // the server is shared: leave it clean
    for (const c of opened) await c.close();
    for (const p of proxies) await p.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('inserts, updates and deletes of every type land as the server writes them; PyIceberg and Java read them', async () => {
    // GIVEN a table of every type, registered with the metadata file tidemark wrote
    const catalog = await open();
    const lake = lakeOn(catalog);
    const schema = { ...allTypesSchema('all_types'), schema: ns };
    await lake.createTable(schema);
    const created = (await catalog.loadTable(ident('all_types')))!;

    // WHEN five rows are inserted, then one updated, one deleted, one added
    const first = [1, 2, 3, 4].map(allTypesRow).concat([nullRow(5, schema)]);
    const s1 = await lake.stage(schema, {
      truncatedAt: null,
      changes: first.map((r, i) => upsert(schema, r, i)),
    });
    const c1 = await lake.commit([s1], { properties: { 'tidemark.token.ch': 'a' } });
    const row2 = { ...allTypesRow(2), txt: 'updated', ints: [7] };
    const s2 = await lake.stage(schema, {
      truncatedAt: null,
      changes: [upsert(schema, row2, 10), del(schema, { id: 3n }, 11), upsert(schema, allTypesRow(6), 12)],
    });
    await lake.commit([s2], { properties: { 'tidemark.token.ch': 'b' } });

    // THEN the table's metadata file is the server's (not one tidemark wrote), its summary
    // carries the token, and both independent readers see the rows, also at the first snapshot
    const now = (await catalog.loadTable(ident('all_types')))!;
    expect(now.location).not.toBe(created.location);
    expect(now.metadata.snapshots).toHaveLength(2);
    expect((await lake.readSummary(schema))?.['tidemark.token.ch']).toBe('b');
    const expected = [allTypesRow(1), row2, allTypesRow(4), nullRow(5, schema), allTypesRow(6)].map((r) =>
      toPlain(r, schema),
    );
    expect(await pyRows('all_types')).toEqual(expected);
    expect(byId((await readWithJava(URL_, '', '', `${ns}.all_types`)).rows)).toEqual(expected);
    const snap1 = c1.snapshots.get(`${ns}.all_types`)!;
    expect(await pyRows('all_types', snap1)).toEqual(first.map((r) => toPlain(r, schema)));
  });

  test('schema evolution: an added column is an add-schema commit; rows before it read null', async () => {
    const lake = lakeOn(await open());
    await lake.createTable(simple('evolving'));
    await lake.commit(
      [
        await lake.stage(simple('evolving'), {
          truncatedAt: null,
          changes: [upsert(simple('evolving'), row(1), 1)],
        }),
      ],
      {
        properties: { 'tidemark.token.ch': '1' },
      },
    );

    // WHEN the source adds a column and a row uses it
    expect(await lake.evolve(simple('evolving', true))).toBe(true);
    const s = await lake.stage(simple('evolving', true), {
      truncatedAt: null,
      changes: [upsert(simple('evolving', true), { ...row(2), note: 'hi' }, 2)],
    });
    await lake.commit([s], { properties: { 'tidemark.token.ch': '2' } });

    // THEN the server's table has the new schema current, and PyIceberg reads both rows
    const m = (await lake.metadata(simple('evolving')))!;
    expect(m.schemas).toHaveLength(2);
    expect(
      m.schemas.find((x) => x['schema-id'] === m['current-schema-id'])!.fields.map((f) => f.name),
    ).toEqual(['id', 'v', 'note']);
    expect(await pyRows('evolving')).toEqual([
      { ...plain(1), note: null },
      { ...plain(2), note: 'hi' },
    ]);
  });

  test('a multi-table commit lands in both tables (transactions/commit); one failed requirement leaves both unchanged', async () => {
    const catalog = await open();
    const lake = lakeOn(catalog);
    const [a, b] = [simple('multi_a'), simple('multi_b')];
    await lake.createTable(a);
    await lake.createTable(b);

    // WHEN one commit carries both tables
    const out = await lake.commit(
      [
        await lake.stage(a, { truncatedAt: null, changes: [upsert(a, row(1), 1)] }),
        await lake.stage(b, { truncatedAt: null, changes: [upsert(b, row(2), 2)] }),
      ],
      { properties: { 'tidemark.token.ch': 'm1' } },
    );

    // THEN both current snapshots carry its commit id, and the readers see both rows
    expect((await lake.readSummary(a))?.[COMMIT_ID_PROPERTY]).toBe(out.commitId);
    expect((await lake.readSummary(b))?.[COMMIT_ID_PROPERTY]).toBe(out.commitId);
    expect(await pyRows('multi_a')).toEqual([plain(1)]);
    expect(await pyRows('multi_b')).toEqual([plain(2)]);

    // WHEN a two-table swap has a stale requirement in its second table
    const ma = (await catalog.loadTable(ident('multi_a')))!;
    const mb = (await catalog.loadTable(ident('multi_b')))!;
    const staleB = {
      ...mb.metadata,
      'current-snapshot-id': 42,
      refs: { main: { 'snapshot-id': 42, type: 'branch' as const } },
    };
    const probe = (m: typeof ma.metadata) => ({ ...m, properties: { ...m.properties, probe: 'x' } });
    const outcome = await catalog.swap([
      {
        table: ident('multi_a'),
        expected: ma.location,
        next: '',
        expectedMetadata: ma.metadata,
        nextMetadata: probe(ma.metadata),
      },
      {
        table: ident('multi_b'),
        expected: mb.location,
        next: '',
        expectedMetadata: staleB,
        nextMetadata: probe(staleB),
      },
    ]);

    // THEN it is a conflict and neither table moved
    expect(outcome.kind).toBe('conflict');
    expect((await catalog.loadTable(ident('multi_a')))!.location).toBe(ma.location);
    expect((await catalog.loadTable(ident('multi_b')))!.location).toBe(mb.location);
  });

  test('a round in parts (a transaction larger than the sink buffers) is one snapshot the server adds; the readers see it whole', async () => {
    // GIVEN a table holding rows 1 and 2
    const catalog = await open();
    const lake = lakeOn(catalog);
    const t = simple('parted');
    await lake.createTable(t);
    await lake.commit(
      [await lake.stage(t, { truncatedAt: null, changes: [upsert(t, row(1), 1), upsert(t, row(2), 2)] })],
      {
        properties: { 'tidemark.token.ch': 'p0' },
      },
    );
    const before = (await catalog.loadTable(ident('parted')))!.metadata;
    // WHEN two parts of one transaction are staged (the second replaces a row of the first and of
    // the table, deletes another), then committed together
    const ev = (op: 'c' | 'u' | 'd', n: number, v: string | null, seq: number) => ({
      op,
      table: { schema: ns, table: 'parted' },
      position: { lsn: 0x50n, seq },
      txId: 1,
      commitTimeMs: 0,
      schemaVersion: 1,
      before: op === 'c' ? null : { id: BigInt(n) },
      after: op === 'd' ? null : row(n, v ?? ''),
      unchanged: [],
      snapshot: false,
    });
    const p1 = await lake.stagePart(t, [ev('c', 3, 'three', 0), ev('u', 1, 'one', 1)]);
    const p2 = await lake.stagePart(t, [ev('u', 3, 'THREE', 2), ev('u', 1, 'uno', 3), ev('d', 2, null, 4)]);
    const out = await lake.commit([p1, p2], { properties: { 'tidemark.token.ch': 'p1' } });
    // THEN the server holds one new snapshot, on the previous one, and PyIceberg reads the whole transaction
    const after = (await catalog.loadTable(ident('parted')))!.metadata;
    expect(after.snapshots).toHaveLength(before.snapshots.length + 1);
    const added = after.snapshots.find((x) => x['snapshot-id'] === after['current-snapshot-id'])!;
    expect(added['parent-snapshot-id']).toBe(before['current-snapshot-id']);
    expect(added.summary[COMMIT_ID_PROPERTY]).toBe(out.commitId);
    expect(await pyRows('parted')).toEqual([plain(1, 'uno'), plain(3, 'THREE')]);
  });

  test('a schema change between the parts of a round reaches the server with the round: add-schema and the rows in one commit', async () => {
    // GIVEN a table holding rows 1 and 2, and a round in parts that wrote row 3
    const catalog = await open();
    const lake = lakeOn(catalog);
    const t = simple('parted_alter');
    await lake.createTable(t);
    await lake.commit(
      [await lake.stage(t, { truncatedAt: null, changes: [upsert(t, row(1), 1), upsert(t, row(2), 2)] })],
      {
        properties: { 'tidemark.token.ch': 'a0' },
      },
    );
    const ev = (schema: TableSchema, n: number, after: Record<string, unknown>, seq: number) => ({
      op: 'c' as const,
      table: { schema: ns, table: 'parted_alter' },
      position: { lsn: 0x60n, seq },
      txId: 1,
      commitTimeMs: 0,
      schemaVersion: schema.version,
      before: null,
      after: { id: BigInt(n), ...after },
      unchanged: [],
      snapshot: false,
    });
    const p1 = await lake.stagePart(t, [ev(t, 3, { v: 'three' }, 0)]);
    // WHEN the transaction adds a column with DEFAULT 'd' (every row there holds it), then writes row 4
    const t2: TableSchema = {
      ...t,
      version: 2,
      columns: [
        ...t.columns,
        { name: 'note', attnum: 3, type: { kind: 'text' }, pgType: 'text', nullable: true, fill: 'd' },
      ],
    };
    const rewrite = await lake.evolveInRound(t2);
    expect(rewrite).not.toBeNull();
    const p2 = await lake.stagePart(t2, [ev(t2, 4, { v: 'four', note: 'mine' }, 1)]);
    // THEN the server shows none of it before the commit
    expect((await catalog.loadTable(ident('parted_alter')))!.metadata.schemas).toHaveLength(1);
    await lake.commit([p1, rewrite!, p2], { properties: { 'tidemark.token.ch': 'a1' } });
    // AND after it the server holds the new schema, and PyIceberg and Java read every row with the default
    const after = (await catalog.loadTable(ident('parted_alter')))!.metadata;
    expect(after.schemas).toHaveLength(2);
    const want = [
      { ...plain(1), note: 'd' },
      { ...plain(2), note: 'd' },
      { ...plain(3, 'three'), note: 'd' },
      { ...plain(4, 'four'), note: 'mine' },
    ];
    expect(await pyRows('parted_alter')).toEqual(want);
    expect(byId((await readWithJava(URL_, '', '', `${ns}.parted_alter`)).rows)).toEqual(want);
  });

  test("another writer's commit in between is a conflict: the commit reloads, rebases and lands at its second attempt", async () => {
    // GIVEN two writers, each with its own catalog client, on one table
    const writerA = lakeOn(await open());
    const writerB = lakeOn(await open());
    const t = simple('contended');
    await writerA.createTable(t);
    await writerA.commit(
      [await writerA.stage(t, { truncatedAt: null, changes: [1, 2].map((n) => upsert(t, row(n), n)) })],
      {
        properties: { 'tidemark.token.a': '1' },
      },
    );

    // WHEN B commits after A staged its next change
    const stagedByA = await writerA.stage(t, {
      truncatedAt: null,
      changes: [upsert(t, row(3), 3), del(t, { id: 1n }, 4)],
    });
    await writerB.commit([await writerB.stage(t, { truncatedAt: null, changes: [upsert(t, row(10), 10)] })], {
      properties: { 'tidemark.token.b': '1' },
    });
    const seenByA: (string | undefined)[] = [];
    const result = await writerA.commit([stagedByA], {
      properties: { 'tidemark.token.a': '2' },
      expected: (_t, summary) => {
        seenByA.push(summary?.['tidemark.token.b']);
        return true;
      },
    });

    // THEN A's first attempt conflicted (the server refused its requirement), its second one was
    // checked against B's commit and landed on top of it
    expect(result.attempts).toBe(2);
    expect(seenByA).toEqual([undefined, '1']);
    expect(await pyRows('contended')).toEqual([plain(2), plain(3), plain(10)]);
  });

  test('an answer lost after the server committed is an unknown outcome: the commit id is found, nothing is repeated', async () => {
    const p = await proxy();
    const lake = lakeOn(await open({ url: p.url }));
    const t = simple('lost_answer');
    await lake.createTable(t);

    // WHEN the server commits but its answer never arrives
    p.cutNext = { method: 'POST', path: /\/tables\/lost_answer$/ };
    const s = await lake.stage(t, { truncatedAt: null, changes: [upsert(t, row(1), 1)] });
    const result = await lake.commit([s], { properties: { 'tidemark.token.ch': 'x' } });

    // THEN the writer found its commit id (no snapshot ids: the unknown path) and the table has
    // exactly one snapshot; the next commit goes on from it
    expect(p.cutNext).toBeNull();
    expect(result.snapshots.size).toBe(0);
    const m = await lake.metadata(t);
    expect(m.snapshots.map((x) => x.summary[COMMIT_ID_PROPERTY])).toEqual([result.commitId]);
    await lake.commit(
      [await lake.stage(t, { truncatedAt: null, changes: [upsert(t, row(1, 'again'), 2)] })],
      {
        properties: { 'tidemark.token.ch': 'y' },
      },
    );
    expect(await pyRows('lost_answer')).toEqual([plain(1, 'again')]);
  });

  test('maintenance: compaction and snapshot expiry (remove-snapshots) keep the rows and the tokens; orphan removal spares the server files', async () => {
    const catalog = await open();
    const lake = lakeOn(catalog);
    const t = simple('maintained');
    await lake.createTable(t);
    for (let i = 0; i < 4; i++) {
      const changes = [upsert(t, row(i * 2), i * 2), upsert(t, row(i * 2 + 1), i * 2 + 1)];
      if (i > 0) changes.push(del(t, { id: BigInt(i * 2 - 1) }, 100 + i));
      await lake.commit([await lake.stage(t, { truncatedAt: null, changes })], {
        properties: { 'tidemark.token.ch': String(i) },
      });
    }
    const expected = [0, 2, 4, 6, 7].map((n) => plain(n));
    expect(await pyRows('maintained')).toEqual(expected);

    // WHEN the table is compacted, then every snapshot but the current one expires
    const compacted = await lake.compact(t, 100, 'all');
    expect(compacted.rewrittenFiles).toBeGreaterThan(0);
    const expired = await lake.expire(t, { keepLast: 1, olderThanMs: 0, orphansOlderThanMs: 0 });

    // THEN the server holds one snapshot (a replace), still carrying the token, and both readers see the rows
    expect(expired.expired).toBe(4);
    const m = (await catalog.loadTable(ident('maintained')))!.metadata;
    expect(m.snapshots).toHaveLength(1);
    expect(m.snapshots[0]!.summary.operation).toBe('replace');
    expect(m.snapshots[0]!.summary['tidemark.token.ch']).toBe('3');
    expect(await pyRows('maintained')).toEqual(expected);
    expect(byId((await readWithJava(URL_, '', '', `${ns}.maintained`)).rows)).toEqual(expected);

    // AND the writer goes on after it
    await lake.commit([await lake.stage(t, { truncatedAt: null, changes: [del(t, { id: 0n }, 200)] })], {
      properties: { 'tidemark.token.ch': '4' },
    });
    expect(await pyRows('maintained')).toEqual(expected.slice(1));
  });

  test('restart: a new Lakehouse on a new catalog client resumes the tokens from the snapshot summary and commits on top', async () => {
    const t = simple('restarted');
    const before = lakeOn(await open());
    await before.createTable(t);
    await before.commit(
      [await before.stage(t, { truncatedAt: null, changes: [1, 2, 3].map((n) => upsert(t, row(n), n)) })],
      {
        properties: { 'tidemark.token.ch': '0/100', 'tidemark.cut-lsn': '0/100' },
      },
    );

    // WHEN a new process opens the same table
    const after = lakeOn(await open());
    await after.createTable(t); // idempotent: it exists

    // THEN it reads the tokens and its key index (rebuilt from the data) updates the right rows
    expect(await after.readSummary(t)).toMatchObject({
      'tidemark.token.ch': '0/100',
      'tidemark.cut-lsn': '0/100',
    });
    await after.commit(
      [
        await after.stage(t, {
          truncatedAt: null,
          changes: [upsert(t, row(2, 'new'), 4), del(t, { id: 3n }, 5)],
        }),
      ],
      {
        properties: { 'tidemark.token.ch': '0/200' },
      },
    );
    expect(await pyRows('restarted')).toEqual([plain(1), plain(2, 'new')]);
    expect((await before.readSummary(t))?.['tidemark.token.ch']).toBe('0/200');
  });

  test('OAuth2 client credentials and bearer tokens reach the server; listings follow next-page-token', async () => {
    // GIVEN a client with client credentials, through a proxy that records what it sends
    const p = await proxy();
    const catalog = await open({
      url: p.url,
      credential: new Secret('tidemark-client:client-secret'),
      pageSize: 1,
    });
    const lake = lakeOn(catalog);
    for (const name of ['listed_1', 'listed_2', 'listed_3']) await lake.createTable(simple(name));

    // THEN a token was fetched once, and every catalog request carried it
    const tokenCalls = p.seen.filter((r) => r.path === '/v1/oauth/tokens');
    expect(tokenCalls).toHaveLength(1);
    const others = p.seen.filter((r) => r.path !== '/v1/oauth/tokens');
    expect(new Set(others.map((r) => r.authorization))).toEqual(
      new Set(['Bearer client-credentials-token:sub=tidemark-client']),
    );

    // AND a listing of one table per page finds them all
    const listed = (await catalog.listTables(ns)).map((x) => x.name).filter((n) => n.startsWith('listed_'));
    expect(listed).toEqual(['listed_1', 'listed_2', 'listed_3']);
    expect(p.seen.some((r) => r.path.includes('pageToken='))).toBe(true);

    // AND a fixed bearer token is sent as it is
    const q = await proxy();
    await (await open({ url: q.url, token: new Secret('fixed-token') })).currentLocation(ident('listed_1'));
    expect(q.seen.every((r) => r.authorization === 'Bearer fixed-token')).toBe(true);
  });

  test('an https catalog is trusted through caFile (a private CA) and refused without it', async () => {
    const tls = join(process.env.TIDEMARK_SERVICES_DIR!, 'tls');
    const p = await new RestFaultProxy(URL_).start({
      key: readFileSync(join(tls, 'server.key')),
      cert: readFileSync(join(tls, 'server.crt')),
    });
    proxies.push(p);
    const trusted = await open({ url: p.url, caFile: process.env.TIDEMARK_TLS_CA });
    expect(await trusted.currentLocation(ident('no_such_table'))).toBeNull();
    const refused = await RestCatalog.open({ url: p.url }).catch((e: unknown) => e);
    expect(isTidemarkError(refused, 'transient')).toBe(true);
    expect(String((refused as Error).message)).toMatch(/certificate/);
  });

  test('a server without multi-table commits: refused by default; with allowNonAtomicCommits, table by table after a loud warning', async () => {
    const p = await proxy();
    p.hideTransactions = true;
    const warnings: string[] = [];
    const log = {
      warn: (_o: object, msg?: string) => warnings.push(msg ?? ''),
      debug() {},
      info() {},
      error() {},
      child: () => log,
    } as Logger;
    const [a, b] = [simple('solo_a'), simple('solo_b')];
    const stageBoth = async (lake: Lakehouse, n: number) => [
      await lake.stage(a, { truncatedAt: null, changes: [upsert(a, row(n), n)] }),
      await lake.stage(b, { truncatedAt: null, changes: [upsert(b, row(n), n)] }),
    ];

    // WHEN the flag is off
    const strict = lakeOn(await open({ url: p.url, log }));
    await strict.createTable(a);
    await strict.createTable(b);
    const refused = await strict
      .commit(await stageBoth(strict, 1), { properties: {} })
      .catch((e: unknown) => e);
    expect(isTidemarkError(refused, 'config')).toBe(true);
    expect(String((refused as Error).message)).toMatch(/lose their atomicity/);
    expect((await strict.readSummary(a)) ?? null).toBeNull();

    // WHEN it is on
    const lenient = lakeOn(await open({ url: p.url, log, allowNonAtomicCommits: true }));
    const out = await lenient.commit(await stageBoth(lenient, 2), { properties: {} });

    // THEN both tables got the commit, each on its own, and the warnings said so at start
    expect((await lenient.readSummary(a))?.[COMMIT_ID_PROPERTY]).toBe(out.commitId);
    expect((await lenient.readSummary(b))?.[COMMIT_ID_PROPERTY]).toBe(out.commitId);
    expect(p.seen.some((r) => r.path.endsWith('/transactions/commit'))).toBe(false);
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toMatch(/ATOMICITY ACROSS TABLES IS LOST/);
    expect(await pyRows('solo_b')).toEqual([plain(2)]);
  });
});
