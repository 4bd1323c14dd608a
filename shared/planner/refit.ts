/**
 * The refit (spec `champion: "refit"`): after ranking, the winning variant is trained once more on
 * every non-holdout image, for a fixed number of epochs, and that model is the champion. Pure
 * decisions here (the epoch rule, the refit trial); the lifecycle submits it
 * (shared/service/refit.ts) and the trainer runs it like any trial (trainer/run-trial.ts).
 * @module
 */
import { getJson, type ObjectStore } from '../ports/object-store.js';
import { type Plan, type Refit, RefitSchema, refitKey } from '../schemas/plan.js';
import { foldSplit } from './folds.js';

/** Whether a sweep ends with a refit trial (spec `champion: "refit"`, the default). */
export function refits(plan: Pick<Plan, 'spec'>): boolean {
  return plan.spec.champion === 'refit';
}

/**
 * How the refit's epoch count comes from the winning variant's folds (each fold's best epoch:
 * the 1-based epoch whose weights its early stopping kept):
 * - `median`: the median fold's best epoch, rounded up;
 * - `scaled`: the median times k/(k-1) for k folds (1.5 with 3), rounded up: the refit's
 *   training set is that much larger, as if the folds had been;
 * - `max`: the latest fold's best epoch;
 * - `budget`: training.epochs, ignoring the folds.
 * Every rule stays between 1 and training.epochs. benchmarks/refit-epochs.ts measures them
 * against each other on the same sweeps.
 */
export const REFIT_EPOCH_RULES = ['median', 'scaled', 'max', 'budget'] as const;
export type RefitEpochRule = (typeof REFIT_EPOCH_RULES)[number];
/**
 * The rule the refit uses: `budget`, with REFIT_FINAL_DECAY. Measured on the Fashion-MNIST
 * transfer task (docs/benchmarks/refit-epochs.md, 10 / 5 / 3 seeds at n = 100 / 500 / 2000), the
 * refit's test accuracy was 88.2 / 93.0 / 95.2 with `median` (the rule before), 89.1 / 93.8 /
 * 96.4 with `budget` and the decay: the highest at every size. A fold's early stopping keeps the
 * first epoch of a plateau, so the folds' best epochs undercount what training on all the images
 * can use; the decay keeps the extra epochs from ending on a bad step. The price is a refit of
 * the full training.epochs.
 */
export const REFIT_EPOCH_RULE: RefitEpochRule = 'budget';
/**
 * The fraction of the refit's steps, at the end, over which its learning rate falls to zero
 * (Refit.finalDecay, trainer/train.ts `finalDecay`). Without it (a constant rate) the refit keeps
 * wherever its last step lands: on 100 images neighbouring epochs differ by 1-2 test points.
 */
export const REFIT_FINAL_DECAY = 0.25;

/**
 * The refit's epoch count under `rule` (default REFIT_EPOCH_RULE), between 1 and `maxEpochs`
 * (training.epochs).
 *
 * The refit has no validation split to stop on, so its count is fixed in advance. The rules other
 * than `budget` take it from the folds: each fold's early stopping measured, on images it did not
 * train on, how many passes over its training images the variant needed (measured, they
 * undercount: see REFIT_EPOCH_RULE). Folds that recorded no best epoch (results written before it
 * existed) count as `maxEpochs`.
 * @example
 * refitEpochs([12, 18, 30], 40, 'median'); // 18
 * refitEpochs([3, 4], 40, 'median');       // 4 (median 3.5, rounded up)
 * refitEpochs([12, 18, 30], 40, 'scaled'); // 27 (18 x 3/2)
 * refitEpochs([12, 18, 30], 40, 'max');    // 30
 */
export function refitEpochs(
  foldBestEpochs: readonly number[],
  maxEpochs: number,
  rule: RefitEpochRule = REFIT_EPOCH_RULE,
): number {
  if (!Number.isInteger(maxEpochs) || maxEpochs < 1) {
    throw new Error(`maxEpochs must be a positive integer, got ${maxEpochs}`);
  }
  if (foldBestEpochs.length === 0 || rule === 'budget') return maxEpochs;
  const sorted = [...foldBestEpochs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const k = sorted.length;
  const epochs =
    rule === 'max' ? sorted[k - 1] : rule === 'scaled' && k > 1 ? (median * k) / (k - 1) : median;
  return Math.min(maxEpochs, Math.max(1, Math.ceil(epochs)));
}

/** How each rule reads, for the refit's recorded description. */
const RULE_TEXT: Record<RefitEpochRule, string> = {
  median: "median of the folds' best epochs, rounded up",
  scaled: "median of the folds' best epochs x k/(k-1), rounded up",
  max: "latest of the folds' best epochs",
  budget: 'training.epochs',
};

/**
 * The refit trial of a plan for its winning variant `variantIndex`, given each fold trial's best
 * epoch (0-based, as trials record it; undefined when not recorded). `options` replaces the
 * refit's epoch rule and final decay (benchmarks compare them; the lifecycle uses the defaults).
 */
export function planRefit(
  plan: Pick<Plan, 'trials' | 'folds' | 'foldOf' | 'variants' | 'spec'>,
  variantIndex: number,
  bestEpochs: readonly (number | undefined)[],
  options: { rule?: RefitEpochRule; finalDecay?: number } = {},
): Refit {
  const { rule = REFIT_EPOCH_RULE, finalDecay = REFIT_FINAL_DECAY } = options;
  const variant = plan.variants[variantIndex];
  if (!variant) throw new Error(`variant ${variantIndex} is not in the plan`);
  const maxEpochs = plan.spec.training.epochs;
  const foldBestEpochs = bestEpochs.map((e) => (e === undefined ? maxEpochs : e + 1));
  const epochs = refitEpochs(foldBestEpochs, maxEpochs, rule);
  return {
    trialIndex: plan.trials.length,
    variantIndex,
    variantId: variant.id,
    fold: plan.folds,
    epochs,
    rule: {
      foldBestEpochs,
      description: `${RULE_TEXT[rule]}: ${epochs} epochs on every non-holdout image (the folds' best epochs: ${foldBestEpochs.join(', ')})${finalDecay > 0 ? `, the learning rate falling linearly to zero over the last ${Math.round(100 * finalDecay)}% of the steps` : ''}`,
    },
    trainingImages: foldSplit(plan.foldOf, plan.folds).train.length,
    ...(finalDecay > 0 ? { finalDecay } : {}),
  };
}

/** The sweep's refit, or undefined when none was decided yet. */
export async function readRefit(objects: ObjectStore, sweepId: string): Promise<Refit | undefined> {
  if (!(await objects.exists(refitKey(sweepId)))) return undefined;
  return RefitSchema.parse(await getJson(objects, refitKey(sweepId)));
}
