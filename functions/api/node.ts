import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import type { ServiceDeps } from '../../shared/service/deps.js';
import type { RetrainDeps } from '../../shared/service/schedules.js';
import { createApp } from './app.js';

/**
 * Keep idle connections open longer than clients do (undici: 4 s, browsers ~60 s), so the server
 * never closes a socket a client is about to reuse (that race shows up as ECONNRESET, most
 * often while the process is busy aggregating).
 */
const KEEP_ALIVE_MS = 65_000;

/** Serves the app on loopback by default; resolves with the bound port. */
export function startServer(
  deps: ServiceDeps & Partial<RetrainDeps>,
  options: { port?: number; hostname?: string } = {},
) {
  return new Promise<{ port: number; close: () => Promise<void> }>((resolve) => {
    const server = serve(
      {
        fetch: createApp(deps).fetch,
        port: options.port ?? 8080,
        hostname: options.hostname ?? '127.0.0.1',
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
