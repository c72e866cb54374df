import { isTidemarkError } from '../core/errors';

/** One clear sentence (plus the fix) for a person at a terminal; the stack only for bugs. */
export function describeError(e: unknown): string {
  if (isTidemarkError(e)) return e.describe();
  if (e instanceof Error) return `unexpected error: ${e.stack ?? e.message}`;
  return `unexpected error: ${String(e)}`;
}
