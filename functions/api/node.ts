import { serve } from '@hono/node-server';
import type { ServiceDeps } from '../../shared/service/deps.js';
import { createApp } from './app.js';

/** Serves the app on loopback by default; resolves with the bound port. */
export function startServer(deps: ServiceDeps, options: { port?: number; hostname?: string } = {}) {
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
          close: () => new Promise<void>((done) => server.close(() => done())),
        }),
    );
  });
}
