import { fnv1a } from '../random.js';
import type { Variant } from '../schemas/plan.js';
import { isRange, type SearchDimensions, type SweepSpec } from '../schemas/sweep-spec.js';
import {
  type Describable,
  type Dimension,
  type DimensionValue,
  type ExpandContext,
  lookupStrategy,
  STRATEGY_DESCRIPTORS,
  type StrategyRegistry,
  type VariantFields,
} from '../strategies/index.js';

import { sampleVariants } from './random-search.js';

export { resolveFreezeDepth, SVM_LR_MULTIPLIER } from '../strategies/index.js';

/** A variant of a strategy of some registry (Variant for the registered strategies). */
export type PlannedVariant<N extends string> = VariantFields & {
  id: string;
  index: number;
  strategy: N;
};

/**
 * Expands the search-space grid into variants, in a stable order: strategies as listed; within
 * each strategy, the order of its descriptor's `expand` (shared/strategies/<name>.ts): finetune
 * freezeDepth, then lrMultiplier, then headLrMultiplier, then augment; scratch augment;
 * bottleneck-linear svmC, then svmLoss. A dimension multiplies only the strategies it applies
 * to, so `scratch` without augmentation contributes one variant (freezeDepth 0, lrMultiplier 1:
 * every layer from fresh weights at the scratch rate). Duplicate grid points (also a layer name
 * and the count it stands for) collapse into one.
 *
 * @param bodyLayers names of the base layers up to and including the cut, in order: needed to
 *   resolve freezeDepth names and for bottleneck-linear (whose freezeDepth is all of them)
 */
export function expandVariants(spec: SweepSpec, bodyLayers?: readonly string[]): Variant[] {
  if (spec.search?.method === 'random') return sampleVariants(spec, bodyLayers);
  return expandGrid(STRATEGY_DESCRIPTORS, spec.searchSpace.strategy, spec.searchSpace, {
    learningRate: spec.training.learningRate,
    bodyLayers,
  });
}

/**
 * expandVariants for the strategies of any registry: each listed strategy's descriptor expands
 * into grid points; each point becomes a variant with id fnv1a(JSON of { strategy, ...key }),
 * numbered in order, a point whose key was seen before dropped. Knows no strategy by name.
 * @throws Error for a strategy the registry does not hold (never planned as another one)
 */
export function expandGrid<N extends string>(
  registry: StrategyRegistry<N>,
  strategies: readonly N[],
  space: SearchDimensions,
  options: { learningRate: number; bodyLayers?: readonly string[] },
): PlannedVariant<N>[] {
  const seen = new Set<string>();
  const variants: PlannedVariant<N>[] = [];
  for (const strategy of strategies) {
    const descriptor = lookupStrategy<StrategyRegistry<N>, N>(registry, strategy);
    const grid: ExpandContext = {
      learningRate: options.learningRate,
      values: <D extends Dimension>(dimension: D) => {
        const defaults = descriptor.dimensions[dimension] as
          | readonly DimensionValue<D>[]
          | undefined;
        if (!defaults) {
          throw new Error(
            `strategy '${strategy}' reads searchSpace.${dimension}, which its descriptor does not declare in dimensions`,
          );
        }
        const given = space[dimension];
        if (isRange(given)) {
          throw new Error(
            `searchSpace.${dimension} is a range: only random search samples ranges (search.method 'random')`,
          );
        }
        return (given as readonly DimensionValue<D>[] | undefined) ?? defaults;
      },
      bodyLayers: (why) => {
        if (!options.bodyLayers) {
          throw new Error(`expandVariants needs the layers up to the cut ${why}`);
        }
        return options.bodyLayers;
      },
    };
    for (const point of descriptor.expand(grid)) {
      const text = JSON.stringify({ strategy, ...point.key });
      if (seen.has(text)) continue;
      seen.add(text);
      variants.push({ id: fnv1a(text), index: variants.length, strategy, ...point.variant });
    }
  }
  return variants;
}

/**
 * A variant in words, for logs and tables, by its strategy's descriptor: `finetune freeze=2
 * lr×0.1` (`freeze=fc1` when the spec named the layer), plus ` head×10` and ` aug` when set;
 * `scratch`; `bottleneck-linear C=1` (plus ` hinge` for the plain hinge loss).
 */
export function describeVariant(v: Describable & { strategy: Variant['strategy'] }): string {
  return describeVariantWith(STRATEGY_DESCRIPTORS, v);
}

/** describeVariant for the strategies of any registry. */
export function describeVariantWith<N extends string>(
  registry: StrategyRegistry<N>,
  v: Describable & { strategy: N },
): string {
  return lookupStrategy<StrategyRegistry<N>, N>(registry, v.strategy).describe(v);
}
