import { Client } from 'pg';

/**
 * The benchmark's table: 10 columns, about 200 bytes a row (ints, numeric, text, timestamptz,
 * jsonb, bool), and server-side generators, so that the client's speed never limits the
 * change rate being measured.
 */
export const BENCH_DDL = `
CREATE TABLE IF NOT EXISTS bench_rows (
  id bigint PRIMARY KEY,
  account int NOT NULL,
  amount numeric(12, 2) NOT NULL,
  status text NOT NULL,
  label text NOT NULL,
  note text,
  created_at timestamptz NOT NULL,
  attrs jsonb NOT NULL,
  active bool NOT NULL,
  version int NOT NULL
);
-- n rows from id "first", in transactions of "per_tx" rows (COMMIT inside a procedure).
CREATE OR REPLACE PROCEDURE bench_insert(first bigint, n bigint, per_tx int) LANGUAGE plpgsql AS $$
DECLARE i bigint := first;
BEGIN
  WHILE i < first + n LOOP
    INSERT INTO bench_rows
    SELECT g, (g % 50000)::int, ((g % 100000) / 100.0)::numeric(12,2),
           (ARRAY['open','paid','shipped','closed'])[1 + g % 4],
           'label-' || g || '-' || md5(g::text),
           CASE WHEN g % 5 = 0 THEN NULL ELSE 'note ' || repeat(chr(97 + (g % 26)::int), 40) END,
           timestamptz '2026-01-01' + g * interval '1 second',
           jsonb_build_object('k', g % 97, 'tag', 't' || g % 13),
           g % 2 = 0, 1
    FROM generate_series(i, least(i + per_tx, first + n) - 1) g;
    COMMIT;
    i := i + per_tx;
  END LOOP;
END $$;
-- a mixed load over existing ids [1, existing]: 60% updates, 20% inserts past "next_id", 20% deletes.
CREATE OR REPLACE PROCEDURE bench_mixed(existing bigint, next_id bigint, n bigint, per_tx int) LANGUAGE plpgsql AS $$
DECLARE i bigint := 0; k bigint; nid bigint := next_id;
BEGIN
  WHILE i < n LOOP
    FOR j IN 1..per_tx LOOP
      k := 1 + (hashint8(i + j) & 2147483647) % existing;
      CASE (i + j) % 5
        WHEN 0 THEN
          INSERT INTO bench_rows VALUES (nid, 1, 1.5, 'open', 'new-' || nid, NULL, now(), '{}', true, 1);
          nid := nid + 1;
        WHEN 1 THEN DELETE FROM bench_rows WHERE id = k;
        ELSE UPDATE bench_rows SET amount = amount + 1, version = version + 1, status = 'paid' WHERE id = k;
      END CASE;
    END LOOP;
    COMMIT;
    i := i + per_tx;
  END LOOP;
END $$;
`;

export async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  // A connection the server ends (a DROP DATABASE … WITH (FORCE) of another step) also emits
  // 'error'; unheard, it would crash the run. Its query rejects with the same error anyway.
  c.on('error', () => {});
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function currentLsn(url: string): Promise<string> {
  return withClient(
    url,
    async (c) => (await c.query('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0].l,
  );
}

/**
 * Drops every database whose name starts with `prefix` and the replication slots in them: a slot
 * left behind keeps all the WAL written after it (a run leaves several: tens of GB a week).
 */
export async function dropDatabases(adminUrl: string, prefix: string): Promise<string[]> {
  return withClient(adminUrl, async (c) => {
    const names = (
      await c.query('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [prefix])
    ).rows.map((r: { datname: string }) => r.datname);
    for (const name of names) {
      // A process of a failed run may still stream from a slot: end its connections first.
      await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
      for (let tries = 0; ; tries++) {
        const left = (
          await c.query(
            `SELECT count(pg_drop_replication_slot(slot_name)) FILTER (WHERE NOT active) AS dropped, count(*) FILTER (WHERE active) AS busy FROM pg_replication_slots WHERE database = $1`,
            [name],
          )
        ).rows[0] as { busy: string };
        if (Number(left.busy) === 0 || tries >= 20) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
    return names;
  });
}

/** A fresh database on the benchmark server with the table and generators. */
export async function freshDatabase(adminUrl: string, name: string): Promise<string> {
  await withClient(adminUrl, async (c) => {
    await c.query(
      `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`,
      [name],
    );
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${name}`);
  });
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  await withClient(url, (c) => c.query(BENCH_DDL));
  return url;
}
