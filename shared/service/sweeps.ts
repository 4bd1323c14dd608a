import { NotFoundError, ValidationError } from '../errors.js';
import { planSweep } from '../planner/plan-sweep.js';
import { getJson } from '../ports/object-store.js';
import { parseOrThrow } from '../schemas/issues.js';
import { type Plan, PlanSchema, planKey } from '../schemas/plan.js';
import type { SweepRecord, SweepStatus, TrialRecord } from '../schemas/state.js';
import { SweepSpecSchema } from '../schemas/sweep-spec.js';
import type { ServiceDeps } from './deps.js';

export interface SweepProgress {
  trialsTotal: number;
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
  /** Fraction of trials that are terminal, 0..1. */
  fraction: number;
}

export interface SweepView extends SweepRecord {
  progress: SweepProgress;
}

/**
 * Validates a sweep spec, prepares its data and base model, plans it, stores the plan and the
 * sweep, and submits the trials. Every check that can fail runs before anything is stored, so a
 * bad spec leaves the state untouched.
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
  const spec = parseOrThrow(SweepSpecSchema, input, 'sweep spec');
  const log = deps.logger.child({ op: 'createSweep' });
  const baseModel = await deps.models.importBaseModel(spec.baseModel, 'baseModel');
  const dataset = await deps.datasets.prepare(spec.dataset, baseModel.inputShape, 'dataset');
  const testSet = spec.testSet
    ? await deps.datasets.prepare(spec.testSet, baseModel.inputShape, 'testSet')
    : undefined;
  const labels = await deps.objects.get(dataset.labelsKey);
  const id = deps.newId();
  const now = deps.clock.now().toISOString();
  const plan = planSweep({
    sweepId: id,
    createdAt: now,
    spec,
    dataset,
    labels,
    baseModel,
    testSet,
  });
  await deps.objects.put(planKey(id), JSON.stringify(plan));
  const sweep: SweepRecord = {
    id,
    name: spec.name,
    status: 'running',
    spec,
    createdAt: now,
    updatedAt: now,
    planKey: planKey(id),
    datasetHash: dataset.hash,
    trialsTotal: plan.trials.length,
  };
  await deps.state.createSweep(sweep);
  for (const t of plan.trials) {
    await deps.state.putTrial({
      sweepId: id,
      trialIndex: t.index,
      variantId: t.variantId,
      fold: t.fold,
      status: 'pending',
      attempt: 0,
      objective: null,
      updatedAt: now,
    });
  }
  log.info(
    {
      sweepId: id,
      variants: plan.variants.length,
      folds: plan.folds,
      trials: plan.trials.length,
      dataset: dataset.hash.slice(0, 12),
      samples: dataset.count,
    },
    'sweep planned',
  );
  try {
    await deps.executor.submit(plan);
  } catch (error) {
    const failed = await deps.state.updateSweep(id, {
      status: 'failed',
      error: `submitting the trials failed: ${(error as Error).message}`,
      updatedAt: deps.clock.now().toISOString(),
    });
    return { sweep: failed, plan };
  }
  return { sweep, plan };
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
  const trials = await deps.state.listTrials(id);
  return { ...sweep, progress: summarizeProgress(sweep.trialsTotal, trials) };
}

export async function listSweeps(
  deps: ServiceDeps,
  options: { limit?: number; status?: SweepStatus } = {},
): Promise<SweepRecord[]> {
  return deps.state.listSweeps({ limit: options.limit ?? 50, status: options.status });
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

/**
 * Sweeps a previous process left unfinished (it stopped while trials ran or while aggregating).
 * For each: the plan and which trials the state store records as finished, so the caller can run
 * only the rest (a trial whose process died before its state was recorded runs again and
 * overwrites its result). Nothing is changed here.
 */
export async function findInterruptedSweeps(
  deps: Pick<ServiceDeps, 'state' | 'objects'>,
): Promise<{ sweep: SweepRecord; plan: Plan; finished: Map<number, 'succeeded' | 'failed'> }[]> {
  const out = [];
  for (const status of ['running', 'aggregating'] as const) {
    for (const sweep of await deps.state.listSweeps({ status, limit: 10_000 })) {
      const plan = await loadPlan(deps, sweep.id);
      const finished = new Map<number, 'succeeded' | 'failed'>();
      for (const t of await deps.state.listTrials(sweep.id)) {
        if (t.status === 'succeeded' || t.status === 'failed') finished.set(t.trialIndex, t.status);
      }
      out.push({ sweep, plan, finished });
    }
  }
  return out;
}
