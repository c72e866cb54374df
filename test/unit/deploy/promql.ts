/**
 * Just enough PromQL reading to list what an expression refers to: metric names, the label
 * matchers of each selector, and the labels of by/without/on/ignoring/group_* clauses.
 */
export interface PromqlRefs {
  metrics: string[];
  /** Label names matched in a selector, per metric name ('' for a selector without one). */
  matchers: Array<{ metric: string; labels: string[] }>;
  /** Labels named in grouping and matching clauses. */
  groupings: string[];
}

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
]);

export function promqlRefs(expr: string): PromqlRefs {
  const groupings: string[] = [];
  let rest = expr.replace(
    /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g,
    (_m, _k, labels: string) => {
      groupings.push(
        ...labels
          .split(',')
          .map((l) => l.trim())
          .filter(Boolean),
      );
      return ' ';
    },
  );
  const matchers: PromqlRefs['matchers'] = [];
  rest = rest.replace(
    /([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}/g,
    (_m, metric: string | undefined, body: string) => {
      const labels = [...body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"/g)].map(
        (l) => l[1]!,
      );
      matchers.push({ metric: metric ?? '', labels });
      return ` ${metric ?? ''} `;
    },
  );
  rest = rest
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\$[a-zA-Z_]+/g, ' ');
  const metrics = new Set<string>();
  for (const m of rest.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const word = m[1]!;
    if (m[2] || KEYWORDS.has(word) || /^[0-9]/.test(word)) continue;
    // Numbers such as 1e9 or 0x10 are not names.
    const before = rest[(m.index ?? 0) - 1];
    if (before && /[0-9.]/.test(before)) continue;
    metrics.add(word);
  }
  return { metrics: [...metrics], matchers, groupings };
}
