/**
 * Successive halving in the lifecycle: a halving sweep (plan.rungs) is submitted one rung at a
 * time; when a rung's trials are all finished, the drained path (settleSweep: the local pool
 * draining, the rung's last Batch array job event) submits the next rung instead of aggregating,
 * until the last rung has finished. The decisions are the pure ones of shared/planner/rungs.ts
 * replayed over the trial records, so every process reaches the same next rung.
 * @module
 */
import { refits } from '../planner/refit.js';
import { type HalvingProgress, halvingProgress, plannedTrialCount } from '../planner/rungs.js';
import { type Plan, rungKey } from '../schemas/plan.js';
import type { SweepRecord, TrialRecord } from '../schemas/state.js';
import { pendingTrialRecord } from '../schemas/trial-result.js';
import type { ServiceDeps } from './deps.js';

/** The trials that ended, by index, from their records: what a submission does not run again. */
export function finishedStatuses(
  records: readonly Pick<TrialRecord, 'trialIndex' | 'status'>[],
): Map<number, 'succeeded' | 'failed'> {
  const finished = new Map<number, 'succeeded' | 'failed'>();
  for (const t of records) {
    if (t.status === 'succeeded' || t.status === 'failed') finished.set(t.trialIndex, t.status);
  }
  return finished;
}

/** A plan that runs in rungs. */
export type HalvingPlan = Plan & { rungs: NonNullable<Plan['rungs']> };

export function isHalving(plan: Plan): plan is HalvingPlan {
  return (plan.rungs?.length ?? 0) > 0;
}

/**
 * Trials a sweep trains at most: every trial, or the rungs' trials for halving; plus the refit
 * trial when the spec asks for one (shared/service/refit.ts).
 */
export function trialsToRun(plan: Plan): number {
  const folds = isHalving(plan) ? plannedTrialCount(plan.rungs) : plan.trials.length;
  return folds + (refits(plan) ? 1 : 0);
}

/** Where a halving sweep stands, from its trial records (finished ones count). */
export function halvingOf(
  plan: HalvingPlan,
  records: readonly Pick<TrialRecord, 'trialIndex' | 'status' | 'objective'>[],
): HalvingProgress {
  const finished = records.flatMap((t) =>
    t.status === 'succeeded' || t.status === 'failed'
      ? [{ trialIndex: t.trialIndex, status: t.status, objective: t.objective }]
      : [],
  );
  return halvingProgress(plan, finished, plan.spec.training.objective === 'val_accuracy');
}

/**
 * Submits rung `progress.current`: writes its trial list (`rungKey`: what a Batch array child
 * reads its trial from), a pending record for each of its trials not recorded yet, then
 * `executor.submit` with only those trials. Returns the executor's job ids.
 */
export async function submitRung(
  deps: ServiceDeps,
  plan: HalvingPlan,
  progress: HalvingProgress,
  finished: ReadonlyMap<number, 'succeeded' | 'failed'> = new Map(),
): Promise<{ rung: number; trials: number[]; jobIds: string[] }> {
  const state = progress.rungs[progress.current];
  const { rung, trials } = state;
  await deps.objects.put(
    rungKey(plan.sweepId, rung),
    JSON.stringify({ rung, folds: state.folds, variants: state.variantIndices, trials }),
  );
  const recorded = new Set((await deps.state.listTrials(plan.sweepId)).map((t) => t.trialIndex));
  const now = deps.clock.now().toISOString();
  for (const index of trials) {
    if (recorded.has(index)) continue;
    await deps.state.putTrial(pendingTrialRecord(plan.sweepId, plan.trials[index], now));
  }
  const { jobIds } = await deps.executor.submit(plan, { finished, rung: { rung, trials } });
  deps.logger.info(
    { sweepId: plan.sweepId, rung, variants: state.variantIndices.length, trials: trials.length },
    'rung submitted',
  );
  return { rung, trials, jobIds };
}

/** The sweep record's per-rung job ids with rung `rung`'s set to `jobIds`. */
export function withRungJobIds(
  sweep: Pick<SweepRecord, 'rungJobIds'>,
  rung: number,
  jobIds: string[],
): string[][] {
  const all = [...(sweep.rungJobIds ?? [])];
  while (all.length < rung) all.push([]);
  all[rung] = jobIds;
  return all;
}
