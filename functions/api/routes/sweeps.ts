import { Hono } from 'hono';
import { ValidationError } from '../../../shared/errors.js';
import { SweepStatusSchema } from '../../../shared/schemas/state.js';
import { getLeaderboard } from '../../../shared/service/aggregate.js';
import type { ServiceDeps } from '../../../shared/service/deps.js';
import { createSweep, getSweep, listSweeps } from '../../../shared/service/sweeps.js';

/** /sweeps: create, list, read one, read its leaderboard. */
export function sweepsRoutes(deps: ServiceDeps) {
  return new Hono()
    .post('/', async (c) => {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        throw ValidationError.single('(body)', 'the body is not JSON: send a sweep spec as JSON');
      }
      const { sweep, plan } = await createSweep(deps, body);
      return c.json(
        {
          sweep,
          variants: plan.variants,
          trials: plan.trials.length,
          dataset: {
            hash: plan.dataset.hash,
            count: plan.dataset.count,
            classes: plan.dataset.classes,
          },
        },
        201,
        { location: `/sweeps/${sweep.id}` },
      );
    })
    .get('/', async (c) => {
      const limitText = c.req.query('limit');
      const limit = limitText === undefined ? 50 : Number(limitText);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        throw ValidationError.single('limit', 'limit must be an integer from 1 to 1000');
      }
      const statusText = c.req.query('status');
      const status = statusText === undefined ? undefined : SweepStatusSchema.safeParse(statusText);
      if (status && !status.success) {
        throw ValidationError.single(
          'status',
          `status must be one of ${SweepStatusSchema.options.join(', ')}`,
        );
      }
      const sweeps = await listSweeps(deps, { limit, status: status?.data });
      return c.json({ sweeps });
    })
    .get('/:id', async (c) => c.json(await getSweep(deps, c.req.param('id'))))
    .get('/:id/leaderboard', async (c) => c.json(await getLeaderboard(deps, c.req.param('id'))));
}
