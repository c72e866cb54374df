/**
 * Runs `task` every `everyMs`, never two runs at once (a tick that finds the last run going is
 * skipped); a failed run is reported to `onError` and the next tick tries again. `stop` waits for
 * the run in flight.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly task: () => Promise<unknown>,
    private readonly onError: (e: Error) => void,
  ) {}

  start(everyMs: number): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.task()
        .then(() => {})
        .catch((e: unknown) => this.onError(e instanceof Error ? e : new Error(String(e))))
        .finally(() => (this.running = null));
    }, everyMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
