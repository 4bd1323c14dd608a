import { Hono } from 'hono';
import type { ServiceDeps } from '../../shared/service/deps.js';
import type { RetrainDeps } from '../../shared/service/schedules.js';
import { errorResponse } from './errors.js';
import {
  bodySizeGuard,
  DEFAULT_BODY_LIMIT_BYTES,
  jsonContentTypeGuard,
  methodGuard,
  requireToken,
  sameOriginGuard,
} from './guards.js';
import { modelsRoutes } from './routes/models.js';
import { schedulesRoutes } from './routes/schedules.js';
import { sweepArtifactsRoutes } from './routes/sweep-artifacts.js';
import { sweepsRoutes } from './routes/sweeps.js';

export interface AppOptions {
  /** When set, every request but `GET /health` needs `Authorization: Bearer <token>` (local server only; Lambda uses IAM). */
  token?: string;
  /** Largest accepted request body in bytes (413 above it); default 1 MB. */
  bodyLimitBytes?: number;
  /** Origins besides the server's own allowed to send state-changing requests (no CORS headers are added). */
  allowedOrigins?: string[];
}

/**
 * The one HTTP app: served by @hono/node-server locally (`foldsweep serve`) and by
 * hono/aws-lambda on AWS.
 * @example
 * const res = await createApp(deps).request('/sweeps', { method: 'POST', body: JSON.stringify(spec),
 *   headers: { 'content-type': 'application/json' } });
 */
export function createApp(deps: ServiceDeps & Partial<RetrainDeps>, options: AppOptions = {}) {
  const app = new Hono();
  // Order: auth, then 405/OPTIONS, then origin, content type and size of state-changing requests.
  if (options.token !== undefined) app.use('*', requireToken(options.token));
  app.use('*', methodGuard(app));
  app.use('*', sameOriginGuard(options.allowedOrigins));
  app.use('*', jsonContentTypeGuard());
  app.use('*', bodySizeGuard(options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES));
  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.route('/sweeps', sweepsRoutes(deps));
  app.route('/sweeps', sweepArtifactsRoutes(deps));
  // Scheduled retraining and the model registry, where the deployment provides their stores.
  if (deps.schedules && deps.registry && deps.scheduler) {
    app.route('/schedules', schedulesRoutes(deps as RetrainDeps));
    app.route('/models', modelsRoutes(deps as RetrainDeps));
  }
  app.notFound((c) =>
    c.json(
      { error: { code: 'not_found', message: `no route ${c.req.method} ${c.req.path}` } },
      404,
    ),
  );
  app.onError((error, c) => errorResponse(c, error, deps.logger));
  return app;
}
