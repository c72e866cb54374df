import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * A fault-injecting HTTP proxy in front of the real REST catalog server: it forwards every
 * request and records what the client sent (method, path, Authorization), and on command
 *  - loses the answer of the next request matching `cutNext` after the server acted on it (the
 *    client sees a reset connection: a commit whose outcome is unknown), and
 *  - plays a server without multi-table commits (`hideTransactions`): /v1/config lists no
 *    transactions endpoint and POST …/transactions/commit answers 404.
 */
export class RestFaultProxy {
  readonly seen: { method: string; path: string; authorization?: string }[] = [];
  cutNext: { method: string; path: RegExp } | null = null;
  hideTransactions = false;
  private server!: http.Server;
  url = '';

  constructor(private readonly upstream: string) {}

  /** `tls`: serve https with this key and certificate. */
  async start(tls?: { key: Buffer; cert: Buffer }): Promise<this> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.handle(req, res);
    this.server = tls ? https.createServer(tls, handler) : http.createServer(handler);
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `${tls ? 'https' : 'http'}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = req.url ?? '/';
    this.seen.push({ method: req.method ?? '', path, authorization: req.headers.authorization });
    if (this.hideTransactions && req.method === 'POST' && path.endsWith('/transactions/commit')) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'no route', type: 'NotFound', code: 404 } }));
      return;
    }
    const cut = this.cutNext && req.method === this.cutNext.method && this.cutNext.path.test(path);
    if (cut) this.cutNext = null;
    const upstream = await forward(this.upstream, req, Buffer.concat(chunks));
    if (cut) {
      req.socket.destroy(); // the server acted; its answer never reaches the client
      return;
    }
    let body = upstream.body;
    if (this.hideTransactions && path.startsWith('/v1/config')) {
      const cfg = JSON.parse(body.toString('utf8')) as { endpoints?: string[] };
      cfg.endpoints = (cfg.endpoints ?? []).filter((e) => !e.includes('transactions/commit'));
      body = Buffer.from(JSON.stringify(cfg));
    }
    const headers = { ...upstream.headers, 'content-length': String(body.length) };
    delete headers['transfer-encoding'];
    res.writeHead(upstream.status, headers);
    res.end(body);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

function forward(
  upstream: string,
  req: http.IncomingMessage,
  body: Buffer,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers };
    delete headers.host;
    delete headers['accept-encoding']; // plain bodies, so that /v1/config can be rewritten
    const out = http.request(new URL(req.url ?? '/', upstream), { method: req.method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    out.on('error', reject);
    out.end(body);
  });
}
