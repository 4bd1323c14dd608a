import { z } from 'zod';
import type { Trial } from './plan.js';
import type { TrialRecord } from './state.js';

export const BACKENDS = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export const BackendNameSchema = z.enum(BACKENDS);
export type BackendName = z.infer<typeof BackendNameSchema>;

/**
 * One epoch's metrics. Losses are the model's own: categorical cross-entropy for softmax models,
 * the mean one-vs-rest hinge loss (without the L2 term) for bottleneck-linear's SVM.
 * `valLoss`/`valAccuracy` are null for a refit, which has no validation split.
 */
export const EpochMetricsSchema = z.object({
  epoch: z.number().int().nonnegative(),
  loss: z.number(),
  accuracy: z.number(),
  valLoss: z.number().nullable(),
  valAccuracy: z.number().nullable(),
  durationMs: z.number().nonnegative(),
  /** tf.memory().numTensors after the epoch: flat across epochs when nothing leaks. */
  numTensors: z.number().int().nonnegative(),
});
export type EpochMetrics = z.infer<typeof EpochMetricsSchema>;

/**
 * What one trial produced, written by the trainer to `sweeps/<id>/trials/<index>/result.json`.
 * A failed trial still writes one, with `reason`.
 * @example
 * { "sweepId": "01JD...", "trialIndex": 4, "variantId": "a1b2c3d4", "fold": 1,
 *   "status": "succeeded", "backend": "wasm", "objective": 0.91, "bestEpoch": 6, ... }
 */
export const TrialResultSchema = z.object({
  sweepId: z.string(),
  trialIndex: z.number().int().nonnegative(),
  variantId: z.string(),
  fold: z.number().int().nonnegative(),
  status: z.enum(['succeeded', 'failed']),
  reason: z.string().optional(),
  backend: BackendNameSchema.optional(),
  attempt: z.number().int().min(1).default(1),
  startedAt: z.string(),
  finishedAt: z.string(),
  durationMs: z.number().nonnegative(),
  trainSamples: z.number().int().nonnegative().optional(),
  valSamples: z.number().int().nonnegative().optional(),
  epochs: z.array(EpochMetricsSchema).default([]),
  /** Epoch whose weights were kept (best objective). */
  bestEpoch: z.number().int().nonnegative().optional(),
  stoppedEarly: z.boolean().optional(),
  /** The objective's value at bestEpoch (val_accuracy or val_loss); null for a refit. */
  objective: z.number().nullable(),
  /**
   * The refit trial (spec `champion: "refit"`): trained on every non-holdout image for a fixed
   * number of epochs, without validation; `fold` is the plan's fold count.
   */
  refit: z.boolean().optional(),
  modelPrefix: z.string().optional(),
  /**
   * Trials whose frozen prefix sees un-augmented inputs (bottleneck-linear, fully frozen finetune):
   * `hit` read the bottleneck features from the cache, `miss` computed and stored them, `off`
   * (training.bottleneckCache false) ran the frozen layers on every batch instead.
   */
  bottleneckCache: z.enum(['hit', 'miss', 'off']).optional(),
  /** Time spent reading or computing the bottleneck features (included in durationMs). */
  featuresMs: z.number().nonnegative().optional(),
});
export type TrialResult = z.infer<typeof TrialResultSchema>;

/** The identity of a trial, as the plan lists it. */
export interface TrialIdentity {
  sweepId: string;
  trialIndex: number;
  variantId: string;
  fold: number;
}

/**
 * The one failed TrialResult: for a trial that could not start, whose trainer died without a
 * result, or whose Batch child was lost. `at` is both its start and finish (it did not train).
 */
export function failedTrialResult(
  trial: TrialIdentity,
  reason: string,
  options: { attempt?: number; at: string },
): TrialResult {
  return {
    sweepId: trial.sweepId,
    trialIndex: trial.trialIndex,
    variantId: trial.variantId,
    fold: trial.fold,
    status: 'failed',
    reason,
    attempt: Math.max(1, options.attempt ?? 1),
    startedAt: options.at,
    finishedAt: options.at,
    durationMs: 0,
    epochs: [],
    objective: null,
  };
}

/** The one "trial outcome -> trial record": what the state store keeps of a finished trial. */
/** The record of a planned trial that has not run yet. */
export function pendingTrialRecord(sweepId: string, trial: Trial, updatedAt: string): TrialRecord {
  return {
    sweepId,
    trialIndex: trial.index,
    variantId: trial.variantId,
    fold: trial.fold,
    status: 'pending',
    attempt: 0,
    objective: null,
    updatedAt,
  };
}

export function trialRecordOf(result: TrialResult, updatedAt: string): TrialRecord {
  return {
    sweepId: result.sweepId,
    trialIndex: result.trialIndex,
    variantId: result.variantId,
    fold: result.fold,
    status: result.status,
    attempt: result.attempt,
    objective: result.objective,
    reason: result.reason,
    backend: result.backend,
    ...(result.bestEpoch !== undefined ? { bestEpoch: result.bestEpoch } : {}),
    ...(result.durationMs !== undefined ? { durationMs: result.durationMs } : {}),
    updatedAt,
  };
}
