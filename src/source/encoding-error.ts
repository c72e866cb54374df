import { TidemarkError } from '../core/errors';

/**
 * Postgres converts text to the connection's UTF-8 as it sends it; bytes not valid there (a
 * SQL_ASCII database holding Latin-1 text, say) fail the same way every time, so that is no
 * outage to retry. Null when `e` is not that failure.
 */
export function encodingError(e: unknown, where: string): TidemarkError | null {
  const err = e as { code?: string; message?: string } | null;
  if (err?.code !== '22021' && !/invalid byte sequence for encoding/.test(err?.message ?? '')) return null;
  return new TidemarkError(
    'unsupported_value',
    `${where}: text Postgres cannot convert to UTF-8: ${err?.message}`,
    {
      cause: e,
      fix: 'a SQL_ASCII database stores bytes without an encoding: fix the value in the source (or convert the database to UTF8), or leave its column out (tables.<t>.exclude); nothing past it was acknowledged',
    },
  );
}
