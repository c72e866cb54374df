import { TidemarkError } from '../../core/errors';
import type { TableMetadata } from './table-metadata';

/**
 * The change between two table metadata objects, as the Iceberg REST protocol states a commit
 * (rest-catalog-open-api.yaml, `CommitTableRequest`): `requirements` the server checks against
 * its current metadata before anything is applied (a failed one is a 409 CommitFailedException:
 * nothing landed), and `updates` it applies in order before writing the new metadata file.
 */
export type TableRequirement =
  | { type: 'assert-table-uuid'; uuid: string }
  | { type: 'assert-ref-snapshot-id'; ref: string; 'snapshot-id': number | null }
  | { type: 'assert-current-schema-id'; 'current-schema-id': number }
  | { type: 'assert-last-assigned-field-id'; 'last-assigned-field-id': number }
  | { type: 'assert-default-spec-id'; 'default-spec-id': number }
  | { type: 'assert-last-assigned-partition-id'; 'last-assigned-partition-id': number }
  | { type: 'assert-default-sort-order-id'; 'default-sort-order-id': number };

export type TableUpdate = { action: string } & Record<string, unknown>;

export interface TableChange {
  readonly requirements: TableRequirement[];
  readonly updates: TableUpdate[];
}

/** `set-current-schema` / `set-default-spec` / `set-default-sort-order` with -1: the one added last in this change. */
const LAST_ADDED = -1;

/**
 * What moves `expected` to `next`. The requirements pin what the writer read (the table's
 * identity, branch main's snapshot, current schema, last field id, default spec, last partition
 * id), so a commit by any other writer that moved one of them is a conflict, as the SQL catalog's
 * pointer compare-and-set is. The order of the updates matters: schemas and specs before the
 * snapshots that use them, snapshots before the refs that point at them, refs before the removal
 * of the snapshots they pointed at. Snapshot and metadata logs, the last sequence number and
 * last-updated-ms are the server's to keep and are not sent.
 */
export function deriveTableChange(expected: TableMetadata, next: TableMetadata, table: string): TableChange {
  if (expected['table-uuid'] !== next['table-uuid'])
    throw new TidemarkError('internal', `table ${table}: a commit cannot change the table uuid`);
  const requirements: TableRequirement[] = [
    { type: 'assert-table-uuid', uuid: expected['table-uuid'] },
    { type: 'assert-ref-snapshot-id', ref: 'main', 'snapshot-id': mainSnapshotId(expected) },
    { type: 'assert-current-schema-id', 'current-schema-id': expected['current-schema-id'] },
    { type: 'assert-last-assigned-field-id', 'last-assigned-field-id': expected['last-column-id'] },
    { type: 'assert-default-spec-id', 'default-spec-id': expected['default-spec-id'] },
    {
      type: 'assert-last-assigned-partition-id',
      'last-assigned-partition-id': expected['last-partition-id'],
    },
  ];
  const updates: TableUpdate[] = [];
  if (next['format-version'] !== expected['format-version'])
    updates.push({ action: 'upgrade-format-version', 'format-version': next['format-version'] });
  if (next.location !== expected.location) updates.push({ action: 'set-location', location: next.location });

  const oldSchemas = new Set(expected.schemas.map((s) => s['schema-id']));
  const addedSchemas = next.schemas.filter((s) => !oldSchemas.has(s['schema-id']));
  for (const schema of addedSchemas)
    updates.push({ action: 'add-schema', schema, 'last-column-id': next['last-column-id'] });
  if (next['current-schema-id'] !== expected['current-schema-id']) {
    const last = addedSchemas.at(-1)?.['schema-id'];
    const id = next['current-schema-id'];
    updates.push({ action: 'set-current-schema', 'schema-id': id === last ? LAST_ADDED : id });
  }

  const oldSpecs = new Set(expected['partition-specs'].map((s) => s['spec-id']));
  const addedSpecs = next['partition-specs'].filter((s) => !oldSpecs.has(s['spec-id']));
  for (const spec of addedSpecs) updates.push({ action: 'add-spec', spec });
  if (next['default-spec-id'] !== expected['default-spec-id']) {
    const last = addedSpecs.at(-1)?.['spec-id'];
    const id = next['default-spec-id'];
    updates.push({ action: 'set-default-spec', 'spec-id': id === last ? LAST_ADDED : id });
  }

  const oldOrders = new Set(expected['sort-orders'].map((o) => o['order-id']));
  const addedOrders = next['sort-orders'].filter((o) => !oldOrders.has(o['order-id']));
  for (const order of addedOrders) updates.push({ action: 'add-sort-order', 'sort-order': order });
  if (next['default-sort-order-id'] !== expected['default-sort-order-id']) {
    const last = addedOrders.at(-1)?.['order-id'];
    const id = next['default-sort-order-id'];
    updates.push({ action: 'set-default-sort-order', 'sort-order-id': id === last ? LAST_ADDED : id });
  }

  const setProps: Record<string, string> = {};
  for (const [k, v] of Object.entries(next.properties)) if (expected.properties[k] !== v) setProps[k] = v;
  if (Object.keys(setProps).length > 0) updates.push({ action: 'set-properties', updates: setProps });
  const removals = Object.keys(expected.properties).filter((k) => !(k in next.properties));
  if (removals.length > 0) updates.push({ action: 'remove-properties', removals });

  const oldSnapshots = new Set(expected.snapshots.map((s) => s['snapshot-id']));
  for (const snapshot of next.snapshots)
    if (!oldSnapshots.has(snapshot['snapshot-id'])) updates.push({ action: 'add-snapshot', snapshot });

  for (const [name, ref] of Object.entries(refsOf(next))) {
    const old = refsOf(expected)[name];
    if (old && old['snapshot-id'] === ref['snapshot-id'] && old.type === ref.type) continue;
    updates.push({
      action: 'set-snapshot-ref',
      'ref-name': name,
      type: ref.type,
      'snapshot-id': ref['snapshot-id'],
    });
  }
  for (const name of Object.keys(refsOf(expected)))
    if (!(name in refsOf(next))) updates.push({ action: 'remove-snapshot-ref', 'ref-name': name });

  const kept = new Set(next.snapshots.map((s) => s['snapshot-id']));
  const removed = expected.snapshots.map((s) => s['snapshot-id']).filter((id) => !kept.has(id));
  if (removed.length > 0) updates.push({ action: 'remove-snapshots', 'snapshot-ids': removed });
  return { requirements, updates };
}

/** Branch main's snapshot: its ref, or (metadata written without refs) the current snapshot id. */
export function mainSnapshotId(m: TableMetadata): number | null {
  const ref = m.refs?.main;
  if (ref) return ref['snapshot-id'];
  const id = m['current-snapshot-id'];
  return id === undefined || id === null || id === -1 ? null : id;
}

/** The refs, with main made explicit when the metadata only names a current snapshot. */
function refsOf(m: TableMetadata): TableMetadata['refs'] {
  const main = mainSnapshotId(m);
  if (m.refs?.main || main === null) return m.refs ?? {};
  return { ...m.refs, main: { 'snapshot-id': main, type: 'branch' } };
}
