import { createRoute, z } from '@hono/zod-openapi';
import { ValidationError } from '../../../shared/errors.js';
import { MAX_PAGE_LIMIT } from '../../../shared/ports/paging.js';
import { parseOrThrow } from '../../../shared/schemas/issues.js';
import {
  RunNowRequestSchema,
  ScheduleInputSchema,
  ScheduleRecordSchema,
  ScheduleRunSchema,
  ScheduleViewSchema,
} from '../../../shared/schemas/schedule.js';
import {
  createSchedule,
  deleteSchedule,
  getSchedule,
  pageSchedules,
  type RetrainDeps,
  runSchedule,
} from '../../../shared/service/schedules.js';
import {
  apiRouter,
  errors,
  jsonResponse,
  pageBody,
  pageFields,
  pageQuery,
  requireBody,
} from '../openapi.js';

/** The JSON body, or a 400 naming the body; an empty body is `{}` when `optional`. */
export async function readJsonBody(
  req: { text(): Promise<string> },
  what: string,
  optional = false,
): Promise<unknown> {
  const text = await req.text();
  if (optional && text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw ValidationError.single('(body)', `the body is not JSON: send ${what} as JSON`);
  }
}

const ScheduleView = ScheduleViewSchema.meta({ id: 'ScheduleView' });
const ScheduleRun = ScheduleRunSchema.meta({ id: 'ScheduleRun' });
const IdParams = z.object({ id: z.string().min(1).meta({ example: 'fashion-nightly' }) });

const create = createRoute({
  method: 'post',
  path: '/',
  tags: ['schedules'],
  summary: 'Create a retraining schedule',
  description:
    'Checks the template against the model and the data it names (as a sweep would be checked), stores the schedule and puts its cron trigger; nothing is stored when a check fails.',
  middleware: [requireBody('a schedule')] as const,
  request: {
    body: {
      required: true,
      content: {
        'application/json': { schema: ScheduleInputSchema.meta({ id: 'ScheduleInput' }) },
      },
    },
  },
  responses: {
    201: jsonResponse(
      z.object({ schedule: ScheduleRecordSchema.meta({ id: 'ScheduleRecord' }) }),
      'the stored schedule (Location: /schedules/{id})',
    ),
    400: errors[400],
    409: errors[409],
  },
});

const list = createRoute({
  method: 'get',
  path: '/',
  tags: ['schedules'],
  summary: 'List schedules by id, with next fire time and last run',
  request: { query: pageQuery({}) },
  responses: {
    200: jsonResponse(
      z.object({ schedules: z.array(ScheduleView), ...pageFields }),
      'one page of schedules',
    ),
    400: errors[400],
  },
});

const show = createRoute({
  method: 'get',
  path: '/{id}',
  tags: ['schedules'],
  summary: 'A schedule with its run history, newest first',
  request: {
    params: IdParams,
    query: z.strictObject(
      {
        limit: z.coerce
          .number()
          .int()
          .min(1)
          .max(MAX_PAGE_LIMIT)
          .default(100)
          .meta({ description: `runs to show, 1 to ${MAX_PAGE_LIMIT} (default 100)` }),
      },
      {
        error: (issue) =>
          issue.code === 'unrecognized_keys'
            ? `unknown query parameter${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}: GET /schedules/{id} takes limit`
            : undefined,
      },
    ),
  },
  responses: {
    200: jsonResponse(
      z.object({ schedule: ScheduleView, runs: z.array(ScheduleRun) }),
      'the schedule and its runs',
    ),
    400: errors[400],
    404: errors[404],
  },
});

const remove = createRoute({
  method: 'delete',
  path: '/{id}',
  tags: ['schedules'],
  summary: 'Delete a schedule and its run history (model versions it promoted stay)',
  request: { params: IdParams },
  responses: {
    200: jsonResponse(z.object({ deleted: z.string() }), 'the deleted id'),
    404: errors[404],
  },
});

const runNow = createRoute({
  method: 'post',
  path: '/{id}/runs',
  tags: ['schedules'],
  summary: 'Run a schedule now',
  request: {
    params: IdParams,
    body: {
      required: false,
      content: {
        'application/json': { schema: RunNowRequestSchema.meta({ id: 'RunNowRequest' }) },
      },
    },
  },
  responses: {
    202: jsonResponse(
      z.object({ run: ScheduleRun, created: z.boolean() }),
      'the run (created: false when one was running or the slot ran already)',
    ),
    400: errors[400],
    404: errors[404],
  },
});

/** /schedules: create, list (paged), read one with its run history, delete, run now. */
export function schedulesRoutes(deps: RetrainDeps) {
  const app = apiRouter();
  // The body is optional (an empty one is {}), so the service parses it: documented, not validated here.
  app.openAPIRegistry.registerPath(runNow);
  return app
    .openapi(create, async (c) => {
      // The route checked the shape; the service parses the body as sent, as the CLI's.
      const schedule = await createSchedule(deps, await c.req.json());
      return c.json({ schedule }, 201, { location: `/schedules/${schedule.id}` });
    })
    .openapi(list, async (c) => {
      const { limit, cursor } = c.req.valid('query');
      return c.json(pageBody(c, 'schedules', await pageSchedules(deps, { limit, cursor })), 200);
    })
    .openapi(show, async (c) => {
      const { limit } = c.req.valid('query');
      return c.json(await getSchedule(deps, c.req.valid('param').id, { limit }), 200);
    })
    .openapi(remove, async (c) => {
      const { id } = c.req.valid('param');
      await deleteSchedule(deps, id);
      return c.json({ deleted: id }, 200);
    })
    .openapi({ ...runNow, request: { params: IdParams }, hide: true }, async (c) => {
      const body = parseOrThrow(
        RunNowRequestSchema,
        await readJsonBody(c.req, '{ "force": true|false }', true),
        'run request',
      );
      const { run, created } = await runSchedule(deps, c.req.valid('param').id, {
        force: body.force,
        trigger: 'manual',
      });
      return c.json({ run, created }, 202);
    });
}
