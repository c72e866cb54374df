import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Secret } from '../../config/secret';
import { TidemarkError } from '../../core/errors';

/** What a REST catalog answered: status, parsed JSON body (null when empty or not JSON). */
export interface RestResponse {
  readonly status: number;
  readonly body: unknown;
  readonly text: string;
}

/** The request never got an answer (refused, reset, timed out): whether it reached the server is unknown. */
export class RestTransportError extends Error {}

export interface RestAuth {
  /** A fixed bearer token. */
  readonly token?: Secret;
  /** OAuth2 client credentials `client_id:client_secret` (or a bare secret), exchanged for a token. */
  readonly credential?: Secret;
  /** The token endpoint (default: <catalog url>/v1/oauth/tokens, the spec's deprecated route). */
  readonly oauth2ServerUri?: string;
  readonly scope?: string;
}

export interface RestHttpOptions {
  readonly url: string;
  readonly auth: RestAuth;
  /** PEM file of a private CA for an https:// catalog. */
  readonly caFile?: string;
  readonly timeoutMs: number;
}

/** Tokens are renewed this long before they expire, so that no request carries a stale one. */
const TOKEN_RENEW_MARGIN_MS = 60_000;
/**
 * An idle keep-alive connection is closed by us after this long, before the server's own idle
 * timeout (5 s in many HTTP servers, 30 s in Jetty): a commit sent on a connection the server is
 * closing at that moment fails with an outcome that cannot be known.
 */
const IDLE_CONNECTION_MS = 4_000;

/**
 * The HTTP side of the REST catalog: JSON requests on one keep-alive agent, a per-request
 * timeout, and the Authorization header (a configured bearer token, or one obtained with OAuth2
 * client credentials and renewed before it expires, or once after a 401).
 */
export class RestHttp {
  private readonly agent: http.Agent;
  private base: URL;
  private token: { value: string; expiresAtMs: number } | null = null;

  constructor(private readonly opts: RestHttpOptions) {
    this.base = new URL(opts.url.replace(/\/*$/, '/'));
    const ca = opts.caFile ? readFileSync(opts.caFile) : undefined;
    this.agent =
      this.base.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, timeout: IDLE_CONNECTION_MS, ca })
        : new http.Agent({ keepAlive: true, timeout: IDLE_CONNECTION_MS });
  }

  /** The catalog's base URL (a `uri` override from /v1/config moves it). */
  rebase(url: string): void {
    this.base = new URL(url.replace(/\/*$/, '/'));
  }

  get baseUrl(): string {
    return this.base.toString();
  }

  /** `path` is relative to the base URL (no leading slash). */
  async request(method: string, path: string, body?: unknown): Promise<RestResponse> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    const auth = await this.authorization(false);
    if (auth) headers.Authorization = auth;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
    }
    const url = new URL(path, this.base);
    let res = await this.send(method, url, headers, payload);
    if (res.status === 401 && this.opts.auth.credential) {
      // The token may have been revoked or expired early: one more try with a fresh one. A 401
      // means the server did not act on the request, so a retry of a commit is safe.
      headers.Authorization = (await this.authorization(true))!;
      res = await this.send(method, url, headers, payload);
    }
    return res;
  }

  private async authorization(renew: boolean): Promise<string | null> {
    const { token, credential } = this.opts.auth;
    if (token) return `Bearer ${token.reveal()}`;
    if (!credential) return null;
    if (renew || !this.token || Date.now() >= this.token.expiresAtMs - TOKEN_RENEW_MARGIN_MS)
      this.token = await this.fetchToken(credential);
    return `Bearer ${this.token.value}`;
  }

  /** OAuth2 client credentials grant (RFC 6749 §4.4), as Iceberg's REST clients send it. */
  private async fetchToken(credential: Secret): Promise<{ value: string; expiresAtMs: number }> {
    const raw = credential.reveal();
    const colon = raw.indexOf(':');
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (colon >= 0) form.set('client_id', raw.slice(0, colon));
    form.set('client_secret', colon >= 0 ? raw.slice(colon + 1) : raw);
    form.set('scope', this.opts.auth.scope ?? 'catalog');
    const endpoint = new URL(this.opts.auth.oauth2ServerUri ?? 'v1/oauth/tokens', this.base);
    let res: RestResponse;
    try {
      res = await this.send(
        'POST',
        endpoint,
        { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        form.toString(),
      );
    } catch (e) {
      throw new TidemarkError('transient', `REST catalog token endpoint ${endpoint.origin}: no answer`, {
        cause: e,
      });
    }
    const b = res.body as { access_token?: unknown; expires_in?: unknown } | null;
    if (res.status !== 200 || typeof b?.access_token !== 'string') {
      throw new TidemarkError(
        res.status >= 500 ? 'transient' : 'config',
        `REST catalog token endpoint ${endpoint.origin}${endpoint.pathname} refused the client credentials (HTTP ${res.status})`,
        { fix: 'check sinks.iceberg.catalog.credential (client_id:client_secret) and oauth2ServerUri' },
      );
    }
    const ttlS = typeof b.expires_in === 'number' ? b.expires_in : 3600;
    return { value: b.access_token, expiresAtMs: Date.now() + ttlS * 1000 };
  }

  private send(
    method: string,
    url: URL,
    headers: Record<string, string>,
    payload: string | undefined,
  ): Promise<RestResponse> {
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(
        url,
        {
          method,
          agent: url.origin === this.base.origin ? this.agent : undefined,
          headers:
            payload === undefined ? headers : { ...headers, 'Content-Length': Buffer.byteLength(payload) },
          timeout: this.opts.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => reject(new RestTransportError(`${method} ${url.pathname}: ${e.message}`)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown = null;
            try {
              body = text ? JSON.parse(text) : null;
            } catch {
              body = null;
            }
            resolve({ status: res.statusCode ?? 0, body, text });
          });
        },
      );
      req.on('timeout', () =>
        req.destroy(
          new RestTransportError(`${method} ${url.pathname}: no answer within ${this.opts.timeoutMs} ms`),
        ),
      );
      req.on('error', (e) =>
        reject(
          e instanceof RestTransportError
            ? e
            : new RestTransportError(`${method} ${url.pathname}: ${e.message}`),
        ),
      );
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The error a REST catalog sent (spec: IcebergErrorResponse), for messages. */
export function restError(res: RestResponse): { type: string; message: string } {
  const e = (res.body as { error?: { type?: unknown; message?: unknown } } | null)?.error;
  if (e && typeof e === 'object') return { type: String(e.type ?? ''), message: String(e.message ?? '') };
  const title = /<title>([^<]*)<\/title>/i.exec(res.text)?.[1];
  return { type: '', message: (title ?? res.text).slice(0, 300) };
}
