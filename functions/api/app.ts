import { Hono } from 'hono';
import type { ServiceDeps } from '../../shared/service/deps.js';
import type { RetrainDeps } from '../../shared/service/schedules.js';
import { errorResponse } from './errors.js';
import { modelsRoutes } from './routes/models.js';
import { schedulesRoutes } from './routes/schedules.js';
import { sweepArtifactsRoutes } from './routes/sweep-artifacts.js';
import { sweepsRoutes } from './routes/sweeps.js';

/**
 * The one HTTP app: served by @hono/node-server locally (`foldsweep serve`) and by
 * hono/aws-lambda on AWS.
 * @example
 * const res = await createApp(deps).request('/sweeps', { method: 'POST', body: JSON.stringify(spec),
 *   headers: { 'content-type': 'application/json' } });
 */
export function createApp(deps: ServiceDeps & Partial<RetrainDeps>) {
  const app = new Hono();
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
