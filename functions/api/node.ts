import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import type { ServiceDeps } from '../../shared/service/deps.js';
import type { RetrainDeps } from '../../shared/service/schedules.js';
import { type AppOptions, createApp } from './app.js';
import { isLoopback } from './guards.js';

/**
 * Keep idle connections open longer than clients do (undici: 4 s, browsers ~60 s), so the server
 * never closes a socket a client is about to reuse (that race shows up as ECONNRESET, most
 * often while the process is busy aggregating).
 */
const KEEP_ALIVE_MS = 65_000;

/**
 * Serves the app on loopback by default; resolves with the bound port. Binding any other host
 * needs a `token` (rejects otherwise); with a token, every request but `GET /health` must send
 * `Authorization: Bearer <token>`.
 */
export function startServer(
  deps: ServiceDeps & Partial<RetrainDeps>,
  options: { port?: number; hostname?: string } & AppOptions = {},
) {
  const hostname = options.hostname ?? '127.0.0.1';
  if (!isLoopback(hostname) && !options.token) {
    return Promise.reject(
      new Error(
        `refusing to serve on ${hostname} without a token: pass --token <secret> or set FOLDSWEEP_TOKEN (or bind 127.0.0.1)`,
      ),
    );
  }
  const { port, hostname: _host, ...appOptions } = options;
  return new Promise<{ port: number; close: () => Promise<void> }>((resolve) => {
    const server = serve(
      {
        fetch: createApp(deps, appOptions).fetch,
        port: port ?? 8080,
        hostname,
      },
      (info) =>
        resolve({
          port: info.port,
          close: () =>
            new Promise<void>((done) => {
              (server as Server).closeAllConnections?.();
              server.close(() => done());
            }),
        }),
    );
    (server as Server).keepAliveTimeout = KEEP_ALIVE_MS;
    (server as Server).headersTimeout = KEEP_ALIVE_MS + 1000;
  });
}
