import { TidemarkError } from '../../core/errors';
import type { TableRef } from '../../core/table-schema';

function toRegex(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^.]*');
  return new RegExp(`^${escaped}$`);
}

/**
 * Applies the `source.tables` patterns ("public.orders", "inventory.*", "!inventory.tmp_*") to
 * the tables that exist. A named table that does not exist, or a wildcard that matches nothing,
 * is an error: a typo must not silently mirror nothing.
 */
export function selectTables(patterns: readonly string[], existing: readonly TableRef[]): TableRef[] {
  const names = existing.map((t) => `${t.schema}.${t.table}`);
  const include = patterns.filter((p) => !p.startsWith('!'));
  const exclude = patterns.filter((p) => p.startsWith('!')).map((p) => toRegex(p.slice(1)));
  const chosen = new Set<string>();
  for (const p of include) {
    const re = toRegex(p);
    const hits = names.filter((n) => re.test(n));
    if (hits.length === 0) {
      throw new TidemarkError(
        'source_setup',
        p.includes('*')
          ? `source.tables pattern "${p}" matches no table`
          : `source table ${p} does not exist (or is not a table)`,
        { fix: 'check source.tables against the database (schema-qualified names, case-sensitive)' },
      );
    }
    for (const h of hits) chosen.add(h);
  }
  return existing.filter((t) => {
    const n = `${t.schema}.${t.table}`;
    return chosen.has(n) && !exclude.some((re) => re.test(n));
  });
}

/** True when `source.tables` takes `table`: an include pattern matches it and no exclude does. */
export function patternsTake(patterns: readonly string[], table: TableRef): boolean {
  const name = `${table.schema}.${table.table}`;
  const include = patterns.filter((p) => !p.startsWith('!'));
  const exclude = patterns.filter((p) => p.startsWith('!')).map((p) => toRegex(p.slice(1)));
  return include.some((p) => toRegex(p).test(name)) && !exclude.some((re) => re.test(name));
}
