/**
 * Kafka records (magic 2) decoded as kafkajs's record decoder does, with the same result
 * shape, minus its per-record costs: kafkajs reads every varlong through BigInt-backed Long
 * arithmetic, parses the batch's first offset and timestamp from strings for every record, and
 * rebuilds the headers object once per header. Offsets and timestamps stay exact (plain
 * numbers below 2^53, BigInt beyond). Plugged in by kafkajs-fast-paths.ts.
 */

/** The part of kafkajs's Decoder this reads: its buffer and read position. */
interface KafkajsDecoder {
  buffer: Buffer;
  offset: number;
}

interface BatchContext {
  firstOffset: string;
  firstTimestamp: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: string;
}

/** kafkajs's TimestampTypes.LOG_APPEND_TIME. */
const LOG_APPEND_TIME = 1;

export function fastDecodeRecord(d: KafkajsDecoder, ctx: BatchContext = {} as BatchContext) {
  const attributes = d.buffer.readInt8(d.offset++);
  const timestampDelta = readVarint(d);
  const timestamp =
    ctx.timestampType === LOG_APPEND_TIME && ctx.maxTimestamp
      ? ctx.maxTimestamp
      : addExact(ctx.firstTimestamp, timestampDelta);
  const offset = addExact(ctx.firstOffset, readVarint(d));
  const key = readBytes(d);
  const value = readBytes(d);
  const headers: Record<string, Buffer | null | Array<Buffer | null>> = {};
  const count = readVarint(d);
  for (let i = 0; i < count; i++) {
    const k = readBytes(d);
    const v = readBytes(d);
    const name = k === null ? 'null' : k.toString('utf8');
    const prev = headers[name];
    headers[name] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return {
    magicByte: ctx.magicByte,
    attributes,
    timestamp,
    offset,
    key,
    value,
    headers,
    isControlRecord: ctx.isControlBatch ?? false,
    batchContext: ctx,
  };
}

function addExact(base: string, delta: number): string {
  const n = Number(base);
  const sum = n + delta;
  if (Number.isSafeInteger(n) && Number.isSafeInteger(sum)) return String(sum);
  return (BigInt(base) + BigInt(delta)).toString();
}

/** Zigzag varint or varlong; exact while the value stays below 2^53. */
function readVarint(d: KafkajsDecoder): number {
  const buf = d.buffer;
  let result = 0;
  let scale = 1;
  let byte: number;
  let i = 0;
  do {
    if (i++ > 9) throw new RangeError('Kafka record: varint longer than 10 bytes');
    byte = buf[d.offset++]!;
    result += (byte & 0x7f) * scale;
    scale *= 128;
  } while (byte & 0x80);
  // zigzag: even → n/2, odd → -(n+1)/2
  return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
}

function readBytes(d: KafkajsDecoder): Buffer | null {
  const n = readVarint(d);
  if (n < 0) return null;
  const out = d.buffer.subarray(d.offset, d.offset + n);
  d.offset += n;
  return out;
}
