// /healthz, /readyz and /metrics on --healthz-ip:--healthz-port.
//   GET /healthz → 200 "flanneld is running" (500 after a fatal error)
//   GET /readyz  → 200 "flanneld is ready", else 503 "flanneld is not ready yet"
//                  followed by a second line "reason: …" (weft addition)
//   GET /metrics → Prometheus text
// flanneld's texts, so probes written for flanneld keep working.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Agent, prometheusText } from '../agent/index';

/** Listens on host:port; while the port is taken (EADDRINUSE) retries for up to `waitMs`. */
export async function startHealthServer(agent: Agent, host: string, port: number, waitMs = 0): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (code: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'method not allowed\n');
    const s = agent.status();
    if (path === '/healthz')
      return s.healthy ? reply(200, 'flanneld is running') : reply(500, `flanneld is not healthy\nreason: ${s.reason}\n`);
    if (path === '/readyz')
      return s.ready ? reply(200, 'flanneld is ready') : reply(503, `flanneld is not ready yet\nreason: ${s.reason}\n`);
    if (path === '/metrics') return reply(200, prometheusText(agent), 'text/plain; version=0.0.4; charset=utf-8');
    return reply(404, '404 page not found\n');
  });
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      return server;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export function boundPort(server: Server): number {
  return (server.address() as AddressInfo).port;
}
