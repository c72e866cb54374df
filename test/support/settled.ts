import type { TidemarkProcess } from './tidemark-process';

/**
 * What `read` gives once it equals `expected` (compared as JSON), or what it gives after
 * `timeoutMs`: for sinks that catch up asynchronously, asserted by the caller.
 */
export async function settled<T>(read: () => Promise<T>, expected: T, timeoutMs = 90_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const got = await read();
    if (JSON.stringify(got) === JSON.stringify(expected) || Date.now() > until) return got;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Waits until `ok` holds, polling every `everyMs` (300); throws naming `what` after `timeoutMs`,
 * or at once when `proc` (the process expected to make it hold) has exited, with its log's end.
 */
export async function waitUntil(
  what: string,
  ok: () => Promise<boolean>,
  timeoutMs = 90_000,
  o: { readonly everyMs?: number; readonly proc?: TidemarkProcess } = {},
): Promise<void> {
  const end = Date.now() + timeoutMs;
  const log = () => (o.proc ? `:\n${o.proc.stderr().slice(-20_000)}` : '');
  while (!(await ok())) {
    if (o.proc && o.proc.child.exitCode !== null)
      throw new Error(`${what}: the process exited (code ${o.proc.child.exitCode}) before${log()}`);
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms${log()}`);
    await new Promise((r) => setTimeout(r, o.everyMs ?? 300));
  }
}
