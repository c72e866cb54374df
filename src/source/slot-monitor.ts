import type { Client } from 'pg';
import { TidemarkError } from '../core/errors';
import type { Logger } from '../observe/logger';
import type { SourceMetrics } from './metrics';

/**
 * On a timer: writes a heartbeat into the WAL of the source database (so an idle database's
 * slot still advances), and measures the slot's lag and retained WAL for metrics and the
 * configured guard.
 */
export class SlotMonitor {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  lagBytes = 0;
  retainedBytes = 0;

  constructor(
    private readonly client: Client,
    private readonly slot: string,
    private readonly intervalMs: number,
    private readonly maxLagBytes: number | undefined,
    private readonly metrics: SourceMetrics,
    private readonly logger: Logger,
    private readonly onFatal: (e: Error) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    void this.tick();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.client.query("SELECT pg_logical_emit_message(false, 'tidemark_heartbeat', now()::text)");
      const r = await this.client.query(
        `SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint AS lag, (pg_current_wal_lsn() - restart_lsn)::bigint AS retained
           FROM pg_replication_slots WHERE slot_name = $1`,
        [this.slot],
      );
      const row = r.rows[0];
      if (!row)
        throw new TidemarkError('source_setup', `replication slot ${this.slot} disappeared`, {
          fix: 'restart tidemark: it recreates the slot and re-snapshots',
        });
      this.lagBytes = Number(row.lag ?? 0);
      this.retainedBytes = Number(row.retained ?? 0);
      this.metrics.lagBytes.set(this.lagBytes);
      this.metrics.retainedWalBytes.set(this.retainedBytes);
      // The guard is on lag (WAL written but not yet confirmed): what the pipeline has not made
      // durable yet. Retained WAL also counts what Postgres keeps for its own restart point.
      if (this.maxLagBytes !== undefined && this.lagBytes > this.maxLagBytes) {
        throw new TidemarkError(
          'source_setup',
          `slot ${this.slot} lags ${this.lagBytes} bytes of WAL behind, over source.maxLagBytes=${this.maxLagBytes}`,
          {
            fix: 'find why the pipeline falls behind (sinks, Kafka) and raise source.maxLagBytes, or drop the slot and re-snapshot',
          },
        );
      }
    } catch (e) {
      if (e instanceof TidemarkError) this.onFatal(e);
      else this.logger.warn({ err: (e as Error).message }, 'slot monitor query failed');
    } finally {
      this.busy = false;
    }
  }
}
