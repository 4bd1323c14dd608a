/**
 * Random search: `search.method: 'random'` samples `maxVariants` distinct variants from the
 * searchSpace's lists and ranges with a seeded stream (shared/random.ts), so the same spec and
 * seed give the same variants on every machine.
 * @module
 */
import { mulberry32 } from '../random.js';
import type { Variant } from '../schemas/plan.js';
import type { IntegerRange, NumberRange } from '../schemas/search.js';
import { isRange, type SearchDimensions, type SweepSpec } from '../schemas/sweep-spec.js';
import {
  type Dimension,
  lookupStrategy,
  STRATEGY_DESCRIPTORS,
  type StrategyRegistry,
} from '../strategies/index.js';
import { expandGrid, type PlannedVariant } from './variants.js';

/** Significant digits a sampled real value keeps: `lr×0.237`, and equal-looking values are one variant. */
export const SAMPLED_DIGITS = 3;

/** Draws a value from a range: uniform or log-uniform reals (rounded), uniform integers. */
export function sampleRange(
  range: NumberRange | IntegerRange,
  random: () => number,
  integer: boolean,
): number {
  const u = random();
  if (integer)
    return range.min + Math.min(range.max - range.min, Math.floor(u * (range.max - range.min + 1)));
  const { min, max } = range;
  const raw =
    'scale' in range && range.scale === 'log'
      ? Math.exp(Math.log(min) + u * (Math.log(max) - Math.log(min)))
      : min + u * (max - min);
  return Math.min(max, Math.max(min, Number(raw.toPrecision(SAMPLED_DIGITS))));
}

/** Attempts per wanted variant before a small space is taken to be exhausted. */
const ATTEMPTS_PER_VARIANT = 50;

/**
 * Samples up to `maxVariants` distinct variants: each draw picks a listed strategy uniformly,
 * then each dimension its descriptor declares, in the descriptor's order: a value of the spec's
 * list (or of the strategy's defaults) uniformly, or a value of the spec's range by its scale
 * (reals keep SAMPLED_DIGITS significant digits; freezeDepth ranges are integers). The draw is
 * expanded by the strategy's own descriptor, so ids, descriptions and fields are those a grid
 * would give the same point; a draw equal to an earlier one is dropped. A finite space smaller
 * than maxVariants gives its points (fewer variants). Seed: search.seed, else the spec's seed.
 * @example
 * sampleVariants({ ...spec, searchSpace: { strategy: ['finetune'],
 *   lrMultiplier: { min: 0.05, max: 2, scale: 'log' }, freezeDepth: { min: 0, max: 6 } },
 *   search: { method: 'random', maxVariants: 30 } }, bodyLayers); // 30 variants
 */
export function sampleVariants(spec: SweepSpec, bodyLayers?: readonly string[]): Variant[] {
  return sampleFrom(STRATEGY_DESCRIPTORS, spec.searchSpace.strategy, spec.searchSpace, {
    learningRate: spec.training.learningRate,
    bodyLayers,
    maxVariants: spec.search?.maxVariants ?? 1,
    seed: spec.search?.seed ?? spec.seed,
  });
}

/** sampleVariants for the strategies of any registry. */
export function sampleFrom<N extends string>(
  registry: StrategyRegistry<N>,
  strategies: readonly N[],
  space: SearchDimensions,
  options: {
    learningRate: number;
    bodyLayers?: readonly string[];
    maxVariants: number;
    seed: number;
  },
): PlannedVariant<N>[] {
  const random = mulberry32(options.seed);
  const seen = new Set<string>();
  const variants: PlannedVariant<N>[] = [];
  const attempts = options.maxVariants * ATTEMPTS_PER_VARIANT;
  for (let a = 0; a < attempts && variants.length < options.maxVariants; a++) {
    const strategy = strategies[Math.floor(random() * strategies.length)];
    const descriptor = lookupStrategy<StrategyRegistry<N>, N>(registry, strategy);
    const point: Record<string, unknown[]> = {};
    for (const [dimension, defaults] of Object.entries(descriptor.dimensions) as [
      Dimension,
      readonly unknown[],
    ][]) {
      const given = space[dimension];
      if (isRange(given)) {
        point[dimension] = [sampleRange(given, random, dimension === 'freezeDepth')];
      } else {
        const list = (given as readonly unknown[] | undefined) ?? defaults;
        point[dimension] = [list[Math.floor(random() * list.length)]];
      }
    }
    const [variant] = expandGrid(
      registry,
      [strategy],
      point as unknown as SearchDimensions,
      options,
    );
    if (!variant || seen.has(variant.id)) continue;
    seen.add(variant.id);
    variants.push({ ...variant, index: variants.length });
  }
  return variants;
}
