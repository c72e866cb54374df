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

/** Waits until `ok` holds, polling; throws naming `what` after `timeoutMs`. */
export async function waitUntil(what: string, ok: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
