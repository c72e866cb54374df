/**
 * Child process for the crash test: `base` commits a first round and exits; `crash` applies a
 * second round and, inside its transaction just before COMMIT, prints CRASH-POINT and waits to
 * be killed (kill -9 by the parent).
 */
import { openWarehouse } from '../../../src/sink/warehouse/open';
import type { WarehouseConfig } from '../../../src/sink/warehouse/warehouse';
import { EventBuilder, opts, round, tableSchema } from './helpers';

const schema = tableSchema('crashy', [
  { name: 'id', attnum: 1, type: { kind: 'int32' }, pgType: 'integer', nullable: false },
  { name: 'v', attnum: 2, type: { kind: 'text' }, pgType: 'text', nullable: true },
]);

async function main(): Promise<void> {
  const [step, kind, location] = process.argv.slice(2) as ['base' | 'crash', 'duckdb' | 'postgres', string];
  const config: WarehouseConfig = kind === 'duckdb' ? { kind, path: location } : { kind, url: location };
  const w = await openWarehouse(config, {
    hooks: {
      beforeCommit: async () => {
        if (step !== 'crash') return;
        process.stdout.write('CRASH-POINT\n');
        await new Promise(() => {}); // never resolves: the parent kills us here
      },
    },
  });
  await w.prepareTables([{ schema, options: opts('mirror') }]);
  const b = new EventBuilder(schema).tx();
  const n = 5000;
  if (step === 'base') {
    const evs = Array.from({ length: n }, (_, i) => b.ev('c', null, { id: i, v: 'before' }));
    await w.commitRound(
      round([{ schema, mode: 'mirror', events: evs }], [{ channel: 'ch', expected: null, next: 't1' }]),
    );
    await w.close();
    process.stdout.write('BASE-DONE\n');
    return;
  }
  b.tx();
  const evs = [
    ...Array.from({ length: n }, (_, i) => b.ev('u', { id: i }, { id: i, v: 'after' })),
    ...Array.from({ length: n }, (_, i) => b.ev('c', null, { id: n + i, v: 'new' })),
    b.ev('d', { id: 0 }, null),
  ];
  await w.commitRound(
    round([{ schema, mode: 'mirror', events: evs }], [{ channel: 'ch', expected: 't1', next: 't2' }]),
  );
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
