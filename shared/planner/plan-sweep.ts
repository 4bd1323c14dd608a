import { type FieldIssue, ValidationError } from '../errors.js';
import type { PreparedDataset } from '../schemas/dataset.js';
import type { BaseModelRef, Plan, Trial } from '../schemas/plan.js';
import type { SweepSpec } from '../schemas/sweep-spec.js';
import { assignFolds } from './folds.js';
import { expandVariants } from './variants.js';

export interface PlanInput {
  sweepId: string;
  createdAt: string;
  spec: SweepSpec;
  dataset: PreparedDataset;
  /** Labels of the prepared dataset, one per sample. */
  labels: ArrayLike<number>;
  baseModel: BaseModelRef;
  testSet?: PreparedDataset;
}

/**
 * Checks a spec against the model and data it names; returns every problem at once.
 * Pure: the caller has already imported the model and prepared the data.
 */
export function checkSpecAgainstArtifacts(
  spec: SweepSpec,
  baseModel: BaseModelRef,
  dataset: PreparedDataset,
  testSet?: PreparedDataset,
): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const depth = baseModel.layers.length;
  // scratch trains every layer: freezeDepth only matters when some variant fine-tunes.
  const finetunes = spec.searchSpace.strategy.some((s) => s !== 'scratch');
  spec.searchSpace.freezeDepth.forEach((d, i) => {
    if (finetunes && d > depth) {
      issues.push({
        path: `searchSpace.freezeDepth.${i}`,
        message:
          `freezeDepth ${d} is beyond the base model's ${depth} layers below its softmax head ` +
          `(${baseModel.layers.map((l) => l.name).join(', ')}): use 0..${depth}`,
      });
    }
  });
  const [h, w, c] = baseModel.inputShape;
  const [dh, dw, dc] = dataset.shape;
  if (dh !== h || dw !== w || dc !== c) {
    issues.push({
      path: 'dataset',
      message: `prepared images are ${dataset.shape.join('x')} but the model expects ${h}x${w}x${c}`,
    });
  }
  if (testSet && testSet.classes.join('\u0000') !== dataset.classes.join('\u0000')) {
    issues.push({
      path: 'testSet',
      message:
        `test classes [${testSet.classes.join(', ')}] differ from the dataset's ` +
        `[${dataset.classes.join(', ')}]: select the same classes in the same order`,
    });
  }
  const smallest = Math.min(...dataset.countsPerClass);
  const usable = smallest - Math.round(smallest * spec.holdoutFraction);
  if (usable < spec.folds) {
    const cls = dataset.classes[dataset.countsPerClass.indexOf(smallest)];
    issues.push({
      path: 'folds',
      message:
        `folds=${spec.folds} is larger than the smallest class ('${cls}': ${usable} samples ` +
        `outside the holdout): lower folds or holdoutFraction, or add samples`,
    });
  }
  return issues;
}

/**
 * Expands a validated spec into the immutable plan: variants x folds as trials
 * (trialIndex = variantIndex * folds + fold) and a stratified, seeded fold assignment.
 * @throws ValidationError listing every field that does not fit the model or the data
 * @example
 * const plan = planSweep({ sweepId, createdAt, spec, dataset, labels, baseModel });
 * plan.trials[4]; // { index: 4, variantIndex: 1, fold: 1, variantId: '…' } with folds = 3
 */
export function planSweep(input: PlanInput): Plan {
  const { spec, dataset, baseModel, testSet } = input;
  const issues = checkSpecAgainstArtifacts(spec, baseModel, dataset, testSet);
  if (issues.length > 0) {
    throw new ValidationError(
      `the sweep spec does not fit its model or data: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
  if (input.labels.length !== dataset.count) {
    throw new ValidationError('labels do not match the prepared dataset', [
      { path: 'dataset', message: `${input.labels.length} labels for ${dataset.count} samples` },
    ]);
  }
  const foldOf = assignFolds(
    input.labels,
    dataset.classes.length,
    spec.folds,
    spec.seed,
    spec.holdoutFraction,
  );
  const variants = expandVariants(spec);
  const trials: Trial[] = [];
  for (const v of variants) {
    for (let fold = 0; fold < spec.folds; fold++) {
      trials.push({
        index: v.index * spec.folds + fold,
        variantId: v.id,
        variantIndex: v.index,
        fold,
      });
    }
  }
  return {
    version: 1,
    sweepId: input.sweepId,
    createdAt: input.createdAt,
    spec,
    dataset,
    testSet,
    baseModel,
    folds: spec.folds,
    foldOf,
    variants,
    trials,
  };
}
