import { TimestampText } from '../../core/clock-text';

/**
 * Canonical date/time values (core/column-type.ts) as ISO-style text that both PostgreSQL
 * and DuckDB parse exactly. Years before 1 are written with the " BC" suffix (PostgreSQL).
 */
const MICROS_PER_DAY = 86_400_000_000n;

function pad(n: number | bigint, width: number): string {
  return String(n).padStart(width, '0');
}

function ymd(days: number): { date: string; bc: boolean } {
  const d = new Date(days * 86_400_000);
  let y = d.getUTCFullYear();
  const bc = y <= 0;
  if (bc) y = 1 - y;
  return { date: `${pad(y, 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`, bc };
}

/** Days since 1970-01-01 → "YYYY-MM-DD[ BC]". */
export function dateText(days: number): string {
  const { date, bc } = ymd(days);
  return bc ? `${date} BC` : date;
}

/** Microseconds since midnight → "HH:MM:SS.ffffff". */
export function timeText(micros: bigint): string {
  const s = micros / 1_000_000n;
  const f = micros % 1_000_000n;
  return `${pad(s / 3600n, 2)}:${pad((s / 60n) % 60n, 2)}:${pad(s % 60n, 2)}.${pad(f, 6)}`;
}

/** The fast path for years 1685–2254, which are never BC. */
const FAST = new TimestampText((day) => ymd(day).date, ' ', '');

/** Microseconds since the epoch → "YYYY-MM-DD HH:MM:SS.ffffff[ BC]" (UTC / no zone). */
export function timestampText(micros: bigint): string {
  const fast = FAST.format(micros);
  if (fast !== null) return fast;
  let days = micros / MICROS_PER_DAY;
  let rest = micros % MICROS_PER_DAY;
  if (rest < 0n) {
    rest += MICROS_PER_DAY;
    days -= 1n;
  }
  const { date, bc } = ymd(Number(days));
  return `${date} ${timeText(rest)}${bc ? ' BC' : ''}`;
}

/** An ISO 8601 duration as PostgreSQL prints it (intervalstyle iso_8601) → its three fields. */
export function parseIsoInterval(text: string): { months: number; days: number; micros: bigint } {
  const m =
    /^P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)W)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?)(\d+)(?:\.(\d{1,6}))?S)?)?$/.exec(
      text,
    );
  if (!m) throw new RangeError(`not an ISO 8601 interval: "${text}"`);
  const n = (g: string | undefined) => (g ? Number(g) : 0);
  const big = (g: string | undefined) => (g ? BigInt(g) : 0n);
  const secSign = m[7] === '-' ? -1n : 1n;
  const secMicros = (big(m[8]) * 1_000_000n + BigInt((m[9] ?? '').padEnd(6, '0') || '0')) * secSign;
  return {
    months: n(m[1]) * 12 + n(m[2]),
    days: n(m[3]) * 7 + n(m[4]),
    micros: big(m[5]) * 3_600_000_000n + big(m[6]) * 60_000_000n + secMicros,
  };
}
