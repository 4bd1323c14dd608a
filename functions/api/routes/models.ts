import { createRoute, z } from '@hono/zod-openapi';
import {
  ModelSummarySchema,
  ModelVersionSchema,
  ModelViewSchema,
  PromotionEventSchema,
  RegisterModelRequestSchema,
  RollbackRequestSchema,
} from '../../../shared/schemas/registry.js';
import {
  getModel,
  getModelVersion,
  pageModels,
  pageModelVersions,
  type RegistryDeps,
  registerChampion,
  rollback,
} from '../../../shared/service/registry.js';
import {
  apiRouter,
  errors,
  jsonResponse,
  pageBody,
  pageFields,
  pageQuery,
  requireBody,
} from '../openapi.js';
import { readJsonBody } from './schedules.js';

const ModelVersion = ModelVersionSchema.meta({ id: 'ModelVersion' });
const NameParams = z.object({ name: z.string().min(1).meta({ example: 'fashion' }) });

const list = createRoute({
  method: 'get',
  path: '/',
  tags: ['models'],
  summary: 'List models by name, with their serving version',
  request: { query: pageQuery({}) },
  responses: {
    200: jsonResponse(
      z.object({ models: z.array(ModelSummarySchema.meta({ id: 'ModelSummary' })), ...pageFields }),
      'one page of models',
    ),
    400: errors[400],
  },
});

const show = createRoute({
  method: 'get',
  path: '/{name}',
  tags: ['models'],
  summary: 'One model: the serving version, every version with its lineage, the history',
  request: { params: NameParams },
  responses: {
    200: jsonResponse(ModelViewSchema.meta({ id: 'ModelView' }), 'the model'),
    404: errors[404],
  },
});

const versions = createRoute({
  method: 'get',
  path: '/{name}/versions',
  tags: ['models'],
  summary: "List a model's versions, oldest first",
  request: { params: NameParams, query: pageQuery({}) },
  responses: {
    200: jsonResponse(
      z.object({ versions: z.array(ModelVersion), ...pageFields }),
      'one page of versions',
    ),
    400: errors[400],
    404: errors[404],
  },
});

const version = createRoute({
  method: 'get',
  path: '/{name}/versions/{version}',
  tags: ['models'],
  summary: 'One version of a model',
  request: {
    params: NameParams.extend({
      version: z.coerce
        .number({ error: 'version is a positive integer, e.g. 2' })
        .int({ error: 'version is a positive integer, e.g. 2' })
        .min(1, { error: 'version is a positive integer, e.g. 2' })
        .meta({ example: 2 }),
    }),
  },
  responses: { 200: jsonResponse(ModelVersion, 'the version'), 400: errors[400], 404: errors[404] },
});

const rollbackRoute = createRoute({
  method: 'post',
  path: '/{name}/rollback',
  tags: ['models'],
  summary: 'Serve an earlier version again (default: the one that served before)',
  request: {
    params: NameParams,
    body: {
      required: false,
      content: {
        'application/json': { schema: RollbackRequestSchema.meta({ id: 'RollbackRequest' }) },
      },
    },
  },
  responses: {
    200: jsonResponse(
      z.object({ event: PromotionEventSchema.meta({ id: 'PromotionEvent' }) }).passthrough(),
      'the promotion event',
    ),
    400: errors[400],
    404: errors[404],
    409: errors[409],
  },
});

const register = createRoute({
  method: 'post',
  path: '/{name}/versions',
  tags: ['models'],
  summary: "Register a completed sweep's champion as a version (and serve it with serve: true)",
  middleware: [requireBody('{ "sweepId": "...", "serve": true }')] as const,
  request: {
    params: NameParams,
    body: {
      required: true,
      content: {
        'application/json': {
          schema: RegisterModelRequestSchema.meta({ id: 'RegisterModelRequest' }),
        },
      },
    },
  },
  responses: {
    201: jsonResponse(z.object({ created: z.boolean(), version: ModelVersion }), 'registered'),
    200: jsonResponse(
      z.object({ created: z.boolean(), version: ModelVersion }),
      'the sweep was registered before: that version',
    ),
    400: errors[400],
    404: errors[404],
    409: errors[409],
  },
});

/** /models: the registry: names (paged), one model, its versions (paged), rollback, register. */
export function modelsRoutes(deps: RegistryDeps) {
  const app = apiRouter();
  // The body is optional (an empty one is {}), so the service parses it: documented, not validated here.
  app.openAPIRegistry.registerPath(rollbackRoute);
  return app
    .openapi(list, async (c) => {
      const { limit, cursor } = c.req.valid('query');
      return c.json(pageBody(c, 'models', await pageModels(deps, { limit, cursor })), 200);
    })
    .openapi(show, async (c) => c.json(await getModel(deps, c.req.valid('param').name), 200))
    .openapi(versions, async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const page = await pageModelVersions(deps, c.req.valid('param').name, { limit, cursor });
      return c.json(pageBody(c, 'versions', page), 200);
    })
    .openapi(version, async (c) => {
      const { name, version: number } = c.req.valid('param');
      return c.json(await getModelVersion(deps, name, number), 200);
    })
    .openapi({ ...rollbackRoute, request: { params: NameParams }, hide: true }, async (c) => {
      const body = await readJsonBody(c.req, '{ "version": 2 }', true);
      return c.json(await rollback(deps, c.req.valid('param').name, body), 200);
    })
    .openapi(register, async (c) => {
      const body = await readJsonBody(c.req, '{ "sweepId": "...", "serve": true }');
      const { created, version } = await registerChampion(deps, c.req.valid('param').name, body);
      return c.json({ created, version }, created ? 201 : 200, {
        location: `/models/${version.modelName}/versions/${version.version}`,
      });
    });
}
