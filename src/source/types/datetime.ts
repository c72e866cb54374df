/**
 * Postgres date/time text (DateStyle ISO, TimeZone UTC, forced on every tidemark connection)
 * to canonical numbers, exactly, for the whole Postgres range including BC years.
 */

const US_PER_DAY = 86_400_000_000n;

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
  const days = BigInt(daysFromCivil(year(m[1]!, m[12]), Number(m[2]), Number(m[3])));
  const secs = BigInt(Number(m[4]) * 3600 + Number(m[5]) * 60 + Number(m[6]));
  let us = days * US_PER_DAY + secs * 1_000_000n + BigInt((m[7] ?? '').padEnd(6, '0') || '0');
  if (m[8]) {
    const offset = BigInt(Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0)) * 1_000_000n;
    us = m[8] === '+' ? us - offset : us + offset;
  }
  return us;
}
