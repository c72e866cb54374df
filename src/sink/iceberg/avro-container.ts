import { Readable } from 'node:stream';
import * as avro from 'avsc';

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
  const decoder = new avro.streams.BlockDecoder({ noDecode: false } as never);
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
