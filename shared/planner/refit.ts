/**
 * The refit (spec `champion: "refit"`): after ranking, the winning variant is trained once more on
 * every non-holdout image, for a fixed number of epochs taken from its folds, and that model is
 * the champion. Pure decisions here (the epoch rule, the refit trial); the lifecycle submits it
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
 * The refit's epoch count: the median, over the winning variant's folds, of the epoch whose
 * weights each fold kept (1-based: best epoch 0 counts 1), rounded up, between 1 and
 * `maxEpochs` (training.epochs).
 *
 * Why this rule: each fold's early stopping measured, on images it did not train on, how many
 * passes over its training images the variant needs; the median ignores one fold that stopped
 * unusually early or late. The refit makes the same number of passes over all the images, so it
 * takes k/(k-1) times as many optimizer steps as a fold (1.5x with 3 folds): the step count grows
 * with the training set, as it would had the folds been larger. With no validation split the
 * refit cannot stop early itself, so the count must come from the folds.
 * Folds that recorded no best epoch (results written before it existed) count as `maxEpochs`.
 * @example
 * refitEpochs([12, 18, 30], 40); // 18
 * refitEpochs([3, 4], 40);       // 4 (median 3.5, rounded up)
 */
export function refitEpochs(foldBestEpochs: readonly number[], maxEpochs: number): number {
  if (!Number.isInteger(maxEpochs) || maxEpochs < 1) {
    throw new Error(`maxEpochs must be a positive integer, got ${maxEpochs}`);
  }
  if (foldBestEpochs.length === 0) return maxEpochs;
  const sorted = [...foldBestEpochs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return Math.min(maxEpochs, Math.max(1, Math.ceil(median)));
}

/**
 * The refit trial of a plan for its winning variant `variantIndex`, given each fold trial's best
 * epoch (0-based, as trials record it; undefined when not recorded).
 */
export function planRefit(
  plan: Pick<Plan, 'trials' | 'folds' | 'foldOf' | 'variants' | 'spec'>,
  variantIndex: number,
  bestEpochs: readonly (number | undefined)[],
): Refit {
  const variant = plan.variants[variantIndex];
  if (!variant) throw new Error(`variant ${variantIndex} is not in the plan`);
  const maxEpochs = plan.spec.training.epochs;
  const foldBestEpochs = bestEpochs.map((e) => (e === undefined ? maxEpochs : e + 1));
  const epochs = refitEpochs(foldBestEpochs, maxEpochs);
  return {
    trialIndex: plan.trials.length,
    variantIndex,
    variantId: variant.id,
    fold: plan.folds,
    epochs,
    rule: {
      foldBestEpochs,
      description: `median of the folds' best epochs (${foldBestEpochs.join(', ')}), rounded up: ${epochs} epochs on every non-holdout image`,
    },
    trainingImages: foldSplit(plan.foldOf, plan.folds).train.length,
  };
}

/** The sweep's refit, or undefined when none was decided yet. */
export async function readRefit(objects: ObjectStore, sweepId: string): Promise<Refit | undefined> {
  if (!(await objects.exists(refitKey(sweepId)))) return undefined;
  return RefitSchema.parse(await getJson(objects, refitKey(sweepId)));
}
