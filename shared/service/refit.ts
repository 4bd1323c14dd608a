/**
 * The refit stage of the lifecycle (spec `champion: "refit"`, the default). When every fold trial
 * of a sweep has finished (and every rung, for successive halving), the drained path does not
 * aggregate yet: it ranks the variants, decides the refit (shared/planner/refit.ts: the winning
 * variant, its epochs), and submits it as one more trial, as successive halving submits a rung:
 * `running -advance-> aggregating` (so that of two racing settlements one submits), the refit
 * written to `refit.json` and its trial list to the next rung's key, the trial submitted,
 * `aggregating -rung-> running`. Locally the pool runs it; on AWS it is one more Batch job. When
 * it has finished, the drained path runs again and aggregates: the refit model is the champion
 * (shared/service/aggregate.ts).
 * @module
 */
import { buildLeaderboard } from '../aggregation/leaderboard.js';
import { planRefit, readRefit, refits } from '../planner/refit.js';
import { type Plan, type Refit, refitKey, rungKey, trialAt } from '../schemas/plan.js';
import type { SweepRecord, TrialRecord } from '../schemas/state.js';
import { pendingTrialRecord } from '../schemas/trial-result.js';
import type { ServiceDeps } from './deps.js';
import { finishedStatuses, isHalving, withRungJobIds } from './halving.js';

/** The rung number the refit is submitted as: after the plan's rungs (0 without halving). */
export function refitRung(plan: Pick<Plan, 'rungs'>): number {
  return plan.rungs?.length ?? 0;
}

const finishedStatus = (t: Pick<TrialRecord, 'status'>) =>
  t.status === 'succeeded' || t.status === 'failed';

/** What the refit stage decided for a sweep whose fold trials have all finished. */
export type RefitStage =
  /** Nothing to refit: not asked for, no complete variant (aggregation says why), or done. */
  | { status: 'none' }
  /** The refit trial is submitted and has not finished. */
  | { status: 'running'; refit: Refit }
  /**
   * The refit must be submitted now; `decided`: it was decided before (refit.json exists) and is
   * submitted again (after a crash while submitting it, or a resume).
   */
  | { status: 'submit'; refit: Refit; decided: boolean };

/**
 * Where a sweep's refit stands, from its trial records: `none` when it is not asked for, has
 * finished, or there is no complete variant to refit; `running` when its trial is recorded,
 * unfinished and the sweep is running (unless `resuming`: a resumed sweep's unfinished refit
 * runs again); `submit` otherwise.
 */
export async function refitStage(
  deps: ServiceDeps,
  plan: Plan,
  sweep: Pick<SweepRecord, 'status'>,
  records: readonly TrialRecord[],
  options: { resuming?: boolean } = {},
): Promise<RefitStage> {
  if (!refits(plan)) return { status: 'none' };
  const index = plan.trials.length;
  const own = records.find((t) => t.trialIndex === index);
  if (own && finishedStatus(own)) return { status: 'none' };
  const stored = await readRefit(deps.objects, plan.sweepId);
  if (own && stored && sweep.status === 'running' && !options.resuming) {
    return { status: 'running', refit: stored };
  }
  if (stored) return { status: 'submit', refit: stored, decided: true };
  const finished = records.flatMap((t) =>
    t.trialIndex < index && finishedStatus(t)
      ? [{ ...t, status: t.status as 'succeeded' | 'failed', attempt: Math.max(1, t.attempt) }]
      : [],
  );
  const board = buildLeaderboard(plan, finished);
  const best = board.rows.find((r) => r.variantId === board.bestVariantId);
  const variant = best && plan.variants.find((v) => v.id === best.variantId);
  if (!variant) return { status: 'none' };
  const byIndex = new Map(finished.map((t) => [t.trialIndex, t]));
  const bestEpochs = plan.trials
    .filter((t) => t.variantIndex === variant.index)
    .map((t) => byIndex.get(t.index)?.bestEpoch);
  return { status: 'submit', refit: planRefit(plan, variant.index, bestEpochs), decided: false };
}

/**
 * Submits the refit trial: `refit.json`, the rung list (`rungKey`: what a Batch job reads its
 * trial from), a pending record for it (when there is none), then `executor.submit` with that one
 * trial. Returns the rung number and the executor's job ids. The caller moves the sweep.
 */
export async function submitRefit(
  deps: ServiceDeps,
  plan: Plan,
  refit: Refit,
  records: readonly TrialRecord[],
): Promise<{ rung: number; jobIds: string[] }> {
  const rung = refitRung(plan);
  await deps.objects.put(refitKey(plan.sweepId), JSON.stringify(refit, null, 1));
  await deps.objects.put(
    rungKey(plan.sweepId, rung),
    JSON.stringify({
      rung,
      folds: [refit.fold],
      variants: [refit.variantIndex],
      trials: [refit.trialIndex],
      refit: true,
    }),
  );
  if (!records.some((t) => t.trialIndex === refit.trialIndex)) {
    const trial = trialAt(plan, refit.trialIndex, refit);
    if (trial) {
      await deps.state.putTrial(
        pendingTrialRecord(plan.sweepId, trial, deps.clock.now().toISOString()),
      );
    }
  }
  const { jobIds } = await deps.executor.submit(plan, {
    finished: finishedStatuses(records.filter((t) => t.trialIndex !== refit.trialIndex)),
    rung: { rung, trials: [refit.trialIndex] },
    refit,
  });
  deps.logger.info(
    {
      sweepId: plan.sweepId,
      variant: refit.variantId,
      epochs: refit.epochs,
      images: refit.trainingImages,
    },
    'refit submitted',
  );
  return { rung, jobIds };
}

/**
 * The sweep patch recording a submitted refit's jobs: under `rungJobIds[rung]` (what its Batch
 * event is matched against) and in `jobIds` (what cancel stops and progress counts). Without
 * halving the folds' job ids stay first in `jobIds`, so a late event of the folds' job is still
 * recognised as the sweep's own; with halving `jobIds` holds the current rung's, as for a rung.
 */
export function refitJobsPatch(
  plan: Pick<Plan, 'rungs'>,
  sweep: Pick<SweepRecord, 'jobIds' | 'rungJobIds'>,
  rung: number,
  jobIds: string[],
): Pick<SweepRecord, 'jobIds' | 'rung' | 'rungJobIds'> {
  const all = isHalving(plan as Plan) ? jobIds : [...new Set([...(sweep.jobIds ?? []), ...jobIds])];
  return { jobIds: all, rung, rungJobIds: withRungJobIds(sweep, rung, jobIds) };
}
