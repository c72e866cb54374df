import pino from 'pino';

/** The logging surface every stage takes: pino-compatible, structured, one line per event. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: object): Logger;
}

/**
 * JSON lines on stderr (stdout stays free for command output such as `status --json`).
 * Secrets never reach here as strings: connection URLs are `Secret`s whose JSON form is redacted.
 */
export function createLogger(level: string, bindings: object = {}): Logger {
  return pino(
    { level, base: { ...bindings }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination(2),
  );
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};
