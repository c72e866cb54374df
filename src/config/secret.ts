/**
 * A value that must never reach a log line, a metric label or `status --json`. It only
 * yields its content through `reveal()`; every implicit conversion prints a redacted form.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return redactUrl(this.#value);
  }
  toJSON(): string {
    return redactUrl(this.#value);
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Secret(${redactUrl(this.#value)})`;
  }
}

/** Keeps scheme, host and path of a URL (useful in messages) and hides credentials; anything else is hidden whole. */
export function redactUrl(text: string): string {
  // Only a URL with an authority (scheme://…) keeps its shape: "client:secret" parses as a URL too.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return '***';
  try {
    const u = new URL(text);
    if (u.password) u.password = '***';
    u.searchParams.forEach((_v, k) => {
      if (/pass|secret|token|key/i.test(k)) u.searchParams.set(k, '***');
    });
    return u.toString();
  } catch {
    return '***';
  }
}
