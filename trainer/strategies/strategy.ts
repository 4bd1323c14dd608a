import { preprocessingOf } from '../../shared/model/preprocessing.js';
import type { ObjectStore } from '../../shared/ports/object-store.js';
import { fnv1a } from '../../shared/random.js';
import type { Plan, Variant } from '../../shared/schemas/plan.js';
import type { Strategy } from '../../shared/schemas/sweep-spec.js';
import type { EpochMetrics, TrialResult } from '../../shared/schemas/trial-result.js';
import { toTensors } from '../data.js';
import type { HeadOptions } from '../model.js';
import type { LayersModel, Tensor, Tf } from '../tf.js';
import type { TrainingCheckpoints, TrainOptions, TrainOutcome } from '../train.js';

/** Everything one trial's strategy needs. */
export interface TrialContext {
  tf: Tf;
  objects: ObjectStore;
  plan: Plan;
  variant: Variant;
  fold: number;
  /** The prepared dataset, every sample: uint8 pixels [count, H, W, C] and labels. */
  pixels: Uint8Array;
  labels: Uint8Array;
  /** Sample indices of this fold's training and validation splits (a refit: no validation). */
  split: { train: number[]; validation: number[] };
  /** A refit's fixed epoch count (default: training.epochs, with early stopping). */
  epochs?: number;
  /** A refit's learning-rate decay at the end (Refit.finalDecay; default none). */
  finalDecay?: number;
  onEpoch?: (metrics: EpochMetrics) => void | Promise<void>;
  checkpoints?: TrainingCheckpoints;
}

export interface StrategyResult {
  /**
   * The trained model to export: [batch, H, W, C] float32 in [0, 1] -> [batch, numClasses]
   * (probabilities, or scores for bottleneck-linear).
   */
  model: LayersModel;
  outcome: TrainOutcome;
  bottleneckCache?: TrialResult['bottleneckCache'];
  featuresMs?: number;
  /** Frees the model and everything else the strategy still holds. */
  release(): void;
}

/**
 * One way of turning the base model into a classifier for the new classes. `train` releases
 * whatever it created when it throws; on success the caller saves `model`, then calls release().
 */
export interface TrainingStrategy<N extends Strategy = Strategy> {
  /** The strategy it trains: the name of its descriptor in shared/strategies/. */
  readonly name: N;
  train(context: TrialContext): Promise<StrategyResult>;
}

/** A 32-bit seed for the trial's batch order, augmentation and head initialisation. */
export function trialSeed(plan: Plan, variant: Variant, fold: number): number {
  return Number.parseInt(fnv1a(`${plan.spec.seed}/${variant.id}/${fold}`), 16);
}

/** The spec's new-head settings (hidden layer, dropout) plus one unit per class. */
export function headOptions(plan: Plan): HeadOptions {
  return {
    numClasses: plan.dataset.classes.length,
    hiddenUnits: plan.spec.model?.head?.hiddenUnits,
    dropout: plan.spec.model?.head?.dropout,
  };
}

/** The spec's training settings as trainWithEarlyStopping options, seeded for the trial. */
export function trainOptions(context: TrialContext): TrainOptions {
  const settings = context.plan.spec.training;
  return {
    epochs: context.epochs ?? settings.epochs,
    batchSize: settings.batchSize,
    patience: settings.patience,
    patienceSteps: settings.patienceSteps,
    objective: settings.objective,
    onEpoch: context.onEpoch,
    seed: trialSeed(context.plan, context.variant, context.fold),
    checkpoints: context.checkpoints,
    ...(context.finalDecay ? { finalDecay: context.finalDecay } : {}),
  };
}

/** The fold's images as tensors: xs [n, H, W, C] float32 in [0, 1], ys one-hot. */
export function imageSplits(context: TrialContext): {
  xTrain: Tensor;
  yTrain: Tensor;
  xVal: Tensor;
  yVal: Tensor;
} {
  const { tf, pixels, labels, plan, split } = context;
  const numClasses = plan.dataset.classes.length;
  const scaling = preprocessingOf(plan.dataset);
  const { shape } = plan.dataset;
  const train = toTensors(tf, pixels, labels, shape, numClasses, split.train, scaling);
  const val = toTensors(tf, pixels, labels, shape, numClasses, split.validation, scaling);
  return { xTrain: train.xs, yTrain: train.ys, xVal: val.xs, yVal: val.ys };
}
