/**
 * Records real pgoutput (protocol v1) messages from the local Postgres into
 * test/unit/source/fixtures/pgoutput-v1.json, for the decoder's unit tests.
 * Run: scripts/services up && source .services/env && npx tsx scripts/capture-pgoutput-fixtures.ts
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { SESSION_OPTIONS } from '../src/source/pg-connection';
import { PgTypeCatalog } from '../src/source/types/pg-type-catalog';

const WORKLOAD = `
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
CREATE TABLE everything (
  id bigint PRIMARY KEY,
  i2 smallint, i4 integer, i8 bigint,
  n102 numeric(10,2), n numeric, nneg numeric(5,-2), f4 real, f8 double precision, b boolean,
  t text, vc varchar(20), c char(5), by bytea,
  d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval,
  u uuid, j json, jb jsonb, arr_i integer[], arr_t text[], m mood, arr_m mood[], dom positive_int,
  big text
);
CREATE TABLE nokey (a int, b text);
CREATE TABLE unpublished (x int);
-- Out of line without compression: updates that leave it alone send it as unchanged TOAST.
ALTER TABLE everything ALTER COLUMN big SET STORAGE EXTERNAL;
ALTER TABLE nokey REPLICA IDENTITY FULL;
CREATE PUBLICATION fixture_pub FOR TABLE everything, nokey;
`;

const CHANGES = [
  `INSERT INTO everything VALUES (1, -32768, 2147483647, -9223372036854775808, -12345678.90,
     '-123456789012345678901234567890.123456789012345678901234567890', 12300, 'NaN', '-Infinity', true,
     E'line\\nbreak ünïcödé 🎉', 'short', 'ab', E'\\\\x00ff10',
     '0044-03-15 BC', '24:00:00', '13:45:06.5+05:30', '1969-12-31 23:59:59.999999', '2024-02-29 12:00:00.123456+02',
     '1 year 2 months 3 days 04:05:06.789', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{"a": [1, 2]}', '{"b": {"c": null}, "a": 1}',
     ARRAY[1, NULL, 3], ARRAY['x', 'y z', 'q"u\\o', NULL, 'NULL', ''], 'happy', ARRAY['sad', 'ok']::mood[], 7,
     repeat('big value ', 2000))`,
  `UPDATE everything SET i4 = 1 WHERE id = 1`, // big unchanged: TOAST 'u'
  `UPDATE everything SET id = 2 WHERE id = 1`, // key change: old key 'K'
  `DELETE FROM everything WHERE id = 2`,
  `INSERT INTO nokey VALUES (1, 'one'), (2, NULL)`,
  `UPDATE nokey SET b = 'uno' WHERE a = 1`, // old row 'O'
  `DELETE FROM nokey WHERE a = 2`,
  `TRUNCATE everything, nokey`,
  `SELECT pg_logical_emit_message(false, 'tidemark_heartbeat', 'beat')`,
  // A commit after the message flushes the WAL holding it (the slot functions read flushed WAL only).
  `INSERT INTO unpublished VALUES (1)`,
];

async function main(): Promise<void> {
  const admin = new Client({ connectionString: process.env.TIDEMARK_PG_URL });
  await admin.connect();
  const db = `fixtures_${Date.now()}`;
  await admin.query(`CREATE DATABASE ${db}`);
  const url = new URL(process.env.TIDEMARK_PG_URL!);
  url.pathname = `/${db}`;
  const c = new Client({ connectionString: url.toString(), options: SESSION_OPTIONS });
  await c.connect();
  try {
    await c.query(WORKLOAD);
    await c.query(`SELECT pg_create_logical_replication_slot('fixture_slot', 'pgoutput')`);
    // The test cluster commits asynchronously; the slot functions only read flushed WAL.
    await c.query('SET synchronous_commit = on');
    for (const sql of CHANGES) await c.query(sql);
    const r = await c.query(
      `SELECT lsn::text, xid::text, encode(data, 'hex') AS hex FROM pg_logical_slot_get_binary_changes('fixture_slot', NULL, NULL,
         'proto_version', '1', 'publication_names', 'fixture_pub', 'messages', 'true')`,
    );
    // Column types as the source resolves them (enum and domain oids differ per database).
    const types = new PgTypeCatalog(c);
    const columns: Record<string, Array<{ name: string; type: unknown; delimiter: string }>> = {};
    for (const table of ['everything', 'nokey']) {
      const cols = await c.query(
        `SELECT attname, atttypid::int AS oid, atttypmod FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
        [table],
      );
      columns[table] = [];
      for (const col of cols.rows) {
        columns[table]!.push({
          name: col.attname,
          type: (await types.resolve(col.oid, col.atttypmod)).type,
          delimiter: await types.delimiter(col.oid),
        });
      }
    }
    const version = (await c.query('SHOW server_version')).rows[0].server_version;
    const out = {
      postgres: version,
      sessionOptions: SESSION_OPTIONS,
      changes: CHANGES,
      columns,
      messages: r.rows,
    };
    const path = join(__dirname, '..', 'test', 'unit', 'source', 'fixtures', 'pgoutput-v1.json');
    writeFileSync(path, `${JSON.stringify(out, null, 1)}\n`);
    console.log(`wrote ${r.rows.length} messages to ${path}`);
  } finally {
    await c.end();
    await admin.query(`DROP DATABASE ${db} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
}

void main();
