/**
 * The strategy registry: every `searchSpace.strategy` value and its descriptor, in the order
 * the spec schema lists them. The spec schema's strategy enum, the "applies only to" check, the
 * planner, describeVariant and the champion's `outputs` read it; trainer/strategies/index.ts
 * must register a runner under each name (a type error otherwise).
 * Adding a strategy: docs/adding-a-strategy.md.
 * @module
 */
import { bottleneckLinear } from './bottleneck-linear.js';
import { defineRegistry, type StrategyDescriptor } from './descriptor.js';
import { finetune } from './finetune.js';
import { scratch } from './scratch.js';

export const STRATEGY_DESCRIPTORS = defineRegistry({
  finetune,
  'bottleneck-linear': bottleneckLinear,
  scratch,
});

/** A registered strategy's name: `finetune | bottleneck-linear | scratch`. */
export type Strategy = keyof typeof STRATEGY_DESCRIPTORS;

/** The registered names, in registry order. */
export const STRATEGIES = Object.keys(STRATEGY_DESCRIPTORS) as [Strategy, ...Strategy[]];

/**
 * The descriptor of a strategy. A name outside the registry is a type error; at run time (a
 * value that escaped validation) it throws, naming the strategy, rather than falling back.
 */
export function strategyOf<N extends Strategy>(name: N): (typeof STRATEGY_DESCRIPTORS)[N] {
  return lookupStrategy(STRATEGY_DESCRIPTORS, name);
}

/** `registry[name]`, or an error naming the strategy and the registered ones. */
export function lookupStrategy<
  R extends { readonly [name: string]: StrategyDescriptor },
  N extends keyof R & string,
>(registry: R, name: N): R[N] {
  const descriptor = Object.hasOwn(registry, name) ? registry[name] : undefined;
  if (!descriptor) {
    throw new Error(
      `unknown strategy '${String(name)}': registered are ${Object.keys(registry).join(', ')}`,
    );
  }
  return descriptor;
}

export { SVM_LR_MULTIPLIER } from './bottleneck-linear.js';
export type {
  Describable,
  Dimension,
  DimensionDefaults,
  DimensionValue,
  ExpandContext,
  GridPoint,
  OutputKind,
  StrategyDescriptor,
  StrategyRegistry,
  VariantFields,
} from './descriptor.js';
export { defineRegistry } from './descriptor.js';
export { resolveFreezeDepth } from './finetune.js';
