import { fnv1a } from '../random.js';
import type { Variant } from '../schemas/plan.js';
import type { SweepSpec } from '../schemas/sweep-spec.js';

/**
 * Expands the search-space grid into variants, in a stable order: strategies as listed, then
 * freezeDepth, then lrMultiplier. `scratch` contributes one variant (freezeDepth 0,
 * lrMultiplier 1): it trains every layer from fresh weights at the scratch rate.
 * Duplicate grid points collapse into one.
 */
export function expandVariants(spec: SweepSpec): Variant[] {
  const seen = new Set<string>();
  const variants: Variant[] = [];
  const add = (strategy: Variant['strategy'], freezeDepth: number, lrMultiplier: number) => {
    const key = JSON.stringify({ strategy, freezeDepth, lrMultiplier });
    if (seen.has(key)) return;
    seen.add(key);
    variants.push({
      id: fnv1a(key),
      index: variants.length,
      strategy,
      freezeDepth,
      lrMultiplier,
      learningRate: spec.training.learningRate * lrMultiplier,
    });
  };
  for (const strategy of spec.searchSpace.strategy) {
    if (strategy === 'scratch') {
      add('scratch', 0, 1);
      continue;
    }
    for (const freezeDepth of spec.searchSpace.freezeDepth) {
      for (const lrMultiplier of spec.searchSpace.lrMultiplier) {
        add(strategy, freezeDepth, lrMultiplier);
      }
    }
  }
  return variants;
}

/** A variant in words, for logs and tables: `finetune freeze=2 lr×0.1`. */
export function describeVariant(v: Pick<Variant, 'strategy' | 'freezeDepth' | 'lrMultiplier'>) {
  return v.strategy === 'scratch'
    ? 'scratch'
    : `${v.strategy} freeze=${v.freezeDepth} lr×${v.lrMultiplier}`;
}
