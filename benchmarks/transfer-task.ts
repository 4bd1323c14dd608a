/**
 * The practice task the champion benchmarks share (champion-kinds.ts, selection-rule.ts): the
 * committed base CNN pretrained on Fashion-MNIST classes 0-4, fine-tuned on n labelled images of
 * classes 5-9 drawn with a seed, scored on the 5,000 official test images of classes 5-9. A
 * compact grid (scratch, finetune freeze 0 and 3, bottleneck-linear), 3 folds, no holdout.
 * @module
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FASHION_MNIST_CLASSES } from '../examples/fashion-mnist/classes.js';
import type { localDeps } from '../functions/deps/local.js';
import { planRefit, type RefitEpochRule } from '../shared/planner/refit.js';
import { type Plan, trialModelPrefix } from '../shared/schemas/plan.js';
import type { SweepSpecInput } from '../shared/schemas/sweep-spec.js';
import type { selectBackend } from '../trainer/backend.js';
import type { TfModelEvaluator } from '../trainer/evaluate.js';
import { runTrial } from '../trainer/run-trial.js';

export const repo = resolve(fileURLToPath(new URL('..', import.meta.url)));
const DATA_DIR = '/usr/share/datasets/fashion-mnist';
export const BASE_MODEL = 'examples/fashion-mnist/base-model/model.json';
export const SEARCH_SPACE = {
  strategy: ['scratch', 'finetune', 'bottleneck-linear'],
  freezeDepth: [0, 3],
  lrMultiplier: [1],
  svmC: [1],
};
export const TRAINING = { learningRate: 0.003, epochs: 40, batchSize: 16, patience: 6 };

/** The sweep spec of the task for n images (n/5 per class) drawn with `seed`. */
export function taskSpec(
  name: string,
  n: number,
  seed: number,
  extra: Partial<SweepSpecInput> & { training?: Record<string, unknown> } = {},
): SweepSpecInput {
  const dataset = (file: string) => ({
    uri: join(DATA_DIR, file),
    format: 'idx' as const,
    classNames: [...FASHION_MNIST_CLASSES],
  });
  const { training, ...rest } = extra;
  return {
    name,
    baseModel: join(repo, BASE_MODEL),
    dataset: {
      ...dataset('train-images-idx3-ubyte.gz'),
      subset: { classes: [5, 6, 7, 8, 9], perClass: n / 5, seed },
    },
    testSet: { ...dataset('t10k-images-idx3-ubyte.gz'), subset: { classes: [5, 6, 7, 8, 9] } },
    folds: 3,
    seed,
    searchSpace: SEARCH_SPACE,
    training: { ...TRAINING, ...training },
    ...rest,
  } as SweepSpecInput;
}

/**
 * Trains `variantIndex` of the sweep once on every non-holdout image, as trial `trialIndex` (an
 * index no sweep trial uses), in this process: for `bestEpochs` of its folds the refit's epoch
 * rule and final decay (`options`, default the refit's own), for none (`[]`) the full
 * training.epochs at a constant learning rate, as one would by hand. The seed (initialisation,
 * batch order) comes from the sweep's seed, the variant and the all-images fold, so two calls for
 * one variant differ only in epochs and decay. Returns its test accuracy.
 */
export async function trainOnAllImages(
  context: {
    deps: ReturnType<typeof localDeps>;
    tf: Awaited<ReturnType<typeof selectBackend>>['tf'];
    evaluator: TfModelEvaluator;
  },
  plan: Plan,
  variantIndex: number,
  bestEpochs: readonly (number | undefined)[],
  trialIndex: number,
  options: { rule?: RefitEpochRule; finalDecay?: number } = {},
): Promise<number> {
  // By hand is plain training: a constant learning rate unless `options` says otherwise.
  const byHand = bestEpochs.length === 0 ? { finalDecay: 0 } : {};
  const refit = {
    ...planRefit(plan, variantIndex, bestEpochs, { ...byHand, ...options }),
    trialIndex,
  };
  await runTrial(
    { tf: context.tf, backend: 'wasm', objects: context.deps.objects },
    plan,
    trialIndex,
    1,
    refit,
  );
  if (!plan.testSet) throw new Error(`sweep ${plan.sweepId} has no test set`);
  const prefix = trialModelPrefix(plan.sweepId, trialIndex);
  return (await context.evaluator.evaluate(prefix, plan.testSet)).accuracy;
}

export const pct = (x: number | null | undefined) =>
  x === null || x === undefined || Number.isNaN(x) ? 'n/a' : (100 * x).toFixed(1);
export const mean = (xs: readonly number[]) =>
  xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
export const sd = (xs: readonly number[]) => {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
};
/** `mean ± sd` in percent, or n/a for no values. */
export const meanSd = (xs: readonly number[]) =>
  xs.length ? `${pct(mean(xs))} ± ${pct(sd(xs))}` : 'n/a';
