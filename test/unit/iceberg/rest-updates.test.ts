import { deriveTableChange, mainSnapshotId } from '../../../src/sink/iceberg/rest-updates';
import type { Snapshot, TableMetadata } from '../../../src/sink/iceberg/table-metadata';
import { newTableMetadata, withSnapshot } from '../../../src/sink/iceberg/table-metadata';

const schema = {
  type: 'struct' as const,
  'schema-id': 0,
  'identifier-field-ids': [1],
  fields: [
    { id: 1, name: 'id', required: true, type: 'long' as const },
    { id: 2, name: 'v', required: false, type: 'string' as const },
  ],
};

function base(): TableMetadata {
  return newTableMetadata('file:///w/ns/t', schema, 2, { 'spec-id': 0, fields: [] }, { a: '1', gone: 'x' });
}

function snap(id: number, seq: number, parent?: number): Snapshot {
  return {
    'snapshot-id': id,
    ...(parent === undefined ? {} : { 'parent-snapshot-id': parent }),
    'sequence-number': seq,
    'timestamp-ms': 1000 + seq,
    'manifest-list': `file:///w/ns/t/metadata/snap-${id}.avro`,
    summary: { operation: 'append', 'tidemark.token.c': `t${seq}` },
    'schema-id': 0,
  };
}

describe('REST commit derivation (expected metadata → requirements and updates)', () => {
  test('a data commit pins the table and branch main and adds the snapshot, then moves main', () => {
    const m0 = base();
    const m1 = withSnapshot(m0, snap(11, 1), 'file:///w/ns/t/metadata/00000.metadata.json');
    const first = deriveTableChange(m0, m1, 'ns.t');
    expect(first.requirements).toEqual([
      { type: 'assert-table-uuid', uuid: m0['table-uuid'] },
      { type: 'assert-ref-snapshot-id', ref: 'main', 'snapshot-id': null },
      { type: 'assert-current-schema-id', 'current-schema-id': 0 },
      { type: 'assert-last-assigned-field-id', 'last-assigned-field-id': 2 },
      { type: 'assert-default-spec-id', 'default-spec-id': 0 },
      { type: 'assert-last-assigned-partition-id', 'last-assigned-partition-id': 999 },
    ]);
    expect(first.updates).toEqual([
      { action: 'add-snapshot', snapshot: snap(11, 1) },
      { action: 'set-snapshot-ref', 'ref-name': 'main', type: 'branch', 'snapshot-id': 11 },
    ]);
    // The tidemark.* tokens travel in the snapshot's summary.
    expect((first.updates[0]!.snapshot as Snapshot).summary['tidemark.token.c']).toBe('t1');

    const m2 = withSnapshot(m1, snap(12, 2, 11), 'x');
    const second = deriveTableChange(m1, m2, 'ns.t');
    expect(second.requirements[1]).toEqual({
      type: 'assert-ref-snapshot-id',
      ref: 'main',
      'snapshot-id': 11,
    });
    expect(second.updates.map((u) => u.action)).toEqual(['add-snapshot', 'set-snapshot-ref']);
  });

  test('a schema change adds the schema, makes the last added one current and sets the changed properties', () => {
    const m0 = base();
    const evolved: TableMetadata = {
      ...m0,
      'last-column-id': 3,
      schemas: [
        ...m0.schemas,
        {
          ...schema,
          'schema-id': 1,
          fields: [...schema.fields, { id: 3, name: 'w', required: false, type: 'int' }],
        },
      ],
      'current-schema-id': 1,
      properties: { ...m0.properties, a: '2', b: 'new', gone: undefined as unknown as string },
    };
    delete (evolved.properties as Record<string, string>).gone;
    const { updates } = deriveTableChange(m0, evolved, 'ns.t');
    expect(updates).toEqual([
      { action: 'add-schema', schema: evolved.schemas[1], 'last-column-id': 3 },
      { action: 'set-current-schema', 'schema-id': -1 },
      { action: 'set-properties', updates: { a: '2', b: 'new' } },
      { action: 'remove-properties', removals: ['gone'] },
    ]);
  });

  test('snapshot expiry removes the expired snapshots after any ref change; a replace snapshot is added first', () => {
    let m = base();
    m = withSnapshot(m, snap(1, 1), 'a');
    m = withSnapshot(m, snap(2, 2, 1), 'b');
    const expired: TableMetadata = { ...m, snapshots: m.snapshots.filter((s) => s['snapshot-id'] === 2) };
    expect(deriveTableChange(m, expired, 'ns.t').updates).toEqual([
      { action: 'remove-snapshots', 'snapshot-ids': [1] },
    ]);
    const replaced = withSnapshot(expired, { ...snap(3, 3, 2), summary: { operation: 'replace' } }, 'c');
    expect(deriveTableChange(m, replaced, 'ns.t').updates.map((u) => u.action)).toEqual([
      'add-snapshot',
      'set-snapshot-ref',
      'remove-snapshots',
    ]);
  });

  test('branch main is the current snapshot when the metadata has no refs; a changed uuid is refused', () => {
    const m = { ...withSnapshot(base(), snap(5, 1), 'a'), refs: {} };
    expect(mainSnapshotId(m)).toBe(5);
    expect(deriveTableChange(m, m, 'ns.t').updates).toEqual([]);
    expect(() => deriveTableChange(base(), base(), 'ns.t')).toThrow(/uuid/);
  });
});
