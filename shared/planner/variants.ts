import { fnv1a } from '../random.js';
import type { Variant } from '../schemas/plan.js';
import { SEARCH_SPACE_DEFAULTS, type SweepSpec } from '../schemas/sweep-spec.js';

/**
 * bottleneck-linear trains its SVM (Adam, weights from 0) at training.learningRate x this: a
 * linear model on fixed features is a convex problem that takes larger steps well, and needs
 * them to converge (so that C matters) within the epochs the other strategies get.
 */
export const SVM_LR_MULTIPLIER = 10;

/**
 * The depth a freezeDepth entry stands for: a count as given, a layer name as its position + 1
 * in `bodyLayers` (frozen through that layer). -1 when the name is not among `bodyLayers`.
 */
export function resolveFreezeDepth(entry: number | string, bodyLayers: readonly string[]): number {
  if (typeof entry === 'number') return entry;
  const at = bodyLayers.indexOf(entry);
  return at < 0 ? -1 : at + 1;
}

/**
 * Expands the search-space grid into variants, in a stable order: strategies as listed; within
 * finetune freezeDepth, then lrMultiplier, then headLrMultiplier, then augment; within scratch
 * augment; within bottleneck-linear svmC, then svmLoss. A dimension multiplies only the
 * strategies it applies to, so `scratch` without augmentation contributes one variant
 * (freezeDepth 0, lrMultiplier 1: every layer from fresh weights at the scratch rate).
 * Duplicate grid points (also a layer name and the count it stands for) collapse into one.
 *
 * @param bodyLayers names of the base layers up to and including the cut, in order: needed to
 *   resolve freezeDepth names and for bottleneck-linear (whose freezeDepth is all of them)
 */
export function expandVariants(spec: SweepSpec, bodyLayers?: readonly string[]): Variant[] {
  const space = spec.searchSpace;
  const rate = spec.training.learningRate;
  const seen = new Set<string>();
  const variants: Variant[] = [];
  const add = (key: Record<string, unknown>, variant: Omit<Variant, 'id' | 'index'>) => {
    const text = JSON.stringify(key);
    if (seen.has(text)) return;
    seen.add(text);
    variants.push({ id: fnv1a(text), index: variants.length, ...variant });
  };
  const needLayers = (why: string) => {
    if (!bodyLayers) throw new Error(`expandVariants needs the layers up to the cut ${why}`);
    return bodyLayers;
  };
  const augments = space.augment ?? SEARCH_SPACE_DEFAULTS.augment;
  for (const strategy of space.strategy) {
    if (strategy === 'scratch') {
      for (const augment of augments) {
        add(
          { strategy, freezeDepth: 0, lrMultiplier: 1, ...(augment ? { augment } : {}) },
          { strategy, freezeDepth: 0, lrMultiplier: 1, learningRate: rate, augment },
        );
      }
    } else if (strategy === 'bottleneck-linear') {
      const freezeDepth = needLayers('for bottleneck-linear').length;
      for (const svmC of space.svmC ?? SEARCH_SPACE_DEFAULTS.svmC) {
        for (const svmLoss of space.svmLoss ?? SEARCH_SPACE_DEFAULTS.svmLoss) {
          add(
            { strategy, svmC, svmLoss },
            {
              strategy,
              freezeDepth,
              lrMultiplier: SVM_LR_MULTIPLIER,
              learningRate: rate * SVM_LR_MULTIPLIER,
              svmC,
              svmLoss,
            },
          );
        }
      }
    } else {
      for (const entry of space.freezeDepth) {
        const freezeDepth =
          typeof entry === 'number'
            ? entry
            : resolveFreezeDepth(entry, needLayers(`to resolve freezeDepth '${entry}'`));
        if (freezeDepth < 0) throw new Error(`freezeDepth '${entry}' names no layer up to the cut`);
        for (const lrMultiplier of space.lrMultiplier) {
          for (const headLrMultiplier of space.headLrMultiplier ??
            SEARCH_SPACE_DEFAULTS.headLrMultiplier) {
            for (const augment of augments) {
              add(
                {
                  strategy,
                  freezeDepth,
                  lrMultiplier,
                  ...(headLrMultiplier !== 1 ? { headLrMultiplier } : {}),
                  ...(augment ? { augment } : {}),
                },
                {
                  strategy,
                  freezeDepth,
                  lrMultiplier,
                  learningRate: rate * lrMultiplier,
                  headLrMultiplier,
                  headLearningRate: rate * lrMultiplier * headLrMultiplier,
                  augment,
                },
              );
            }
          }
        }
      }
    }
  }
  return variants;
}

type Describable = Pick<Variant, 'strategy' | 'freezeDepth' | 'lrMultiplier'> &
  Partial<Pick<Variant, 'headLrMultiplier' | 'augment' | 'svmC' | 'svmLoss'>>;

/**
 * A variant in words, for logs and tables: `finetune freeze=2 lr×0.1`, plus ` head×10` and
 * ` aug` when set; `scratch`; `bottleneck-linear C=1` (plus ` hinge` for the plain hinge loss).
 */
export function describeVariant(v: Describable) {
  const aug = v.augment ? ' aug' : '';
  if (v.strategy === 'scratch') return `scratch${aug}`;
  if (v.strategy === 'bottleneck-linear') {
    return `bottleneck-linear C=${v.svmC ?? 1}${v.svmLoss === 'hinge' ? ' hinge' : ''}`;
  }
  const head =
    v.headLrMultiplier !== undefined && v.headLrMultiplier !== 1
      ? ` head×${v.headLrMultiplier}`
      : '';
  return `${v.strategy} freeze=${v.freezeDepth} lr×${v.lrMultiplier}${head}${aug}`;
}
