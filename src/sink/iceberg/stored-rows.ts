import type { Row } from '../../core/change-event';
import { TidemarkError } from '../../core/errors';
import { identText } from './catalog';
import { type FileIO, unreadable } from './file-io';
import { decodeParquet } from './parquet-files';
import { currentSchema } from './table-metadata';
import type { TableState } from './table-state';

/**
 * The stored rows (every column of the current schema) of `keys` (encoded keys), found through
 * the table's key index and read from their data files, by encoded key; keys not stored are
 * absent. Used for TOAST fills and soft deletes.
 */
export async function storedRows(
  io: FileIO,
  st: TableState,
  keys: readonly string[],
): Promise<Map<string, Row>> {
  const fields = currentSchema(st.metadata).fields;
  const byFile = new Map<string, { key: string; pos: number }[]>();
  if (!st.index)
    throw new TidemarkError(
      'internal',
      `table ${identText(st.ident)}: no key index (an append table has none)`,
    );
  for (const key of keys) {
    const loc = st.index.get(key);
    if (!loc) continue;
    const list = byFile.get(loc.file) ?? [];
    list.push({ key, pos: loc.pos });
    byFile.set(loc.file, list);
  }
  const out = new Map<string, Row>();
  for (const [file, wanted] of byFile) {
    let bytes: Uint8Array;
    try {
      bytes = await io.read(file);
    } catch (e) {
      throw unreadable(e, `table ${identText(st.ident)}: data file ${file} cannot be read`);
    }
    const { columns } = decodeParquet(bytes, fields);
    for (const w of wanted) {
      const row: Row = {};
      fields.forEach((f, i) => {
        row[f.name] = columns[i]![w.pos]!;
      });
      out.set(w.key, row);
    }
  }
  return out;
}
