import type { Logger } from './observe/logger';

/**
 * Two-phase, idempotent stop: the first SIGTERM/SIGINT (or a fatal stage error) runs the
 * graceful steps in order (stop input, drain, commit, acknowledge, close), each even if an
 * earlier one threw; a deadline shorter than Kubernetes' grace period forces the exit; a second
 * signal exits at once.
 */
export class Shutdown {
  private readonly steps: Array<{ name: string; run: () => Promise<void> }> = [];
  private started: Promise<void> | null = null;
  private resolveStopped!: () => void;
  /** Resolves when a stop was requested (signal or fatal error). */
  readonly requested: Promise<string>;
  private request!: (why: string) => void;

  constructor(
    private readonly logger: Logger,
    private readonly deadlineMs: number,
    handleSignals = true,
  ) {
    this.requested = new Promise((r) => (this.request = r));
    if (!handleSignals) return;
    const onSignal = (sig: string) => {
      if (this.started) {
        logger.warn({ signal: sig }, 'second signal: exiting now');
        process.exit(130);
      }
      this.request(sig);
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
  }

  /** Steps run in the order they were added. */
  add(name: string, run: () => Promise<void>): void {
    this.steps.push({ name, run });
  }

  stop(reason: string): void {
    this.request(reason);
  }

  run(): Promise<void> {
    if (!this.started) {
      this.started = new Promise<void>((resolve) => (this.resolveStopped = resolve));
      const timer = setTimeout(() => {
        this.logger.error({ deadlineMs: this.deadlineMs }, 'graceful stop missed its deadline: forcing exit');
        process.exit(1);
      }, this.deadlineMs);
      timer.unref();
      void (async () => {
        for (const step of this.steps) {
          try {
            await step.run();
          } catch (e) {
            this.logger.error({ step: step.name, err: e }, 'shutdown step failed; continuing with the next');
          }
        }
        clearTimeout(timer);
        this.resolveStopped();
      })();
    }
    return this.started;
  }
}
