import { createRoute, z } from '@hono/zod-openapi';
import { ConflictError } from '../../../shared/errors.js';
import {
  SweepRecordSchema,
  SweepStatusSchema,
  SweepViewSchema,
} from '../../../shared/schemas/state.js';
import { SweepSpecSchema } from '../../../shared/schemas/sweep-spec.js';
import { getLeaderboard } from '../../../shared/service/aggregate.js';
import type { ServiceDeps } from '../../../shared/service/deps.js';
import {
  cancelSweep,
  redriveAggregation,
  resumeSweep,
  startPreparation,
  submitSweep,
} from '../../../shared/service/lifecycle.js';
import { getSweep, pageSweeps } from '../../../shared/service/sweeps.js';
import {
  apiRouter,
  errors,
  jsonResponse,
  pageBody,
  pageFields,
  pageQuery,
  requireBody,
} from '../openapi.js';

const Sweep = SweepRecordSchema.meta({ id: 'SweepRecord' });
const SweepView = SweepViewSchema.meta({ id: 'SweepView' });
const SweepSpec = SweepSpecSchema.meta({ id: 'SweepSpec' });
const SweepParams = z.object({
  id: z.string().min(1).meta({ example: '01JSWEEP00000000000000001' }),
});
const SweepBody = z.object({ sweep: Sweep });
const Leaderboard = z.record(z.string(), z.unknown()).meta({
  id: 'Leaderboard',
  description:
    'rows: variants ranked by fold-averaged objective (mean, std, min, max, folds completed/failed/pending, complete), bestVariantId',
});

const submit = createRoute({
  method: 'post',
  path: '/',
  tags: ['sweeps'],
  summary: 'Submit a sweep',
  description:
    "202 at once with the pending sweep: the spec's shape is checked here; the model, data and plan are prepared after (GET /sweeps/{id} shows progress, or a failure with its issues).",
  middleware: [requireBody('a sweep spec')] as const,
  request: { body: { required: true, content: { 'application/json': { schema: SweepSpec } } } },
  responses: {
    202: jsonResponse(SweepBody, 'the pending sweep (Location: /sweeps/{id})'),
    400: errors[400],
  },
});

const list = createRoute({
  method: 'get',
  path: '/',
  tags: ['sweeps'],
  summary: 'List sweeps, newest first',
  request: {
    query: pageQuery({
      status: z
        .enum(SweepStatusSchema.options, {
          error: `status must be one of ${SweepStatusSchema.options.join(', ')}`,
        })
        .optional(),
    }),
  },
  responses: {
    200: jsonResponse(z.object({ sweeps: z.array(Sweep), ...pageFields }), 'one page of sweeps'),
    400: errors[400],
  },
});

const show = createRoute({
  method: 'get',
  path: '/{id}',
  tags: ['sweeps'],
  summary: 'A sweep with its progress',
  request: { params: SweepParams },
  responses: { 200: jsonResponse(SweepView, 'the sweep'), 404: errors[404] },
});

const leaderboard = createRoute({
  method: 'get',
  path: '/{id}/leaderboard',
  tags: ['sweeps'],
  summary: "The sweep's variants ranked (live while it runs)",
  request: { params: SweepParams },
  responses: { 200: jsonResponse(Leaderboard, 'the leaderboard'), 404: errors[404] },
});

const verbRequest = { params: SweepParams };
const verbErrors = { 404: errors[404], 409: errors[409] };

const cancel = createRoute({
  method: 'post',
  path: '/{id}/cancel',
  tags: ['sweeps'],
  summary: 'Cancel a sweep: its trainers stop, finished trials stay',
  request: verbRequest,
  responses: { 200: jsonResponse(SweepBody, 'the cancelled sweep'), ...verbErrors },
});

const resume = createRoute({
  method: 'post',
  path: '/{id}/resume',
  tags: ['sweeps'],
  summary: 'Run what a cancelled or interrupted sweep left',
  request: verbRequest,
  responses: {
    202: jsonResponse(z.object({ sweep: SweepView }), 'the sweep, resuming'),
    ...verbErrors,
  },
});

const aggregate = createRoute({
  method: 'post',
  path: '/{id}/aggregate',
  tags: ['sweeps'],
  summary: 'Re-drive a failed or stopped aggregation',
  request: verbRequest,
  responses: {
    200: jsonResponse(
      z.object({ outcome: z.string(), sweep: SweepView }),
      'what the aggregation did, and the sweep after it',
    ),
    ...verbErrors,
  },
});

/**
 * /sweeps: submit (202, prepared in the background), list (paged), read one with its progress,
 * its leaderboard, and the lifecycle verbs: cancel, resume, aggregate (re-drive).
 */
export function sweepsRoutes(deps: ServiceDeps) {
  return (
    apiRouter()
      .openapi(submit, async (c) => {
        // The route checked the shape; the service parses the body as sent (one code path with the CLI).
        const sweep = await submitSweep(deps, await c.req.json());
        await startPreparation(deps, sweep.id);
        return c.json({ sweep }, 202, { location: `/sweeps/${sweep.id}` });
      })
      .openapi(list, async (c) => {
        const { limit, cursor, status } = c.req.valid('query');
        return c.json(
          pageBody(c, 'sweeps', await pageSweeps(deps, { limit, cursor, status })),
          200,
        );
      })
      .openapi(show, async (c) => c.json(await getSweep(deps, c.req.valid('param').id), 200))
      .openapi(leaderboard, async (c) =>
        c.json(await getLeaderboard(deps, c.req.valid('param').id), 200),
      )
      // A verb on the sweep, not a DELETE: the sweep and its finished trials stay readable.
      .openapi(cancel, async (c) =>
        c.json({ sweep: await cancelSweep(deps, c.req.valid('param').id) }, 200),
      )
      .openapi(resume, async (c) => {
        const { id } = c.req.valid('param');
        const outcome = await resumeSweep(deps, id, { prepareInBackground: true });
        if (outcome.status === 'skipped') throw new ConflictError(outcome.reason);
        return c.json({ sweep: await getSweep(deps, id) }, 202);
      })
      .openapi(aggregate, async (c) => {
        const { id } = c.req.valid('param');
        const outcome = await redriveAggregation(deps, id);
        return c.json({ outcome: outcome.status, sweep: await getSweep(deps, id) }, 200);
      })
  );
}
