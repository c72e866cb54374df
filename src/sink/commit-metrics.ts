import type { CoordinatorDeps } from './commit-coordinator';
import type { SinkMetrics } from './metrics';

/** The coordinator's onCommitted hook that feeds the sink metrics. */
export function recordCommits(m: SinkMetrics): NonNullable<CoordinatorDeps['onCommitted']> {
  return ({ cutLsn, durationsMs, summary }) => {
    for (const [sink, ms] of Object.entries(durationsMs)) {
      m.commits.inc({ sink });
      m.commitSeconds.observe({ sink }, ms / 1000);
    }
    for (const [k, n] of summary.changes) {
      const tab = k.indexOf('\t');
      m.changes.inc({ table: k.slice(0, tab), op: k.slice(tab + 1) }, n);
    }
    // One observation per source transaction: its changes may be spread over several channels.
    const now = Date.now();
    for (const at of summary.commitTimes.values()) m.endToEndSeconds.observe(Math.max(0, (now - at) / 1000));
    m.cutChanges.observe(summary.rows);
    m.cutBytes.observe(summary.bytes);
    for (const sink of Object.keys(durationsMs)) m.lastCommittedLsn.set({ sink }, Number(cutLsn));
    m.lastCutLsn.set(Number(cutLsn));
    m.lastCommitTime.set(now / 1000);
    if (summary.newestCommitMs > 0) m.lagSeconds.set(Math.max(0, (now - summary.newestCommitMs) / 1000));
  };
}

/** The coordinator's onFailed hook: counts failed commit attempts per kind. */
export function recordFailures(m: SinkMetrics): NonNullable<CoordinatorDeps['onFailed']> {
  return (_sink, kind) => m.commitFailures.inc({ kind });
}
