import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { ServiceDeps } from '../../shared/service/deps.js';
import type { RetrainDeps } from '../../shared/service/schedules.js';
import { mountDocs } from './docs.js';
import { errorResponse } from './errors.js';
import {
  bodySizeGuard,
  DEFAULT_BODY_LIMIT_BYTES,
  jsonContentTypeGuard,
  methodGuard,
  requireToken,
  sameOriginGuard,
} from './guards.js';
import { jsonResponse, OPENAPI_INFO } from './openapi.js';
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

const OPENAPI_TAGS = [
  { name: 'sweeps', description: 'submit, list, follow and steer sweeps' },
  { name: 'champion', description: "a completed sweep's best model and its files" },
  { name: 'schedules', description: 'scheduled retraining (docs/retraining.md)' },
  { name: 'models', description: 'the model registry: versions, serving, rollback' },
  { name: 'meta', description: 'health, this document and its reference UI (/docs)' },
];

const health = createRoute({
  method: 'get',
  path: '/health',
  tags: ['meta'],
  summary: 'Liveness (needs no token)',
  responses: { 200: jsonResponse(z.object({ status: z.literal('ok') }), 'the server is up') },
});

/**
 * The one HTTP app: served by @hono/node-server locally (`foldsweep serve`) and by
 * hono/aws-lambda on AWS. Routes are @hono/zod-openapi routes built from the schemas in
 * shared/schemas; `GET /openapi.json` is their OpenAPI 3.1 document and `GET /docs` its
 * reference UI.
 * @example
 * const res = await createApp(deps).request('/sweeps', { method: 'POST', body: JSON.stringify(spec),
 *   headers: { 'content-type': 'application/json' } });
 */
export function createApp(deps: ServiceDeps & Partial<RetrainDeps>, options: AppOptions = {}) {
  const app = new OpenAPIHono();
  // Order: auth, then 405/OPTIONS, then origin, content type and size of state-changing requests.
  if (options.token !== undefined) app.use('*', requireToken(options.token));
  app.use('*', methodGuard(app));
  app.use('*', sameOriginGuard(options.allowedOrigins));
  app.use('*', jsonContentTypeGuard());
  app.use('*', bodySizeGuard(options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES));
  app.openapi(health, (c) => c.json({ status: 'ok' as const }, 200));
  app.route('/sweeps', sweepsRoutes(deps));
  app.route('/sweeps', sweepArtifactsRoutes(deps));
  // Scheduled retraining and the model registry, where the deployment provides their stores.
  if (deps.schedules && deps.registry && deps.scheduler) {
    app.route('/schedules', schedulesRoutes(deps as RetrainDeps));
    app.route('/models', modelsRoutes(deps as RetrainDeps));
  }
  if (options.token !== undefined) {
    app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
      type: 'http',
      scheme: 'bearer',
    });
  }
  // Generated once, at the first request (it takes a few hundred ms), then served from memory.
  let document: ReturnType<typeof app.getOpenAPI31Document> | undefined;
  app.get('/openapi.json', (c) => {
    document ??= app.getOpenAPI31Document({
      openapi: '3.1.0',
      info: OPENAPI_INFO,
      tags: OPENAPI_TAGS,
      ...(options.token !== undefined ? { security: [{ bearer: [] }] } : {}),
    });
    return c.json(document, 200);
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/openapi.json',
    tags: ['meta'],
    summary: 'This OpenAPI 3.1 document',
    responses: { 200: { description: 'the document', content: { 'application/json': {} } } },
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/docs',
    tags: ['meta'],
    summary: 'The API reference UI (Swagger UI, served from the swagger-ui-dist package)',
    responses: {
      200: { description: 'the reference page', content: { 'text/html': {} } },
      404: { description: 'the UI is not installed in this deployment (Lambda)' },
    },
  });
  mountDocs(app);
  app.notFound((c) =>
    c.json(
      { error: { code: 'not_found', message: `no route ${c.req.method} ${c.req.path}` } },
      404,
    ),
  );
  app.onError((error, c) => errorResponse(c, error, deps.logger));
  return app;
}
