/**
 * Postgres date/time text (DateStyle ISO, TimeZone UTC, forced on every tidemark connection)
 * to canonical numbers, exactly, for the whole Postgres range including BC years.
 */

/** |seconds| below which seconds × 10^6 + µs stays an exact double (< 2^53). */
const SAFE_SECONDS = 9_000_000_000;

/** Days from 1970-01-01 to the given proleptic Gregorian date (astronomical year: 1 BC = 0). */
export function daysFromCivil(year: number, month: number, day: number): number {
  // Howard Hinnant's days_from_civil, exact for any year.
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

const DATE = /^(\d{4,})-(\d\d)-(\d\d)( BC)?$/;
const TIME = /^(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/;
const TIMESTAMP =
  /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?( BC)?$/;

function year(text: string, bc: string | undefined): number {
  const y = Number(text);
  return bc ? 1 - y : y;
}

/** "2024-02-29" or "0044-03-15 BC" → days since 1970-01-01; null when not a finite date. */
export function parseDate(text: string): number | null {
  const m = DATE.exec(text);
  if (!m) return null;
  return daysFromCivil(year(m[1]!, m[4]), Number(m[2]), Number(m[3]));
}

/** "13:45:00.5" → µs since midnight ("24:00:00" is a valid Postgres time). */
export function parseTime(text: string): bigint | null {
  const m = TIME.exec(text);
  if (!m) return null;
  return (
    BigInt(Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1_000_000n +
    BigInt((m[4] ?? '').padEnd(6, '0') || '0')
  );
}

/** "2024-01-01 12:00:00.123456[+00][ BC]" → µs since the epoch (the offset, if any, applied). */
export function parseTimestamp(text: string): bigint | null {
  const m = TIMESTAMP.exec(text);
  if (!m) return null;
  const days = daysFromCivil(year(m[1]!, m[12]), Number(m[2]), Number(m[3]));
  let secs = days * 86_400 + Number(m[4]) * 3600 + Number(m[5]) * 60 + Number(m[6]);
  if (m[8]) {
    const offset = Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0);
    secs = m[8] === '+' ? secs - offset : secs + offset;
  }
  const frac = m[7] ? Number(m[7].padEnd(6, '0')) : 0;
  // Seconds are exact in a double for any Postgres year; µs only while below 2^53 (years
  // 1685–2255): one BigInt conversion there, BigInt arithmetic outside it.
  if (Math.abs(secs) < SAFE_SECONDS) return BigInt(secs * 1_000_000 + frac);
  return BigInt(secs) * 1_000_000n + BigInt(frac);
}
