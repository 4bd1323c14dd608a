/**
 * What the planner, the spec schema, describeVariant and the aggregator need to know about a
 * strategy: its StrategyDescriptor. One file per strategy in shared/strategies/, registered by
 * name in shared/strategies/index.ts; its trainer runner is trainer/strategies/<name>.ts
 * (docs/adding-a-strategy.md). Pure: no node:fs, no tfjs, no trainer code.
 * @module
 */
import type { Variant } from '../schemas/plan.js';
import type { GridSpace } from '../schemas/sweep-spec.js';

/** What the exported model's `predict` returns: softmax probabilities, or class scores. */
export type OutputKind = 'probabilities' | 'scores';

/** A grid dimension of `searchSpace` (everything but `strategy`). */
export type Dimension = keyof GridSpace;
/** One value of a dimension's list, e.g. `number | string` for freezeDepth. */
export type DimensionValue<D extends Dimension> = NonNullable<GridSpace[D]>[number];
/** The dimensions a strategy uses, each with the values it gets when the spec leaves it out. */
export type DimensionDefaults = { readonly [D in Dimension]?: readonly DimensionValue<D>[] };

/** A variant's fields but its id, its index and its strategy (the planner adds those). */
export type VariantFields = Omit<Variant, 'id' | 'index' | 'strategy'>;

/**
 * One grid point of a strategy. `key` is what the variant id hashes, after `strategy`
 * (id = fnv1a(JSON.stringify({ strategy, ...key }))): leave out parameters at their defaults so
 * adding a dimension does not change existing ids. Points with equal keys collapse into one.
 */
export interface GridPoint {
  key: Record<string, unknown>;
  variant: VariantFields;
}

/** What a strategy's expansion reads. */
export interface ExpandContext {
  /**
   * The spec's values of a dimension, or the strategy's defaults for it. Throws for a dimension
   * the strategy does not declare in `dimensions` (its use would escape the "applies only to"
   * check of the spec schema).
   */
  values<D extends Dimension>(dimension: D): readonly DimensionValue<D>[];
  /** training.learningRate: the from-scratch rate. */
  learningRate: number;
  /** Names of the base layers up to and including the cut; throws, saying `why`, when unknown. */
  bodyLayers(why: string): readonly string[];
}

/** The variant fields a description may read. */
export type Describable = Pick<Variant, 'freezeDepth' | 'lrMultiplier'> &
  Partial<
    Pick<Variant, 'freezeAt' | 'headLrMultiplier' | 'augment' | 'svmC' | 'svmLoss' | 'learningRate'>
  >;

/** Everything about a strategy that is not training code. */
export interface StrategyDescriptor<N extends string = string> {
  /** The `searchSpace.strategy` value. */
  readonly name: N;
  /**
   * The searchSpace dimensions this strategy uses, with their defaults. A dimension that no
   * listed strategy uses is an error when given (the spec schema derives this from here).
   */
  readonly dimensions: DimensionDefaults;
  /** What its exported model returns (the champion's metadata.json `outputs`). */
  readonly outputs: OutputKind;
  /** `new`: a new softmax head shaped by `model.head`; `linear`: its own linear head. */
  readonly head: 'new' | 'linear';
  /** The strategy's grid points, in order (the planner numbers them and hashes their keys). */
  expand(grid: ExpandContext): Iterable<GridPoint>;
  /** The variant in words for tables and logs, starting with the name: `scratch aug`. */
  describe(variant: Describable): string;
  /**
   * Whether a variant trains only a head on the frozen, un-augmented body up to the cut, so that
   * the bottleneck-feature cache can serve it.
   * @param layersUpToCut how many base layers the cut keeps
   */
  servedByBottleneckCache(
    variant: Pick<Variant, 'freezeDepth' | 'augment'>,
    layersUpToCut: number,
  ): boolean;
  /**
   * The variant's place in the selection rule's order (shared/aggregation/leaderboard.ts picks
   * the simplest of the variants tied with first place): a key compared element by element,
   * lower is simpler. The first element ranks the strategy by how much it leans on the
   * base model (SIMPLICITY_TIER); the rest order its own variants, fewer trainable parameters
   * and a stronger pull towards the pretrained weights first.
   */
  simplicity(variant: Describable): readonly number[];
}

/**
 * First elements of `simplicity` keys: a linear head on frozen features is the simplest model,
 * fine-tuning from the pretrained weights next, training without them the least constrained.
 */
export const SIMPLICITY_TIER = { linearProbe: 0, fineTune: 1, fromScratch: 2 } as const;

/** Descriptors by name; each key is its descriptor's name. */
export type StrategyRegistry<N extends string = string> = {
  readonly [K in N]: StrategyDescriptor<K>;
};

/**
 * Checks a registry's keys against its descriptors' names (a type error already when the
 * descriptor is typed StrategyDescriptor<'its-name'>) and returns it as it is.
 */
export function defineRegistry<
  const R extends { readonly [K in keyof R]: StrategyDescriptor<K & string> },
>(registry: R): R {
  for (const [key, descriptor] of Object.entries(registry) as [string, StrategyDescriptor][]) {
    if (descriptor.name !== key) {
      throw new Error(
        `strategy registry: key '${key}' holds the descriptor of '${descriptor.name}'`,
      );
    }
  }
  return registry;
}
