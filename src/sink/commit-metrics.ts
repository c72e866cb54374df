import { tableKey } from '../core/table-schema';
import type { CoordinatorDeps } from './commit-coordinator';
import type { SinkMetrics } from './metrics';

/** The coordinator's onCommitted hook that feeds the sink metrics. */
export function recordCommits(m: SinkMetrics): NonNullable<CoordinatorDeps['onCommitted']> {
  return ({ cutLsn, durationsMs, takes }) => {
    for (const [sink, ms] of Object.entries(durationsMs)) {
      m.commits.inc({ sink });
      m.commitSeconds.observe({ sink }, ms / 1000);
    }
    let newest = 0;
    for (const t of takes) {
      for (const { event } of t.changes) {
        m.changes.inc({ table: tableKey(event.table), op: event.op });
        if (!event.snapshot && event.commitTimeMs > newest) newest = event.commitTimeMs;
      }
    }
    const now = Date.now();
    m.lastCutLsn.set(Number(cutLsn));
    m.lastCommitTime.set(now / 1000);
    if (newest > 0) m.lagSeconds.set(Math.max(0, (now - newest) / 1000));
  };
}

/** The coordinator's onFailed hook: counts failed commit attempts per kind. */
export function recordFailures(m: SinkMetrics): NonNullable<CoordinatorDeps['onFailed']> {
  return (_sink, kind) => m.commitFailures.inc({ kind });
}
