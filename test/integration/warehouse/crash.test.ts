import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { openWarehouse } from '../../../src/sink/warehouse/open';
import { makeFixture, type WarehouseFixture } from './helpers';

const CHILD = join(__dirname, 'crash-child.ts');

/** Runs the child to completion (`base`) or until it prints CRASH-POINT, then kill -9 (`crash`). */
function runChild(
  step: 'base' | 'crash',
  kind: string,
  location: string,
): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', CHILD, step, kind, location], {
      cwd: join(__dirname, '..', '..', '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (step === 'crash' && out.includes('CRASH-POINT')) child.kill('SIGKILL');
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, out, err }));
  });
}

describe.each(['duckdb', 'postgres'] as const)('%s warehouse crash', (kind) => {
  let fx: WarehouseFixture;
  beforeAll(async () => {
    fx = await makeFixture(kind);
  });
  afterAll(async () => {
    await fx.dispose();
  });

  test('a process killed in the middle of applying a round leaves the previous state and token intact', async () => {
    // GIVEN a committed base round written by another process
    const base = await runChild('base', kind, fx.location);
    expect(base.err).toBe('');
    expect(base.out).toContain('BASE-DONE');
    // WHEN a second process is killed -9 inside its round's transaction, right before COMMIT
    const crash = await runChild('crash', kind, fx.location);
    expect(crash.signal).toBe('SIGKILL');
    // THEN the warehouse holds exactly the base round and its token
    const rows = await fx.read(
      "SELECT count(*) AS n, sum(CASE WHEN v = 'before' THEN 1 ELSE 0 END) AS before FROM public.crashy",
    );
    expect(Number(rows[0]!.n)).toBe(5000);
    expect(Number(rows[0]!.before)).toBe(5000);
    const w = await openWarehouse(
      kind === 'duckdb' ? { kind, path: fx.location } : { kind, url: fx.location },
    );
    expect(await w.readTokens()).toEqual(new Map([['ch', 't1']]));
    await w.close();
  });
});
