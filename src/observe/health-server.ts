import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface Readiness {
  /** Null when ready, else the reason (shown in /readyz's body). */
  notReadyReason(): string | null;
}

/**
 * /metrics (Prometheus text), /healthz (the process answers: liveness), /readyz (connected and
 * making progress: readiness; 503 with the reason otherwise).
 */
export async function startHealthServer(
  port: number,
  registry: Registry,
  readiness: Readiness,
): Promise<Server> {
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (url === '/metrics') {
      registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text))
        .catch((e: Error) => res.writeHead(500).end(e.message));
    } else if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (url === '/readyz') {
      const reason = readiness.notReadyReason();
      res
        .writeHead(reason === null ? 200 : 503, { 'content-type': 'text/plain' })
        .end(`${reason ?? 'ready'}\n`);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '0.0.0.0', () => resolve());
  });
  return server;
}
