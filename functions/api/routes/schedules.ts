import { Hono } from 'hono';
import { ValidationError } from '../../../shared/errors.js';
import { parseOrThrow } from '../../../shared/schemas/issues.js';
import { RunNowRequestSchema } from '../../../shared/schemas/schedule.js';
import {
  createSchedule,
  deleteSchedule,
  getSchedule,
  listSchedules,
  type RetrainDeps,
  runSchedule,
} from '../../../shared/service/schedules.js';

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

/** /schedules: create, list, read one with its run history, delete, run now. */
export function schedulesRoutes(deps: RetrainDeps) {
  return new Hono()
    .post('/', async (c) => {
      const schedule = await createSchedule(deps, await readJsonBody(c.req, 'a schedule'));
      return c.json({ schedule }, 201, { location: `/schedules/${schedule.id}` });
    })
    .get('/', async (c) => c.json({ schedules: await listSchedules(deps) }))
    .get('/:id', async (c) => {
      const limitText = c.req.query('limit');
      const limit = limitText === undefined ? 100 : Number(limitText);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        throw ValidationError.single('limit', 'limit must be an integer from 1 to 1000');
      }
      return c.json(await getSchedule(deps, c.req.param('id'), { limit }));
    })
    .delete('/:id', async (c) => {
      await deleteSchedule(deps, c.req.param('id'));
      return c.json({ deleted: c.req.param('id') });
    })
    .post('/:id/runs', async (c) => {
      const body = parseOrThrow(
        RunNowRequestSchema,
        await readJsonBody(c.req, '{ "force": true|false }', true),
        'run request',
      );
      const { run, created } = await runSchedule(deps, c.req.param('id'), {
        force: body.force,
        trigger: 'manual',
      });
      return c.json({ run, created }, 202);
    });
}
