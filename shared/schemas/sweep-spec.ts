import { z } from 'zod';
import {
  STRATEGIES,
  STRATEGY_DESCRIPTORS,
  type Strategy,
  type StrategyRegistry,
} from '../strategies/index.js';
import { DatasetRefSchema } from './dataset.js';
import {
  FreezeDepthRangeSchema,
  type IntegerRange,
  isRange,
  type NumberRange,
  numberRangeSchema,
  SearchSchema,
} from './search.js';

/**
 * How a variant turns the base model into a classifier for the new classes: one of the
 * strategies registered in shared/strategies/ (docs/strategies.md, docs/adding-a-strategy.md):
 * - `finetune`: new softmax head on the base cut at `model.cutLayer`, first `freezeDepth` layers
 *   frozen, the rest trained at learningRate x lrMultiplier (the head x headLrMultiplier);
 * - `bottleneck-linear`: the whole base up to the cut is frozen; a one-vs-rest linear SVM is
 *   trained on its outputs (bottleneck features); the champion outputs class scores;
 * - `scratch`: the same architecture with fresh weights, every layer trained at learningRate.
 */
export { STRATEGIES, type Strategy };

/** A strategy name of `names`; anything else is an issue naming the value and the choices. */
const strategyEnum = <N extends string>(names: readonly [N, ...N[]]) =>
  z.enum(names, {
    error: (issue) =>
      `unknown strategy ${JSON.stringify(issue.input)}: use one of ${names.join(', ')}`,
  });
export const StrategySchema = strategyEnum(STRATEGIES);

export const SVM_LOSSES = ['hinge', 'squared-hinge'] as const;
export const SvmLossSchema = z.enum(SVM_LOSSES);
export type SvmLoss = z.infer<typeof SvmLossSchema>;

/** "must be a number" only for a non-number; a number out of range is told its bound. */
const numberError =
  (what: string) =>
  (issue: { code?: string; maximum?: unknown; minimum?: unknown; inclusive?: boolean }) =>
    issue.code === 'too_big'
      ? `${what} must be ${issue.inclusive === false ? 'below' : 'at most'} ${String(issue.maximum)}`
      : issue.code === 'too_small'
        ? `${what} must be ${issue.inclusive === false ? 'above' : 'at least'} ${String(issue.minimum)}`
        : `${what} must be a number`;

const positive = (what: string) =>
  z.number({ error: numberError(what) }).positive(`${what} must be greater than 0`);

const between = (what: string, min: number, max: number) =>
  z
    .number({ error: numberError(what) })
    .min(min, `${what} must be between ${min} and ${max}`)
    .max(max, `${what} must be between ${min} and ${max}`);

/** Defaults of the grid dimensions; strategy-specific ones apply only to their strategies. */
export const SEARCH_SPACE_DEFAULTS: {
  readonly strategy: readonly Strategy[];
  readonly freezeDepth: readonly (number | string)[];
  readonly lrMultiplier: readonly number[];
  readonly headLrMultiplier: readonly number[];
  readonly augment: readonly boolean[];
  readonly svmC: readonly number[];
  readonly svmLoss: readonly SvmLoss[];
} = {
  strategy: ['finetune'],
  freezeDepth: [0],
  lrMultiplier: [0.1],
  headLrMultiplier: [1],
  augment: [false],
  svmC: [1],
  svmLoss: ['squared-hinge'],
};

/** Layers frozen from the front: a count (input layer not counted), or a layer name (frozen through it). */
const FREEZE_DEPTH = 'freezeDepth must be a layer count (integer >= 0) or a layer name';
const FreezeDepthSchema = z.union(
  [z.number().int(FREEZE_DEPTH).min(0, FREEZE_DEPTH), z.string().min(1, FREEZE_DEPTH)],
  { error: FREEZE_DEPTH },
);

const listsOnly = (strategies: readonly string[]) =>
  strategies.length === 1
    ? strategies[0]
    : `${strategies.slice(0, -1).join(', ')} or ${strategies.at(-1)}`;

/** The grid dimensions (every searchSpace field but `strategy`), each a list of values. */
const GridDimensionsSchema = z.object({
  /** finetune: leading layers of the cut base kept frozen: a count, or a layer name (frozen through it). */
  freezeDepth: z
    .array(FreezeDepthSchema)
    .min(1)
    .default(() => [...SEARCH_SPACE_DEFAULTS.freezeDepth]),
  /** finetune: body learning rate = training.learningRate x lrMultiplier. */
  lrMultiplier: z
    .array(positive('lrMultiplier').max(100))
    .min(1)
    .default(() => [...SEARCH_SPACE_DEFAULTS.lrMultiplier]),
  /** finetune: new-head learning rate = body learning rate x headLrMultiplier. Default [1]. */
  headLrMultiplier: z.array(positive('headLrMultiplier').max(1000)).min(1).optional(),
  /** finetune, scratch: train with (true) and/or without (false) `augmentation`. Default [false]. */
  augment: z
    .array(z.boolean({ error: 'augment values must be true or false' }))
    .min(1)
    .optional(),
  /** bottleneck-linear: the SVM's C (larger = weaker L2 regularisation). Default [1]. */
  svmC: z.array(positive('svmC').max(1e6)).min(1).optional(),
  /** bottleneck-linear: one-vs-rest hinge or squared hinge. Default ['squared-hinge']. */
  svmLoss: z.array(SvmLossSchema).min(1).optional(),
});
/** The grid dimensions as lists: what a strategy's expansion reads (ranges are sampled first). */
export type GridSpace = z.infer<typeof GridDimensionsSchema>;
type GridDimension = keyof GridSpace;
const GRID_DIMENSIONS = Object.keys(GridDimensionsSchema.shape) as GridDimension[];

/**
 * The searchSpace dimensions as a spec gives them: each a list of values, and the numeric ones
 * (lrMultiplier, headLrMultiplier, svmC; freezeDepth as layer counts) also a range
 * `{ min, max, scale? }` that random search samples (`search.method: 'random'`).
 */
const SearchDimensionsSchema = z.object({
  freezeDepth: z
    .union([GridDimensionsSchema.shape.freezeDepth.removeDefault(), FreezeDepthRangeSchema])
    .default(() => [...SEARCH_SPACE_DEFAULTS.freezeDepth]),
  lrMultiplier: z
    .union([
      GridDimensionsSchema.shape.lrMultiplier.removeDefault(),
      numberRangeSchema('lrMultiplier', 100),
    ])
    .default(() => [...SEARCH_SPACE_DEFAULTS.lrMultiplier]),
  headLrMultiplier: z
    .union([
      GridDimensionsSchema.shape.headLrMultiplier.unwrap(),
      numberRangeSchema('headLrMultiplier', 1000),
    ])
    .optional(),
  augment: GridDimensionsSchema.shape.augment,
  svmC: z
    .union([GridDimensionsSchema.shape.svmC.unwrap(), numberRangeSchema('svmC', 1e6)])
    .optional(),
  svmLoss: GridDimensionsSchema.shape.svmLoss,
});

/** The searchSpace dimensions as parsed: lists, or ranges for random search. */
export type SearchDimensions = z.infer<typeof SearchDimensionsSchema>;

/** The dimensions a spec may give as a range (random search only). */
export const RANGE_DIMENSIONS = [
  'freezeDepth',
  'lrMultiplier',
  'headLrMultiplier',
  'svmC',
] as const;
export type RangeDimension = (typeof RANGE_DIMENSIONS)[number];
export type { IntegerRange, NumberRange };
export { isRange };

/**
 * The strategies of `registry` that use each grid dimension (their descriptors' `dimensions`),
 * in registry order. A dimension only multiplies the variants of these strategies; giving it
 * when none of them is listed is an error.
 */
export function appliesTo<N extends string>(
  registry: StrategyRegistry<N>,
): Record<GridDimension, N[]> {
  const names = Object.keys(registry) as N[];
  return Object.fromEntries(
    GRID_DIMENSIONS.map((d) => [d, names.filter((n) => registry[n].dimensions[d] !== undefined)]),
  ) as Record<GridDimension, N[]>;
}

/** Which registered strategies each grid dimension applies to (from their descriptors). */
export const APPLIES_TO: Readonly<Record<GridDimension, readonly Strategy[]>> =
  appliesTo(STRATEGY_DESCRIPTORS);

/**
 * The searchSpace schema for the strategies of `registry` (SearchSpaceSchema is the one for the
 * registered strategies; tests build one with a fake strategy added). The strategy enum and the
 * "applies only to" check both come from the descriptors.
 */
export function searchSpaceSchemaFor<N extends string>(registry: StrategyRegistry<N>) {
  const names = Object.keys(registry) as [N, ...N[]];
  const uses = appliesTo(registry);
  return SearchDimensionsSchema.extend({
    strategy: z
      .array(strategyEnum(names))
      .min(1)
      .default(() => [names[0]]),
  })
    .strict()
    .superRefine((space, ctx) => {
      const listed = new Set<string>(space.strategy);
      for (const field of GRID_DIMENSIONS) {
        const strategies = uses[field];
        const value = space[field];
        if (value === undefined || strategies.some((s) => listed.has(s))) continue;
        const fallback = SEARCH_SPACE_DEFAULTS[field] as readonly unknown[];
        // Earlier versions filled these two defaults for every spec: keep accepting them.
        if (
          (field === 'freezeDepth' || field === 'lrMultiplier') &&
          JSON.stringify(value) === JSON.stringify(fallback)
        ) {
          continue;
        }
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message:
            strategies.length === 0
              ? `no registered strategy uses it: remove searchSpace.${field}`
              : `applies only to ${listsOnly(strategies)}, which searchSpace.strategy does not list: ` +
                `remove searchSpace.${field} or add ${listsOnly(strategies)} to searchSpace.strategy`,
        });
      }
    });
}

/**
 * The grid searched by a sweep. Every combination of the dimensions that apply to a strategy is
 * one variant of that strategy: finetune = freezeDepth x lrMultiplier x headLrMultiplier x augment,
 * bottleneck-linear = svmC x svmLoss, scratch = augment. A dimension given when no listed strategy
 * uses it is an error (`freezeDepth` and `lrMultiplier` keep their old defaults, [0] and [0.1],
 * so those two values are accepted with any strategy).
 */
export const SearchSpaceSchema = searchSpaceSchemaFor(STRATEGY_DESCRIPTORS);
export type SearchSpace = z.infer<typeof SearchSpaceSchema>;

/**
 * Data augmentation ranges for variants with `augment: true`: random, seeded, applied to the
 * training batches only (never validation, holdout or test). A transform left out is off.
 * Without this object, augmented variants use DEFAULT_AUGMENTATION.
 */
export const AugmentationSchema = z
  .object({
    /** Mirror left-right with probability 0.5. */
    flip: z.boolean({ error: 'flip must be true or false' }).default(false),
    /** Rotate by a uniform angle in [-rotationDegrees, rotationDegrees]. */
    rotationDegrees: between('rotationDegrees', 0, 180).default(0),
    /** Shift by up to this fraction of the width and of the height, each way. */
    translateFraction: between('translateFraction', 0, 0.5).default(0),
    /** Scale by a uniform factor in [1 - zoomFraction, 1 + zoomFraction]. */
    zoomFraction: between('zoomFraction', 0, 0.5).default(0),
  })
  .strict()
  .refine((a) => a.flip || a.rotationDegrees > 0 || a.translateFraction > 0 || a.zoomFraction > 0, {
    message: 'every transform is off: set flip, rotationDegrees, translateFraction or zoomFraction',
    // Only once the fields themselves are valid: a bad range already has its own issue.
    when: (payload) => payload.issues.length === 0,
  });
export type Augmentation = z.infer<typeof AugmentationSchema>;

/** Used by variants with `augment: true` when the spec gives no `augmentation`. */
export const DEFAULT_AUGMENTATION: Augmentation = {
  flip: true,
  rotationDegrees: 10,
  translateFraction: 0.1,
  zoomFraction: 0,
};

const CUT_LAYER = 'cutLayer must be a layer name or an index (integer >= 0)';

/** Where the base model is cut and what the new head looks like. */
export const ModelSettingsSchema = z
  .object({
    /**
     * The last base layer kept (the old head is everything above it): a layer name, or an index
     * into the layers below the softmax head (input layer not counted, 0 = first). Default: the
     * layer just below the softmax head.
     */
    cutLayer: z
      .union([z.string().min(1, CUT_LAYER), z.number().int(CUT_LAYER).min(0, CUT_LAYER)], {
        error: CUT_LAYER,
      })
      .optional(),
    /** finetune, scratch: an optional hidden layer (Dense relu) and dropout in the new head. */
    head: z
      .object({
        hiddenUnits: z.number().int().min(1).max(4096).optional(),
        /** Dropout rate before the output layer (after the hidden layer, if any). */
        dropout: z
          .number()
          .min(0, 'dropout must be at least 0')
          .max(0.95, 'dropout must be at most 0.95')
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
export type ModelSettings = z.infer<typeof ModelSettingsSchema>;

/**
 * The default of training.patienceSteps, chosen by measurement on the Fashion-MNIST transfer task
 * (docs/benchmarks/early-stopping-small-folds.md).
 */
export const PATIENCE_STEPS_DEFAULT = 200;

export const TrainingSchema = z
  .object({
    /** The from-scratch learning rate; fine-tuning uses it times lrMultiplier. */
    learningRate: positive('learningRate').max(10).default(0.001),
    epochs: z.number().int().min(1).max(1000).default(10),
    batchSize: z.number().int().min(1).max(4096).default(32),
    /** Epochs without improvement of the objective before stopping; best weights are restored. */
    patience: z.number().int().min(0).max(1000).default(3),
    /**
     * Early stopping also waits this many optimizer steps without improvement (patience in epochs
     * is raised to cover them): on a small fold an epoch is a few steps. 0: epochs only.
     */
    patienceSteps: z.number().int().min(0).max(1_000_000).default(PATIENCE_STEPS_DEFAULT),
    objective: z.enum(['val_accuracy', 'val_loss']).default('val_accuracy'),
    /**
     * Reuse bottleneck features (outputs of a fully frozen, un-augmented base up to the cut) across
     * trials through the object store. false: every trial runs the frozen layers on every batch.
     */
    bottleneckCache: z.boolean().optional(),
  })
  .strict();
export type Training = z.infer<typeof TrainingSchema>;

/**
 * One sweep request: base model + dataset + search space + k folds + training settings.
 * @example
 * {
 *   "name": "fashion-5-9",
 *   "baseModel": "examples/fashion-mnist/base-model/model.json",
 *   "dataset": { "uri": "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
 *                "format": "idx", "subset": { "classes": [5,6,7,8,9], "perClass": 80 } },
 *   "testSet": { "uri": "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
 *                "format": "idx", "subset": { "classes": [5,6,7,8,9] } },
 *   "folds": 3, "seed": 7, "holdoutFraction": 0.15,
 *   "model": { "cutLayer": "fc1", "head": { "dropout": 0.2 } },
 *   "searchSpace": { "strategy": ["finetune", "bottleneck-linear", "scratch"],
 *                    "freezeDepth": [0, 3, "fc1"], "lrMultiplier": [1, 0.1],
 *                    "augment": [false, true], "svmC": [0.1, 1] },
 *   "augmentation": { "flip": true, "rotationDegrees": 10, "translateFraction": 0.1 },
 *   "training": { "learningRate": 0.001, "epochs": 12, "batchSize": 32, "patience": 3 }
 * }
 */
export const ChampionKindSchema = z.enum(['refit', 'best-fold', 'ensemble'], {
  error: 'champion must be "refit", "best-fold" or "ensemble"',
});
export type ChampionKind = z.infer<typeof ChampionKindSchema>;

/**
 * How the winning variant is chosen from the leaderboard (shared/aggregation/leaderboard.ts):
 * `best-mean` (the default), the best fold mean, a tie going to the simpler variant; `one-se`,
 * the simplest variant whose fold mean is within one standard error of the best mean.
 */
export const SelectionSchema = z.enum(['one-se', 'best-mean'], {
  error: 'selection must be "one-se" or "best-mean"',
});
export type Selection = z.infer<typeof SelectionSchema>;
/** The selection rule of a spec that names none (recorded in the plan). */
export const SELECTION_DEFAULT: Selection = 'best-mean';

export const SweepSpecSchema = z
  .object({
    /** The JSON Schema an editor validates the file with (`foldsweep schema sweep`); ignored. */
    $schema: z.string().optional(),
    /** At most SpecLimits.maxNameLength characters (checked on submission: spec-limits.ts). */
    name: z
      .string()
      .min(1)
      .regex(/^[A-Za-z0-9._-]+$/, 'use letters, digits, ".", "_" or "-"')
      .optional(),
    /** Path (or file:// URI) of a tfjs layers model.json whose last layer is a softmax. */
    baseModel: z.string().min(1, 'give the path of a tfjs layers model.json'),
    dataset: DatasetRefSchema,
    /** Optional separate test split on which the champion is evaluated (never used to choose). */
    testSet: DatasetRefSchema.optional(),
    folds: z.number().int().min(2, 'folds must be at least 2').max(20).default(3),
    seed: z.number().int().nonnegative().default(0),
    /** Fraction of every class kept out of all folds, to evaluate the champion. */
    holdoutFraction: z.number().min(0).max(0.5, 'holdoutFraction must be at most 0.5').default(0),
    /**
     * What becomes the champion of the best variant: `refit` (default), the variant trained once
     * more on every non-holdout image for training.epochs, its learning rate decaying to zero
     * over the last quarter of the steps (one more trial; shared/planner/refit.ts says why);
     * `best-fold`, its best fold's model (trained on (k-1)/k of the non-holdout images);
     * `ensemble`, its k fold models averaged into one model (probabilities, or scores for
     * bottleneck-linear; k times the size and inference cost).
     */
    champion: ChampionKindSchema.default('refit'),
    /**
     * How the winning variant is chosen. `best-mean` (default): the best fold mean; a variant
     * with as many correct validation images as first place ties with it, and a tie goes to the
     * simplest (bottleneck-linear before finetune before scratch; the deeper freeze, then the
     * smaller lrMultiplier or svmC). `one-se`, the one-standard-error rule: the simplest of the
     * variants whose fold mean is within one standard error (fold std / sqrt(folds)) of the best.
     * Not defaulted here: the plan records the rule a sweep was planned with (plan.selection).
     */
    selection: SelectionSchema.optional(),
    model: ModelSettingsSchema.optional(),
    searchSpace: SearchSpaceSchema.default({
      strategy: ['finetune'],
      freezeDepth: [0],
      lrMultiplier: [0.1],
    }),
    /** How searchSpace is searched: grid (default) or random, and successive halving. */
    search: SearchSchema.optional(),
    augmentation: AugmentationSchema.optional(),
    training: TrainingSchema.default({
      learningRate: 0.001,
      epochs: 10,
      batchSize: 32,
      patience: 3,
      patienceSteps: PATIENCE_STEPS_DEFAULT,
      objective: 'val_accuracy',
    }),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const strategies = spec.searchSpace.strategy;
    if ((spec.search?.method ?? 'grid') === 'grid') {
      for (const dimension of RANGE_DIMENSIONS) {
        if (!isRange(spec.searchSpace[dimension])) continue;
        ctx.addIssue({
          code: 'custom',
          path: ['searchSpace', dimension],
          message:
            `a grid cannot search a range: set search.method to 'random' (with search.maxVariants) ` +
            `or give ${dimension} as a list of values`,
        });
      }
    }
    if (spec.augmentation && !(spec.searchSpace.augment ?? []).includes(true)) {
      ctx.addIssue({
        code: 'custom',
        path: ['augmentation'],
        message:
          'no variant augments: add true to searchSpace.augment (e.g. [false, true]) or remove augmentation',
      });
    }
    const listed = strategies.map((s) => STRATEGY_DESCRIPTORS[s]);
    if (spec.model?.head && !listed.some((d) => d.head === 'new')) {
      const named = (head: 'new' | 'linear') =>
        STRATEGIES.filter((s) => STRATEGY_DESCRIPTORS[s].head === head);
      const linear = [...new Set(listed.filter((d) => d.head === 'linear').map((d) => d.name))];
      ctx.addIssue({
        code: 'custom',
        path: ['model', 'head'],
        message:
          `applies only to ${listsOnly(named('new'))}, which searchSpace.strategy does not list ` +
          `(${linear.join(', ')} always ${linear.length > 1 ? 'have' : 'has'} a linear head): remove model.head`,
      });
    }
    // Scores report the SVM hinge loss, probabilities the cross-entropy: not comparable.
    const outputs = new Set(listed.map((d) => d.outputs));
    if (spec.training.objective === 'val_loss' && outputs.size > 1) {
      const named = (kind: 'scores' | 'probabilities') =>
        STRATEGIES.filter((s) => STRATEGY_DESCRIPTORS[s].outputs === kind);
      ctx.addIssue({
        code: 'custom',
        path: ['training', 'objective'],
        message:
          `val_loss would rank the SVM hinge loss of ${named('scores').join('/')} against the cross-entropy of ` +
          `${named('probabilities').join('/')}: use val_accuracy, or sweep ${named('scores').join(' or ')} on its own`,
      });
    }
  });
export type SweepSpec = z.infer<typeof SweepSpecSchema>;
export type SweepSpecInput = z.input<typeof SweepSpecSchema>;
