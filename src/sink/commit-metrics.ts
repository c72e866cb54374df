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
    let count = 0;
    let bytes = 0;
    // One observation per source transaction: its changes may be spread over several channels.
    const commitTimes = new Map<number, number>();
    for (const t of takes) {
      for (const { event, bytes: b } of t.changes) {
        m.changes.inc({ table: tableKey(event.table), op: event.op });
        count++;
        bytes += b;
        if (event.snapshot) continue;
        if (event.commitTimeMs > newest) newest = event.commitTimeMs;
        commitTimes.set(event.txId, event.commitTimeMs);
      }
    }
    const now = Date.now();
    for (const at of commitTimes.values()) m.endToEndSeconds.observe(Math.max(0, (now - at) / 1000));
    m.cutChanges.observe(count);
    m.cutBytes.observe(bytes);
    for (const sink of Object.keys(durationsMs)) m.lastCommittedLsn.set({ sink }, Number(cutLsn));
    m.lastCutLsn.set(Number(cutLsn));
    m.lastCommitTime.set(now / 1000);
    if (newest > 0) m.lagSeconds.set(Math.max(0, (now - newest) / 1000));
  };
}

/** The coordinator's onFailed hook: counts failed commit attempts per kind. */
export function recordFailures(m: SinkMetrics): NonNullable<CoordinatorDeps['onFailed']> {
  return (_sink, kind) => m.commitFailures.inc({ kind });
}
