import { createHmac } from 'node:crypto';
import type { Config } from '../config/load';
import type { Secret } from '../config/secret';

export type Masker = (text: string) => string;

/** Columns the config keeps from the sinks (`tables.<t>.exclude`) or hides (`.mask`). */
export interface ColumnPolicy {
  columns(table: string): { readonly exclude: readonly string[]; readonly mask: readonly string[] };
  readonly maskKey?: Secret;
  /** `tables.<t>.onIncompatibleSchema: cast-to-string`: type changes the sinks cannot follow make the column text. */
  castsToText?(table: string): boolean;
}

export const NO_COLUMN_POLICY: ColumnPolicy = { columns: () => ({ exclude: [], mask: [] }) };

/** The hex HMAC-SHA256 of a value's text: equal values stay equal (joins, keys), the value is gone. */
export function hmacMasker(key: Secret): Masker {
  const k = key.reveal();
  return (text) => createHmac('sha256', k).update(text).digest('hex');
}

/** The config's `tables.<t>.exclude` / `.mask` lists and `source.maskKey`. */
export function columnPolicyOf(config: Config): ColumnPolicy {
  return {
    columns: (table) => {
      const o = config.tableOptions(table);
      return { exclude: o.exclude, mask: o.mask };
    },
    maskKey: config.source.maskKey,
    castsToText: (table) => config.tableOptions(table).onIncompatibleSchema === 'cast-to-string',
  };
}
