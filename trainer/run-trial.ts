import { loadPreparedDataset } from '../shared/data/load.js';
import { foldSplit } from '../shared/planner/folds.js';
import type { ObjectStore } from '../shared/ports/object-store.js';
import {
  type Plan,
  type Refit,
  trialAt,
  trialModelPrefix,
  trialResultKey,
} from '../shared/schemas/plan.js';
import type { BackendName, EpochMetrics, TrialResult } from '../shared/schemas/trial-result.js';
import { saveModelToStore } from './model-io.js';
import { runnerFor, type StrategyResult } from './strategies/index.js';
import type { Tf } from './tf.js';
import type { TrainingCheckpoints } from './train.js';

export interface RunTrialDeps {
  tf: Tf;
  backend: BackendName;
  objects: ObjectStore;
  clock?: () => Date;
  onEpoch?: (metrics: EpochMetrics, totalEpochs: number) => void | Promise<void>;
  /** Per-epoch checkpoints of this trial (a trainer/checkpoint.ts Checkpointer): resume, save. */
  checkpoints?: TrainingCheckpoints;
}

/**
 * Runs one trial of a plan: load the data, let the variant's strategy (trainer/strategies/)
 * build and train its model on the fold's train split with early stopping on its validation
 * split, save the model, write the TrialResult. The refit trial (`refit`, index
 * plan.trials.length) trains on every non-holdout image for `refit.epochs`, without validation.
 * Failures are caught and written as `status: 'failed'` with the reason, then rethrown so the
 * process exits non-zero.
 */
export async function runTrial(
  deps: RunTrialDeps,
  plan: Plan,
  trialIndex: number,
  attempt = 1,
  refit?: Refit,
): Promise<TrialResult> {
  const now = deps.clock ?? (() => new Date());
  const trial = trialAt(plan, trialIndex, refit);
  if (!trial) {
    throw new Error(`trial index ${trialIndex} is outside the plan (0..${plan.trials.length - 1})`);
  }
  const isRefit = refit?.trialIndex === trialIndex;
  const variant = plan.variants[trial.variantIndex];
  const { tf, objects } = deps;
  const startedAt = now();
  const base: Omit<TrialResult, 'status' | 'finishedAt' | 'durationMs' | 'objective'> = {
    sweepId: plan.sweepId,
    trialIndex,
    variantId: variant.id,
    fold: trial.fold,
    backend: deps.backend,
    attempt,
    startedAt: startedAt.toISOString(),
    epochs: [],
    ...(isRefit ? { refit: true } : {}),
  };
  const finish = async (result: TrialResult) => {
    await objects.put(trialResultKey(plan.sweepId, trialIndex), JSON.stringify(result, null, 1));
    return result;
  };
  let trained: StrategyResult | undefined;
  try {
    const { pixels, labels } = await loadPreparedDataset(objects, plan.dataset);
    const split = foldSplit(plan.foldOf, trial.fold);
    const totalEpochs = isRefit && refit ? refit.epochs : plan.spec.training.epochs;
    trained = await runnerFor(variant.strategy).train({
      tf,
      objects,
      plan,
      variant,
      fold: trial.fold,
      pixels,
      labels,
      split,
      ...(isRefit && refit ? { epochs: totalEpochs, finalDecay: refit.finalDecay } : {}),
      onEpoch: (m) => deps.onEpoch?.(m, totalEpochs),
      checkpoints: deps.checkpoints,
    });
    const { outcome } = trained;
    const modelPrefix = trialModelPrefix(plan.sweepId, trialIndex);
    await saveModelToStore(tf, trained.model, objects, modelPrefix);
    const finishedAt = now();
    return await finish({
      ...base,
      status: 'succeeded',
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - startedAt.getTime(),
      trainSamples: split.train.length,
      valSamples: split.validation.length,
      epochs: outcome.epochs,
      bestEpoch: outcome.bestEpoch,
      stoppedEarly: outcome.stoppedEarly,
      objective: isRefit ? null : outcome.objective,
      modelPrefix,
      bottleneckCache: trained.bottleneckCache,
      featuresMs: trained.featuresMs,
    });
  } catch (error) {
    const finishedAt = now();
    await finish({
      ...base,
      status: 'failed',
      reason: error instanceof Error ? error.message : String(error),
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - startedAt.getTime(),
      objective: null,
    });
    throw error;
  } finally {
    trained?.release();
  }
}
