import { decodeAvroFile } from '../../../src/sink/iceberg/avro-container';
import { decodeManifest, encodeManifest, encodeManifestList } from '../../../src/sink/iceberg/manifests';

describe('manifest Avro files', () => {
  test('keep the spec field ids in the header schema and round-trip entries with inheritance', async () => {
    const schema = {
      type: 'struct' as const,
      'schema-id': 0,
      fields: [{ id: 1, name: 'id', required: true, type: 'long' as const }],
    };
    const bytes = await encodeManifest(
      { schema, spec: { 'spec-id': 0, fields: [] }, partitionAvroFields: [], content: 0 },
      [
        {
          status: 1,
          snapshotId: 42,
          sequenceNumber: null,
          fileSequenceNumber: null,
          file: {
            content: 0,
            filePath: 'file:///x.parquet',
            recordCount: 3,
            fileSizeInBytes: 10,
            partition: {},
          },
        },
      ],
    );
    const { metadata } = await decodeAvroFile(bytes);
    const header = JSON.parse(metadata['avro.schema']!);
    expect(header.fields.map((f: { 'field-id': number }) => f['field-id'])).toEqual([0, 1, 3, 4, 2]);
    expect(JSON.stringify(header)).toContain('"name":"k126_v127"');
    expect(metadata['format-version']).toBe('2');
    expect(metadata.content).toBe('data');
    const entries = await decodeManifest(bytes, { sequence_number: 7, added_snapshot_id: 42 } as never);
    expect(entries[0]).toMatchObject({
      status: 1,
      snapshotId: 42,
      sequenceNumber: 7,
      fileSequenceNumber: 7,
      file: { filePath: 'file:///x.parquet', recordCount: 3 },
    });
    const list = await decodeAvroFile(await encodeManifestList([], 42, null, 7));
    expect(list.metadata['sequence-number']).toBe('7');
  });
});
