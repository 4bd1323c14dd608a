import { type FieldIssue, ValidationError } from '../errors.js';
import { findLayer } from '../model/layers-json.js';
import type { PreparedDataset } from '../schemas/dataset.js';
import type { BaseModelRef, Plan, Trial } from '../schemas/plan.js';
import { APPLIES_TO, isRange, SELECTION_DEFAULT, type SweepSpec } from '../schemas/sweep-spec.js';
import { assignFolds } from './folds.js';
import { planRungs } from './rungs.js';
import { expandVariants, resolveFreezeDepth } from './variants.js';

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

/** Where the base model is cut: the cut layer and every base layer up to it. */
export interface ResolvedCut {
  /** Position of the cut layer in baseModel.layers. */
  index: number;
  name: string;
  /** Names of baseModel.layers[0..index]: what freezeDepth counts. */
  bodyLayers: string[];
}

/**
 * Resolves spec.model.cutLayer (a name or an index into the layers below the softmax head;
 * default the last of them) against the base model.
 * @returns the cut, or the issue on `model.cutLayer` (or `baseModel`) saying what to use instead
 */
export function resolveCut(
  spec: SweepSpec,
  baseModel: BaseModelRef,
): { cut: ResolvedCut } | { issue: FieldIssue } {
  const layers = baseModel.layers;
  const names = layers.map((l) => l.name);
  if (layers.length === 0) {
    return {
      issue: {
        path: 'baseModel',
        message: 'the base model has no layers below its softmax head: nothing to fine-tune',
      },
    };
  }
  const ref = spec.model?.cutLayer ?? layers.length - 1;
  const index = findLayer(layers, ref);
  if (index < 0) {
    const what =
      typeof ref === 'number'
        ? `index ${ref} is out of range: the base model has ${layers.length} layers below its softmax head`
        : `'${ref}' names no layer below the base model's softmax head`;
    return {
      issue: {
        path: 'model.cutLayer',
        message: `${what}: use one of ${names.join(', ')} (or an index 0..${layers.length - 1})`,
      },
    };
  }
  return { cut: { index, name: names[index], bodyLayers: names.slice(0, index + 1) } };
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
  const resolved = resolveCut(spec, baseModel);
  if ('issue' in resolved) issues.push(resolved.issue);
  // freezeDepth only matters when a listed strategy uses it; it counts the layers up to the cut.
  const freezes = spec.searchSpace.strategy.some((s) => APPLIES_TO.freezeDepth.includes(s));
  if (freezes && 'cut' in resolved) {
    const { bodyLayers, name } = resolved.cut;
    const depth = bodyLayers.length;
    const upToCut = `the base model's ${depth} layers up to the cut layer '${name}' (${bodyLayers.join(', ')})`;
    const freezeDepth = spec.searchSpace.freezeDepth;
    if (isRange(freezeDepth)) {
      if (freezeDepth.max > depth) {
        issues.push({
          path: 'searchSpace.freezeDepth.max',
          message: `freezeDepth ${freezeDepth.max} is beyond ${upToCut}: use a max of at most ${depth}`,
        });
      }
    } else {
      freezeDepth.forEach((d, i) => {
        if (typeof d === 'number' && d > depth) {
          issues.push({
            path: `searchSpace.freezeDepth.${i}`,
            message: `freezeDepth ${d} is beyond ${upToCut}: use 0..${depth} or one of those names`,
          });
        } else if (typeof d === 'string' && resolveFreezeDepth(d, bodyLayers) < 0) {
          issues.push({
            path: `searchSpace.freezeDepth.${i}`,
            message: `freezeDepth '${d}' names none of ${upToCut}: use one of those names or 0..${depth}`,
          });
        }
      });
    }
  }
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
 * (trialIndex = variantIndex * folds + fold), a stratified, seeded fold assignment and the
 * resolved cut layer.
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
  // checkSpecAgainstArtifacts passed, so the cut resolves.
  const { cut } = resolveCut(spec, baseModel) as { cut: ResolvedCut };
  const variants = expandVariants(spec, cut.bodyLayers);
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
    cutLayer: cut.name,
    selection: spec.selection ?? SELECTION_DEFAULT,
    variants,
    trials,
    ...(spec.search?.scheduler
      ? { rungs: planRungs(variants.length, spec.folds, spec.search.scheduler.eta) }
      : {}),
  };
}
