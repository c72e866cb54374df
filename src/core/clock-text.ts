/** "00".."99": clock fields without padStart. */
const TWO_DIGITS = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const MICROS_PER_DAY = 86_400_000_000;

/**
 * Formats timestamps (microseconds since the epoch) on the hot path without a Date or a BigInt
 * division per value: while the value is a safe integer (years 1685–2254) a double holds it and
 * its day offset exactly. The date text of a day comes from `dateOf`, and is cached because
 * consecutive rows mostly share their day.
 */
export class TimestampText {
  private lastDay = Number.NaN;
  private lastDate = '';

  constructor(
    /** Days since 1970-01-01 → the date part, e.g. "2024-05-01". Never called outside 1685–2254. */
    private readonly dateOf: (day: number) => string,
    /** Between date and clock: "T" (ISO 8601) or " " (SQL). */
    private readonly separator: string,
    /** After the clock, e.g. "Z". */
    private readonly suffix: string,
  ) {}

  /** "<date><separator>HH:MM:SS.ffffff<suffix>", or null outside the safe range (the caller's slow path). */
  format(micros: bigint): string | null {
    const n = Number(micros);
    if (!Number.isSafeInteger(n)) return null;
    const day = Math.floor(n / MICROS_PER_DAY);
    if (day !== this.lastDay) {
      this.lastDate = this.dateOf(day);
      this.lastDay = day;
    }
    const inDay = n - day * MICROS_PER_DAY;
    const secs = Math.floor(inDay / 1_000_000);
    const frac = inDay - secs * 1_000_000;
    const h = Math.floor(secs / 3600);
    const m = Math.floor(secs / 60) - h * 60;
    return `${this.lastDate}${this.separator}${TWO_DIGITS[h]}:${TWO_DIGITS[m]}:${TWO_DIGITS[secs % 60]}.${String(frac + 1_000_000).slice(1)}${this.suffix}`;
  }
}
