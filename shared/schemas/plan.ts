import { z } from 'zod';
import { ImageShapeSchema, PreparedDatasetSchema } from './dataset.js';
import {
  type Selection,
  SelectionSchema,
  StrategySchema,
  SvmLossSchema,
  SweepSpecSchema,
} from './sweep-spec.js';

/**
 * One point of the search space. `id` is a short stable hash of its parameters (the parameters
 * at their defaults are left out of the hash, so ids of plain finetune/scratch variants are the
 * same as before the strategy-specific parameters existed).
 * - finetune: all fields but svmC/svmLoss;
 * - scratch: freezeDepth 0, lrMultiplier 1, augment;
 * - bottleneck-linear: freezeDepth = every layer up to the cut (all frozen), svmC, svmLoss,
 *   learningRate = the SVM optimiser's rate = training.learningRate x lrMultiplier, with
 *   lrMultiplier fixed at SVM_LR_MULTIPLIER (10; not a grid dimension for this strategy).
 * The fields a strategy sets are its descriptor's (shared/strategies/<name>.ts, `expand`).
 * The optional fields are absent in plans written before they existed.
 */
export const VariantSchema = z.object({
  id: z.string(),
  index: z.number().int().nonnegative(),
  strategy: StrategySchema,
  freezeDepth: z.number().int().nonnegative(),
  /**
   * finetune: the layer name the spec's freezeDepth entry gave (frozen through it), kept for the
   * description (`freeze=fc1`); absent for a count. Not part of the id: `freezeDepth` is.
   */
  freezeAt: z.string().optional(),
  lrMultiplier: z.number().positive(),
  /** Effective (body) learning rate: training.learningRate x lrMultiplier. */
  learningRate: z.number().positive(),
  headLrMultiplier: z.number().positive().optional(),
  /** Learning rate of the new head's layers: learningRate x headLrMultiplier. */
  headLearningRate: z.number().positive().optional(),
  /** Train on augmented batches (spec.augmentation, or DEFAULT_AUGMENTATION). */
  augment: z.boolean().optional(),
  svmC: z.number().positive().optional(),
  svmLoss: SvmLossSchema.optional(),
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

/** One rung of a successive-halving plan (shared/planner/rungs.ts). */
export const RungSchema = z.object({
  rung: z.number().int().nonnegative(),
  folds: z.array(z.number().int().nonnegative()).min(1),
  variants: z.number().int().positive(),
});

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
  /**
   * The cut layer, resolved from spec.model.cutLayer: the last base layer kept. Absent in plans
   * written before cut points existed, which cut just below the softmax head.
   */
  cutLayer: z.string().optional(),
  /**
   * How the winning variant is chosen (spec.selection, default SELECTION_DEFAULT). Absent in
   * plans written before it existed: read it with planSelection, so an old sweep's leaderboard
   * keeps the champion it promoted.
   */
  selection: SelectionSchema.optional(),
  variants: z.array(VariantSchema).min(1),
  trials: z.array(TrialSchema).min(1),
  /**
   * Successive halving (spec.search.scheduler): the rungs, run one after another. Rung r runs
   * `folds` of `variants` variants (rung 0: fold 0 of all; then the best ceil(n / eta) of the
   * previous rung); which variants is decided when the previous rung finishes
   * (shared/planner/rungs.ts). `trials` still lists every (variant, fold) pair; pruned ones never
   * run. Absent: every trial runs at once.
   */
  rungs: z.array(RungSchema).min(1).optional(),
});
export type Plan = z.infer<typeof PlanSchema>;

/** The name of the plan's cut layer (default: the base layer just below the softmax head). */
export function planCutLayer(plan: Pick<Plan, 'cutLayer' | 'baseModel'>): string {
  const layers = plan.baseModel.layers;
  return plan.cutLayer ?? layers[layers.length - 1]?.name ?? '';
}

/** A plan's selection rule: a spec's, or the one of plans written before selection rules. */
export type PlanSelection = Selection | 'best-mean-lower-std';

/**
 * The rule that picks this plan's winning variant (shared/aggregation/leaderboard.ts); for a plan
 * written before selection rules existed, `best-mean-lower-std`: first place, ties broken by the
 * lower fold std, as it was promoted.
 */
export function planSelection(plan: Pick<Plan, 'selection'>): PlanSelection {
  return plan.selection ?? 'best-mean-lower-std';
}

export const planKey = (sweepId: string) => `sweeps/${sweepId}/plan.json`;
export const trialPrefix = (sweepId: string, trialIndex: number) =>
  `sweeps/${sweepId}/trials/${String(trialIndex).padStart(5, '0')}`;
export const trialResultKey = (sweepId: string, trialIndex: number) =>
  `${trialPrefix(sweepId, trialIndex)}/result.json`;
export const trialModelPrefix = (sweepId: string, trialIndex: number) =>
  `${trialPrefix(sweepId, trialIndex)}/model`;
/** Per-trial checkpoints, under one top-level prefix so a bucket lifecycle rule can expire them. */
export const trialCheckpointPrefix = (sweepId: string, trialIndex: number) =>
  `checkpoints/${sweepId}/${String(trialIndex).padStart(5, '0')}`;
export const championPrefix = (sweepId: string) => `sweeps/${sweepId}/champion`;
export const leaderboardKey = (sweepId: string) => `sweeps/${sweepId}/leaderboard.json`;
export const reportKey = (sweepId: string) => `sweeps/${sweepId}/report.md`;
/** A submitted rung's trial indices (`{ rung, trials }`): Batch array child i runs trials[offset + i]. */
export const rungKey = (sweepId: string, rung: number) =>
  `sweeps/${sweepId}/rungs/${String(rung).padStart(3, '0')}.json`;

/**
 * The refit (spec `champion: "refit"`, the default): after the folds are ranked, the winning
 * variant trains once more on every non-holdout image, with no validation split and no early
 * stopping, for `epochs` epochs (shared/planner/refit.ts `refitEpochs`), and its model becomes the
 * champion. Decided when the last fold trial finishes, so it is not in `plan.trials`: it is trial
 * `plan.trials.length`, described by `sweeps/<id>/refit.json`. Its `fold` is `plan.folds`: the
 * fold that does not exist, so `foldSplit` gives every non-holdout image to training.
 */
export const RefitSchema = z.object({
  trialIndex: z.number().int().nonnegative(),
  variantIndex: z.number().int().nonnegative(),
  variantId: z.string(),
  fold: z.number().int().nonnegative(),
  /** Epochs the refit trains, fixed. */
  epochs: z.number().int().positive(),
  /** How `epochs` was derived: the winning variant's best epoch (1-based) in each fold. */
  rule: z.object({
    foldBestEpochs: z.array(z.number().int().positive()),
    description: z.string(),
  }),
  /** Images the refit trains on: every non-holdout image. */
  trainingImages: z.number().int().nonnegative(),
  /**
   * The fraction of the refit's optimizer steps, at the end, over which its learning rates fall
   * linearly toward zero (trainer/train.ts `finalDecay`). Absent (refits decided before it
   * existed): a constant learning rate, as they were trained.
   */
  finalDecay: z.number().min(0).max(1).optional(),
});
export type Refit = z.infer<typeof RefitSchema>;

export const refitKey = (sweepId: string) => `sweeps/${sweepId}/refit.json`;

/**
 * Trial `index` of a plan: one of `plan.trials`, or the refit trial when `refit` names it.
 * Everything that maps a trial index to its variant and fold (trainers, executors, Batch events,
 * progress) goes through here, so the refit trial is known everywhere a planned one is.
 */
export function trialAt(
  plan: Pick<Plan, 'trials'>,
  index: number,
  refit?: Refit,
): Trial | undefined {
  const planned = plan.trials[index];
  if (planned) return planned;
  if (refit && refit.trialIndex === index) {
    return {
      index,
      variantId: refit.variantId,
      variantIndex: refit.variantIndex,
      fold: refit.fold,
    };
  }
  return undefined;
}
