import { crc32c } from './crc32c';

/**
 * Kafka record batches (magic 2) encoded in one pass into one buffer. kafkajs builds each record
 * in its own zero-filled 512-byte Encoder, sizes varlongs through BigInt arithmetic and copies
 * every record twice more on the way into the request: a quarter of the source's CPU at 15k
 * changes/s. Same bytes, same contract (see kafkajs-fast-paths.ts for where it plugs in).
 *
 * Record => Length varint, Attributes int8, TimestampDelta varlong, OffsetDelta varint,
 *   Key varint-bytes, Value varint-bytes, Headers [varint-string key, varint-bytes value]
 */

export type Bytes = Buffer | string | null | undefined;

/** One record, sized but not yet written; what kafkajs's Record() returns once patched. */
export interface SizedRecord {
  readonly sizedRecord: true;
  readonly key: Bytes;
  readonly value: Bytes;
  readonly headers: ReadonlyArray<readonly [string, Bytes]>;
  readonly offsetDelta: number;
  readonly timestampDelta: number;
  /** Bytes after the Length prefix. */
  readonly bodySize: number;
}

export interface RecordInput {
  key?: Bytes;
  value?: Bytes;
  headers?: Record<string, Bytes | Bytes[]>;
  offsetDelta?: number;
  timestampDelta?: number;
}

export function sizeRecord({
  key,
  value,
  headers,
  offsetDelta = 0,
  timestampDelta = 0,
}: RecordInput): SizedRecord {
  return sizeRecordOf(key, value, headers, offsetDelta, timestampDelta);
}

/** sizeRecord from its fields, for a caller that has them apart (no object built to pass them). */
export function sizeRecordOf(
  key: Bytes,
  value: Bytes,
  headers: RecordInput['headers'],
  offsetDelta: number,
  timestampDelta: number,
): SizedRecord {
  const pairs: Array<readonly [string, Bytes]> = [];
  let headerBytes = 0;
  if (headers) {
    for (const name in headers) {
      const v = headers[name];
      const list = Array.isArray(v) ? v : [v];
      for (const one of list) {
        pairs.push([name, one]);
        headerBytes += bytesSize(name) + bytesSize(one);
      }
    }
  }
  const bodySize =
    1 +
    varlongSize(timestampDelta) +
    varintSize(offsetDelta) +
    bytesSize(key) +
    bytesSize(value) +
    varintSize(pairs.length) +
    headerBytes;
  return { sizedRecord: true, key, value, headers: pairs, offsetDelta, timestampDelta, bodySize };
}

/** The records section of a batch (uncompressed), written into one exact-size buffer. */
export function encodeRecords(records: readonly SizedRecord[]): Buffer {
  let total = 0;
  for (const r of records) total += varintSize(r.bodySize) + r.bodySize;
  const buf = Buffer.allocUnsafe(total);
  let at = 0;
  for (const r of records) {
    at = writeVarint(buf, at, r.bodySize);
    buf[at++] = 0; // attributes: none used at record level
    at = writeVarint(buf, at, r.timestampDelta);
    at = writeVarint(buf, at, r.offsetDelta);
    at = writeBytes(buf, at, r.key);
    at = writeBytes(buf, at, r.value);
    at = writeVarint(buf, at, r.headers.length);
    for (const [k, v] of r.headers) {
      at = writeBytes(buf, at, k);
      at = writeBytes(buf, at, v);
    }
  }
  if (at !== total) throw new Error(`record batch sizing error: wrote ${at} of ${total} bytes`);
  return buf;
}

export interface BatchHeader {
  /** Compression codec and transactional bits, as kafkajs computes them. */
  readonly attributes: number;
  readonly lastOffsetDelta: number;
  readonly firstTimestamp: number;
  readonly maxTimestamp: number;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly firstSequence: number;
  readonly partitionLeaderEpoch: number;
  readonly firstOffset: bigint;
  readonly recordCount: number;
}

const MAGIC = 2;
/** From FirstOffset to the records count: 8+4+4+1+4+2+4+8+8+8+2+4+4. */
const HEADER_BYTES = 61;
/** The CRC covers everything from Attributes on. */
const CRC_FROM = 21;

/** FirstOffset int64, Length int32, then the batch, the CRC-32C computed over it. */
export function encodeBatch(h: BatchHeader, records: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + records.length);
  buf.writeBigInt64BE(h.firstOffset, 0);
  buf.writeInt32BE(buf.length - 12, 8);
  buf.writeInt32BE(h.partitionLeaderEpoch, 12);
  buf.writeInt8(MAGIC, 16);
  // 17..20: CRC, below
  buf.writeInt16BE(h.attributes, 21);
  buf.writeInt32BE(h.lastOffsetDelta, 23);
  buf.writeBigInt64BE(BigInt(h.firstTimestamp), 27);
  buf.writeBigInt64BE(BigInt(h.maxTimestamp), 35);
  buf.writeBigInt64BE(h.producerId, 43);
  buf.writeInt16BE(h.producerEpoch, 51);
  buf.writeInt32BE(h.firstSequence, 53);
  buf.writeInt32BE(h.recordCount, 57);
  records.copy(buf, HEADER_BYTES);
  buf.writeUInt32BE(crc32c(buf.subarray(CRC_FROM)), 17);
  return buf;
}

function bytesSize(v: Bytes): number {
  if (v == null) return 1; // varint -1
  const n = typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length;
  return varintSize(n) + n;
}

function writeBytes(buf: Buffer, at: number, v: Bytes): number {
  if (v == null) return writeVarint(buf, at, -1);
  if (typeof v === 'string') {
    const n = Buffer.byteLength(v, 'utf8');
    at = writeVarint(buf, at, n);
    return at + buf.write(v, at, n, 'utf8');
  }
  at = writeVarint(buf, at, v.length);
  v.copy(buf, at);
  return at + v.length;
}

/** Zigzag: 0, -1, 1, -2 … → 0, 1, 2, 3 …; plain arithmetic, exact for |n| < 2^52. */
function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

// Varints and varlongs share one encoding; values here stay well inside 2^52.
const varlongSize = varintSize;

export function varintSize(n: number): number {
  let z = zigzag(n);
  let size = 1;
  while (z >= 128) {
    z = Math.floor(z / 128);
    size++;
  }
  return size;
}

export function writeVarint(buf: Buffer, at: number, n: number): number {
  let z = zigzag(n);
  while (z >= 128) {
    buf[at++] = (z % 128) | 0x80;
    z = Math.floor(z / 128);
  }
  buf[at++] = z;
  return at;
}
