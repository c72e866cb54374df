import { TidemarkError } from '../../core/errors';

/**
 * Exact conversions between tidemark's canonical values and Iceberg's physical forms.
 * Decimal: canonical "-12.50" (exactly `scale` fraction digits) ↔ unscaled bigint -1250.
 */
export function decimalToUnscaled(text: string, scale: number, where: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) throw new TidemarkError('unsupported_value', `${where}: "${text}" is not a decimal value`);
  const frac = m[3] ?? '';
  if (frac.length > scale) {
    // Only trailing zeros may be dropped; anything else would round.
    if (/[^0]/.test(frac.slice(scale)))
      throw new TidemarkError(
        'unsupported_value',
        `${where}: "${text}" has more than ${scale} fraction digits`,
      );
  }
  const digits = m[2]! + frac.slice(0, scale).padEnd(scale, '0');
  const v = BigInt(digits);
  return m[1] === '-' ? -v : v;
}

export function unscaledToDecimal(v: bigint, scale: number): string {
  const neg = v < 0n;
  let s = (neg ? -v : v).toString();
  if (scale > 0) {
    s = s.padStart(scale + 1, '0');
    s = `${s.slice(0, -scale)}.${s.slice(-scale)}`;
  }
  return neg ? `-${s}` : s;
}

/** Two's-complement big-endian bytes, the minimum number of them (spec, appendix D, decimal). */
export function unscaledToMinimalBytes(v: bigint): Uint8Array {
  const bytes: number[] = [];
  let x = v;
  for (;;) {
    bytes.unshift(Number(x & 0xffn));
    x >>= 8n;
    const signBit = (bytes[0]! & 0x80) !== 0;
    if ((x === 0n && !signBit) || (x === -1n && signBit)) break;
  }
  return Uint8Array.from(bytes);
}

export function uuidToBytes(text: string, where: string): Uint8Array {
  const hex = text.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex))
    throw new TidemarkError('unsupported_value', `${where}: "${text}" is not a uuid`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

export function bytesToUuid(b: Uint8Array): string {
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A decimal's 128-bit two's complement as four little-endian 32-bit words (Arrow Decimal128). */
export function unscaledToWords(v: bigint, out: Uint32Array, at: number): void {
  let x = BigInt.asUintN(128, v);
  for (let i = 0; i < 4; i++) {
    out[at + i] = Number(x & 0xffffffffn);
    x >>= 32n;
  }
}

export function wordsToUnscaled(words: Uint32Array, at: number): bigint {
  let x = 0n;
  for (let i = 3; i >= 0; i--) x = (x << 32n) | BigInt(words[at + i]!);
  return BigInt.asIntN(128, x);
}
