import { Readable } from 'node:stream';
import * as avro from 'avsc';

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Avro longs as JS numbers while they are safe integers and as bigints beyond (avsc's own long
 * type loses or refuses those): a partition value of an Iceberg long column (snowflake-style ids
 * are about 2^60) is written and read back exact.
 */
const EXACT_LONG = avro.types.LongType.__with({
  fromBuffer: (b: Buffer) => {
    const v = b.readBigInt64LE();
    return v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v;
  },
  toBuffer: (v: number | bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(v));
    return b;
  },
  fromJSON: (v: number | string) => (typeof v === 'string' ? BigInt(v) : v),
  toJSON: (v: number | bigint) => (typeof v === 'bigint' ? v.toString() : v),
  isValid: (v: unknown) =>
    (typeof v === 'bigint' && v >= -(2n ** 63n) && v < 2n ** 63n) ||
    (typeof v === 'number' && Number.isSafeInteger(v)),
  compare: (a: number | bigint, b: number | bigint) => {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  },
});

/** The avsc type of a raw schema, with exact longs (see EXACT_LONG). */
const typeOf = (schema: object): avro.Type =>
  avro.Type.forSchema(schema as avro.Schema, { registry: { long: EXACT_LONG } });

/**
 * Avro object container files in memory (the header is written even with no records: an
 * empty manifest list is still a valid file). The writer schema goes into the header exactly as
 * given (raw JSON, so `field-id`s survive); `metadata` are the header's string properties.
 */
export async function encodeAvroFile(
  schema: object,
  records: readonly object[],
  metadata: Record<string, string>,
): Promise<Uint8Array> {
  const meta: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(metadata)) meta[k] = Buffer.from(v, 'utf8');
  const encoder = new avro.streams.BlockEncoder(
    schema as avro.Schema,
    { metadata: meta, codec: 'null', writeHeader: 'always' } as never,
  );
  // The encoder keeps the raw schema for the header (a Type would lose every field-id) and
  // writes records with the type it parsed; it takes no registry, so that type is swapped here.
  const internals = encoder as unknown as { _type?: avro.Type };
  if (!internals._type) throw new Error('avsc BlockEncoder internals changed: no _type to give exact longs');
  internals._type = typeOf(schema);
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    encoder.on('data', (c: Buffer) => chunks.push(c));
    encoder.on('end', () => resolve());
    encoder.on('error', reject);
  });
  for (const r of records) encoder.write(r);
  encoder.end();
  await done;
  return Buffer.concat(chunks);
}

export async function decodeAvroFile<T>(
  bytes: Uint8Array,
): Promise<{ records: T[]; metadata: Record<string, string> }> {
  // parseHook may return a Type, which the decoder then uses as the writer type (exact longs).
  const decoder = new avro.streams.BlockDecoder({ noDecode: false, parseHook: typeOf } as never);
  const records: T[] = [];
  const metadata: Record<string, string> = {};
  await new Promise<void>((resolve, reject) => {
    decoder.on('metadata', (_type: unknown, _codec: unknown, header: { meta: Record<string, Buffer> }) => {
      for (const [k, v] of Object.entries(header.meta)) metadata[k] = v.toString('utf8');
    });
    decoder.on('data', (r: T) => records.push(r));
    decoder.on('end', () => resolve());
    decoder.on('error', reject);
    Readable.from([Buffer.from(bytes)]).pipe(decoder);
  });
  return { records, metadata };
}
