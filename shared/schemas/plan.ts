import { z } from 'zod';
import { ImageShapeSchema, PreparedDatasetSchema } from './dataset.js';
import { StrategySchema, SweepSpecSchema } from './sweep-spec.js';

/** One point of the search space. `id` is a short stable hash of its parameters. */
export const VariantSchema = z.object({
  id: z.string(),
  index: z.number().int().nonnegative(),
  strategy: StrategySchema,
  freezeDepth: z.number().int().nonnegative(),
  lrMultiplier: z.number().positive(),
  /** Effective learning rate: training.learningRate x lrMultiplier. */
  learningRate: z.number().positive(),
});
export type Variant = z.infer<typeof VariantSchema>;

/** One (variant, fold) pair. index = variantIndex * folds + fold. */
export const TrialSchema = z.object({
  index: z.number().int().nonnegative(),
  variantId: z.string(),
  variantIndex: z.number().int().nonnegative(),
  fold: z.number().int().nonnegative(),
});
export type Trial = z.infer<typeof TrialSchema>;

/** The base model, copied into the object store under `prefix` (model.json + weight files). */
export const BaseModelRefSchema = z.object({
  uri: z.string(),
  hash: z.string(),
  prefix: z.string(),
  inputShape: ImageShapeSchema,
  /** Layers of the truncated base (input layer and softmax head excluded), in order. */
  layers: z.array(z.object({ name: z.string(), className: z.string() })),
  numClasses: z.number().int().positive(),
});
export type BaseModelRef = z.infer<typeof BaseModelRefSchema>;

/**
 * The immutable expansion of a sweep, written once to `sweeps/<id>/plan.json`.
 * `foldOf[i]` is the validation fold of sample i of the prepared dataset, or -1 for holdout.
 */
export const PlanSchema = z.object({
  version: z.literal(1),
  sweepId: z.string(),
  createdAt: z.string(),
  spec: SweepSpecSchema,
  dataset: PreparedDatasetSchema,
  testSet: PreparedDatasetSchema.optional(),
  baseModel: BaseModelRefSchema,
  folds: z.number().int().min(2),
  foldOf: z.array(z.number().int().min(-1)),
  variants: z.array(VariantSchema).min(1),
  trials: z.array(TrialSchema).min(1),
});
export type Plan = z.infer<typeof PlanSchema>;

export const planKey = (sweepId: string) => `sweeps/${sweepId}/plan.json`;
export const trialPrefix = (sweepId: string, trialIndex: number) =>
  `sweeps/${sweepId}/trials/${String(trialIndex).padStart(5, '0')}`;
export const trialResultKey = (sweepId: string, trialIndex: number) =>
  `${trialPrefix(sweepId, trialIndex)}/result.json`;
export const trialModelPrefix = (sweepId: string, trialIndex: number) =>
  `${trialPrefix(sweepId, trialIndex)}/model`;
export const championPrefix = (sweepId: string) => `sweeps/${sweepId}/champion`;
export const leaderboardKey = (sweepId: string) => `sweeps/${sweepId}/leaderboard.json`;
export const reportKey = (sweepId: string) => `sweeps/${sweepId}/report.md`;
