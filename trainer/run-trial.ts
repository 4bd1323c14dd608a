import { loadPreparedDataset } from '../shared/data/load.js';
import { foldSplit } from '../shared/planner/folds.js';
import type { ObjectStore } from '../shared/ports/object-store.js';
import { type Plan, trialModelPrefix, trialResultKey } from '../shared/schemas/plan.js';
import type { BackendName, EpochMetrics, TrialResult } from '../shared/schemas/trial-result.js';
import { toTensors } from './data.js';
import { buildFineTuneModel, reinitialized } from './model.js';
import { loadModelFromStore, saveModelToStore } from './model-io.js';
import type { Tf } from './tf.js';
import { trainWithEarlyStopping } from './train.js';

export interface RunTrialDeps {
  tf: Tf;
  backend: BackendName;
  objects: ObjectStore;
  clock?: () => Date;
  onEpoch?: (metrics: EpochMetrics, totalEpochs: number) => void | Promise<void>;
}

/**
 * Runs one trial of a plan: load data and base model, surgery, train on the fold's train split
 * with early stopping on its validation split, save the model, write the TrialResult.
 * Failures are caught and written as `status: 'failed'` with the reason, then rethrown so the
 * process exits non-zero.
 */
export async function runTrial(
  deps: RunTrialDeps,
  plan: Plan,
  trialIndex: number,
  attempt = 1,
): Promise<TrialResult> {
  const now = deps.clock ?? (() => new Date());
  const trial = plan.trials[trialIndex];
  if (!trial) {
    throw new Error(`trial index ${trialIndex} is outside the plan (0..${plan.trials.length - 1})`);
  }
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
  };
  const finish = async (result: TrialResult) => {
    await objects.put(trialResultKey(plan.sweepId, trialIndex), JSON.stringify(result, null, 1));
    return result;
  };
  const tensorsBefore = tf.memory().numTensors;
  const owned: import('@tensorflow/tfjs').Tensor[] = [];
  let model: import('@tensorflow/tfjs').LayersModel | undefined;
  let baseModel: import('@tensorflow/tfjs').LayersModel | undefined;
  try {
    const { pixels, labels } = await loadPreparedDataset(objects, plan.dataset);
    const split = foldSplit(plan.foldOf, trial.fold);
    const numClasses = plan.dataset.classes.length;
    const shape = plan.dataset.shape;
    const train = toTensors(tf, pixels, labels, shape, numClasses, split.train);
    const val = toTensors(tf, pixels, labels, shape, numClasses, split.validation);
    owned.push(train.xs, train.ys, val.xs, val.ys);
    baseModel = await loadModelFromStore(tf, objects, plan.baseModel.prefix);
    const source = variant.strategy === 'scratch' ? await reinitialized(tf, baseModel) : baseModel;
    if (source !== baseModel) {
      baseModel.dispose();
      baseModel = source;
    }
    model = buildFineTuneModel(tf, source, {
      strategy: variant.strategy,
      numClasses,
      freezeDepth: variant.freezeDepth,
      learningRate: variant.learningRate,
    });
    const settings = plan.spec.training;
    const outcome = await trainWithEarlyStopping(
      tf,
      model,
      { xTrain: train.xs, yTrain: train.ys, xVal: val.xs, yVal: val.ys },
      {
        epochs: settings.epochs,
        batchSize: settings.batchSize,
        patience: settings.patience,
        objective: settings.objective,
        onEpoch: (m) => deps.onEpoch?.(m, settings.epochs),
      },
    );
    const modelPrefix = trialModelPrefix(plan.sweepId, trialIndex);
    await saveModelToStore(tf, model, objects, modelPrefix);
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
      objective: outcome.objective,
      modelPrefix,
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
    tf.dispose(owned);
    // The fine-tune model shares the base's layers; disposing it frees both.
    if (model) model.dispose();
    else baseModel?.dispose();
    const leaked = tf.memory().numTensors - tensorsBefore;
    if (leaked > 0 && process.env.FOLDSWEEP_DEBUG_TENSORS) {
      process.stderr.write(`trial ${trialIndex}: ${leaked} tensors left after the trial\n`);
    }
  }
}
