import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createRegistry, type Registry } from '../../../src/observe/metrics';
import { ROOT } from './support';

export interface ExportedMetric {
  type: string;
  labels: string[];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/**
 * Every metric the code exports, by the two routes that must agree: (1) a registry built the way
 * the code builds it (createRegistry with the default process metrics, then every `*Metrics`
 * factory of every src/ ** /metrics.ts), and (2) every `new Counter|Gauge|Histogram|Summary({ name })`
 * written anywhere under src/ (metrics registered outside a metrics.ts, like the dead-letter counter).
 */
export async function exportedMetrics(): Promise<{
  byRegistry: Map<string, ExportedMetric>;
  bySource: Map<string, ExportedMetric>;
}> {
  const registry = createRegistry('test');
  const files = sourceFiles(join(ROOT, 'src'));
  for (const f of files.filter((p) => p.endsWith('/metrics.ts') && !p.endsWith('/observe/metrics.ts'))) {
    const mod = require(f) as Record<string, unknown>;
    for (const [name, fn] of Object.entries(mod)) {
      if (typeof fn === 'function' && /Metrics$/.test(name)) (fn as (r: Registry) => unknown)(registry);
    }
  }
  const byRegistry = new Map<string, ExportedMetric>();
  for (const m of await registry.getMetricsAsJSON()) {
    const labelNames =
      (registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] }).labelNames ?? [];
    byRegistry.set(m.name, { type: String(m.type), labels: [...labelNames] });
  }

  const bySource = new Map<string, ExportedMetric>();
  const ctor = /new\s+(Counter|Gauge|Histogram|Summary)\s*\(\s*\{([\s\S]*?)\}\s*\)/g;
  for (const f of files) {
    for (const m of readFileSync(f, 'utf8').matchAll(ctor)) {
      const body = m[2]!;
      const name = /name:\s*'([^']+)'/.exec(body)?.[1];
      if (!name) continue;
      const labels = [...(/labelNames:\s*\[([^\]]*)\]/.exec(body)?.[1] ?? '').matchAll(/'([^']+)'/g)].map(
        (l) => l[1]!,
      );
      bySource.set(name, { type: m[1]!.toLowerCase(), labels });
    }
  }
  return { byRegistry, bySource };
}

/** The series names Prometheus stores for a metric (histograms and summaries expose several). */
export function seriesNames(name: string, type: string): string[] {
  if (type === 'histogram') return [`${name}_bucket`, `${name}_sum`, `${name}_count`];
  if (type === 'summary') return [name, `${name}_sum`, `${name}_count`];
  return [name];
}
