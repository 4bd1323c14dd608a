import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import { getJson } from '../ports/object-store.js';
import type { Page, PageRequest } from '../ports/paging.js';
import { type Plan, PlanSchema } from '../schemas/plan.js';
import type {
  SweepProgress,
  SweepRecord,
  SweepStatus,
  SweepView,
  TrialRecord,
} from '../schemas/state.js';
import type { ServiceDeps } from './deps.js';
import { prepareSweep, submitSweep } from './lifecycle.js';

export type { SweepProgress, SweepView } from '../schemas/state.js';

/**
 * Submits a sweep and prepares it in this call (`submitSweep` then `prepareSweep`): what
 * `foldsweep run`, a schedule run and tests use; the HTTP API answers after `submitSweep` and
 * prepares in the background. A spec whose shape is wrong throws before anything is stored; a
 * problem found while preparing ends the sweep `failed` with its issues and throws them as a
 * ValidationError (the sweep record stays, failed, so `GET /sweeps/:id` shows why).
 * @throws ValidationError (field paths and what to do) for a bad spec, model or dataset
 * @example
 * const { sweep, plan } = await createSweep(deps, {
 *   baseModel: 'examples/fashion-mnist/base-model/model.json',
 *   dataset: { uri: '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz', format: 'idx' },
 *   folds: 3,
 * });
 */
export async function createSweep(
  deps: ServiceDeps,
  input: unknown,
): Promise<{ sweep: SweepRecord; plan: Plan }> {
  const submitted = await submitSweep(deps, input);
  const outcome = await prepareSweep(deps, submitted.id);
  if (outcome.status === 'running') return { sweep: outcome.sweep, plan: outcome.plan };
  if (outcome.status === 'failed' && outcome.issues[0]?.path !== '(submit)') {
    const summary = outcome.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    throw new ValidationError(`invalid sweep spec: ${summary}`, outcome.issues);
  }
  if (outcome.status === 'failed' && outcome.sweep.planKey) {
    return { sweep: outcome.sweep, plan: await loadPlan(deps, submitted.id) };
  }
  throw new ConflictError(
    `sweep ${submitted.id} did not start: ${outcome.status === 'skipped' ? outcome.reason : outcome.sweep.error}`,
  );
}

export function summarizeProgress(total: number, trials: readonly TrialRecord[]): SweepProgress {
  const count = (s: TrialRecord['status']) => trials.filter((t) => t.status === s).length;
  const succeeded = count('succeeded');
  const failed = count('failed');
  const running = count('running');
  return {
    trialsTotal: total,
    pending: total - succeeded - failed - running,
    running,
    succeeded,
    failed,
    fraction: total ? (succeeded + failed) / total : 0,
  };
}

/** A sweep with its trial progress. @throws NotFoundError */
export async function getSweep(deps: ServiceDeps, id: string): Promise<SweepView> {
  const sweep = await deps.state.getSweep(id);
  if (!sweep) throw new NotFoundError('sweep', id);
  const progress = summarizeProgress(sweep.trialsTotal, await deps.state.listTrials(id));
  if (sweep.status === 'running' && sweep.jobIds?.length && deps.executor.progress) {
    // AWS: trial records are settled when an array job ends; Batch counts its children live.
    const live = await deps.executor.progress(id, sweep.jobIds).catch(() => undefined);
    if (live && live.succeeded + live.failed >= progress.succeeded + progress.failed) {
      return {
        ...sweep,
        progress: {
          ...live,
          trialsTotal: sweep.trialsTotal,
          fraction: fractionOf(sweep.trialsTotal, live.succeeded + live.failed),
        },
      };
    }
  }
  return { ...sweep, progress };
}

const fractionOf = (total: number, done: number) => (total ? done / total : 0);

export async function listSweeps(
  deps: ServiceDeps,
  options: { limit?: number; status?: SweepStatus } = {},
): Promise<SweepRecord[]> {
  return deps.state.listSweeps({ limit: options.limit ?? 50, status: options.status });
}

/**
 * One page of sweeps, newest first; pass the page's `next` as `cursor` for the following one.
 * @throws ValidationError for a bad limit or cursor
 * @example
 * const { items, next } = await pageSweeps(deps, { limit: 100, status: 'completed' });
 */
export async function pageSweeps(
  deps: Pick<ServiceDeps, 'state'>,
  request: PageRequest & { status?: SweepStatus },
): Promise<Page<SweepRecord>> {
  return deps.state.pageSweeps(request);
}

export async function loadPlan(
  deps: Pick<ServiceDeps, 'state' | 'objects'>,
  sweepId: string,
): Promise<Plan> {
  const sweep = await deps.state.getSweep(sweepId);
  if (!sweep) throw new NotFoundError('sweep', sweepId);
  if (!sweep.planKey) throw new ValidationError(`sweep ${sweepId} has no plan`, []);
  return PlanSchema.parse(await getJson(deps.objects, sweep.planKey));
}
