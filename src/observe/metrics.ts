import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The process's metric registry. Stages define their own metrics beside them (see
 * docs/METRICS.md) through `metricsFor`, so that every metric is registered once per
 * registry, with low-cardinality labels only (pipeline, table, op, sink; never a key or LSN).
 */
export function createRegistry(pipeline: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ pipeline });
  collectDefaultMetrics({ register: registry, prefix: 'tidemark_process_' });
  return registry;
}

const cache = new WeakMap<Registry, Map<string, unknown>>();

/** Builds (once per registry) a set of metrics; the second call returns the same objects. */
export function metricsFor<T>(registry: Registry, name: string, build: (r: Registry) => T): T {
  let m = cache.get(registry);
  if (!m) cache.set(registry, (m = new Map()));
  if (!m.has(name)) m.set(name, build(registry));
  return m.get(name) as T;
}

export { Counter, Gauge, Histogram, Registry };
