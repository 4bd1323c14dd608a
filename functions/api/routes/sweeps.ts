import { Hono } from 'hono';
import { ConflictError, ValidationError } from '../../../shared/errors.js';
import { SweepStatusSchema } from '../../../shared/schemas/state.js';
import { getLeaderboard } from '../../../shared/service/aggregate.js';
import type { ServiceDeps } from '../../../shared/service/deps.js';
import {
  cancelSweep,
  redriveAggregation,
  resumeSweep,
  startPreparation,
  submitSweep,
} from '../../../shared/service/lifecycle.js';
import { getSweep, listSweeps } from '../../../shared/service/sweeps.js';

const LIST_QUERY = ['limit', 'status'];

/**
 * /sweeps: submit (202, prepared in the background), list, read one with its progress, its
 * leaderboard, and the lifecycle verbs: cancel, resume, aggregate (re-drive).
 */
export function sweepsRoutes(deps: ServiceDeps) {
  return (
    new Hono()
      // 202 at once: the spec's shape is checked here; model, data and plan are prepared after.
      .post('/', async (c) => {
        let body: unknown;
        try {
          body = await c.req.json();
        } catch {
          throw ValidationError.single('(body)', 'the body is not JSON: send a sweep spec as JSON');
        }
        const sweep = await submitSweep(deps, body);
        await startPreparation(deps, sweep.id);
        return c.json({ sweep }, 202, { location: `/sweeps/${sweep.id}` });
      })
      .get('/', async (c) => {
        const unknown = Object.keys(c.req.queries()).filter((k) => !LIST_QUERY.includes(k));
        if (unknown.length > 0) {
          throw ValidationError.single(
            unknown[0] ?? '(query)',
            `unknown query parameter${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: GET /sweeps takes ${LIST_QUERY.join(', ')}`,
          );
        }
        const limitText = c.req.query('limit');
        const limit = limitText === undefined ? 50 : Number(limitText);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
          throw ValidationError.single('limit', 'limit must be an integer from 1 to 1000');
        }
        const statusText = c.req.query('status');
        const status =
          statusText === undefined ? undefined : SweepStatusSchema.safeParse(statusText);
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
      .get('/:id/leaderboard', async (c) => c.json(await getLeaderboard(deps, c.req.param('id'))))
      // A verb on the sweep, not a DELETE: the sweep and its finished trials stay readable.
      .post('/:id/cancel', async (c) =>
        c.json({ sweep: await cancelSweep(deps, c.req.param('id')) }),
      )
      .post('/:id/resume', async (c) => {
        const outcome = await resumeSweep(deps, c.req.param('id'), { prepareInBackground: true });
        if (outcome.status === 'skipped') throw new ConflictError(outcome.reason);
        return c.json({ sweep: await getSweep(deps, c.req.param('id')) }, 202);
      })
      .post('/:id/aggregate', async (c) => {
        const outcome = await redriveAggregation(deps, c.req.param('id'));
        return c.json({ outcome: outcome.status, sweep: await getSweep(deps, c.req.param('id')) });
      })
  );
}
