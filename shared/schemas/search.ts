import { z } from 'zod';

/**
 * A continuous range of a numeric searchSpace dimension, sampled by random search:
 * uniformly (`linear`, the default) or log-uniformly (`log`: every decade equally likely).
 * @example
 * { "min": 0.05, "max": 2, "scale": "log" }
 */
export interface NumberRange {
  min: number;
  max: number;
  scale?: 'linear' | 'log';
}

/** An integer range of freezeDepth (layer counts, both ends included), sampled uniformly. */
export interface IntegerRange {
  min: number;
  max: number;
}

/** A range (not a list) of values: what random search samples from. */
export function isRange(value: unknown): value is NumberRange | IntegerRange {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The range schema of a numeric dimension: `min` and `max` each within the dimension's bounds
 * (`greater than 0` and at most `upper`), `min <= max`, and `scale: 'log'` only with `min > 0`.
 * Problems name the field: `searchSpace.lrMultiplier.max: lrMultiplier must be at most 100`.
 */
export function numberRangeSchema(what: string, upper: number) {
  const bound = (end: 'min' | 'max') =>
    z
      .number({ error: `${what} ${end} must be a number` })
      .positive(`${what} must be greater than 0`)
      .max(upper, `${what} must be at most ${upper}`);
  return z
    .object({
      min: bound('min'),
      max: bound('max'),
      scale: z
        .enum(['linear', 'log'], { error: `scale must be 'linear' or 'log'` })
        .default('linear'),
    })
    .strict()
    .superRefine((range, ctx) => {
      if (range.min > range.max) {
        ctx.addIssue({
          code: 'custom',
          path: ['min'],
          message: `min ${range.min} is greater than max ${range.max}: swap them`,
        });
      }
      if (range.scale === 'log' && range.min <= 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['min'],
          message: `a log scale needs min > 0 (got ${range.min}): raise min or use scale 'linear'`,
        });
      }
    });
}

const FREEZE_RANGE = 'freezeDepth range ends must be layer counts (integers >= 0)';

/**
 * freezeDepth as an integer range of layer counts (`{ "min": 0, "max": 7 }`, both included).
 * Layer names are allowed only in lists; the model check says when `max` is beyond the cut.
 */
export const FreezeDepthRangeSchema = z
  .object({
    min: z.number({ error: FREEZE_RANGE }).int(FREEZE_RANGE).min(0, FREEZE_RANGE),
    max: z.number({ error: FREEZE_RANGE }).int(FREEZE_RANGE).min(0, FREEZE_RANGE),
  })
  .strict()
  .superRefine((range, ctx) => {
    if (range.min > range.max) {
      ctx.addIssue({
        code: 'custom',
        path: ['min'],
        message: `min ${range.min} is greater than max ${range.max}: swap them`,
      });
    }
  });

/**
 * Successive halving over folds: rung 0 trains one fold of every variant; the best
 * ceil(n / eta) by rung score (the mean over the folds run so far) go on to the next rung, which
 * adds one fold; the last rung runs every remaining fold of its variants. The champion is ranked
 * by the full fold mean among the variants that completed every fold; the others are pruned.
 */
export const SchedulerSchema = z
  .object({
    type: z.literal('successive-halving', {
      error: `scheduler.type must be 'successive-halving'`,
    }),
    /** Keep the best 1/eta of the variants at each rung (an integer >= 2). Default 3. */
    eta: z
      .number({ error: 'eta must be a number' })
      .int('eta must be an integer')
      .min(2, 'eta must be at least 2')
      .max(100, 'eta must be at most 100')
      .default(3),
  })
  .strict();
export type Scheduler = z.infer<typeof SchedulerSchema>;

/**
 * How the search space is searched.
 * - `grid` (default): every combination of the lists (a range is an error);
 * - `random`: `maxVariants` distinct points sampled from the lists and ranges with a seeded,
 *   reproducible random stream (`seed`, default the spec's `seed`): a strategy uniformly among
 *   the listed ones, then each of its dimensions: a list's value uniformly, a range per its scale.
 *   A finite space with fewer points than maxVariants gives every point it has.
 * - `scheduler`: successive halving over folds instead of running every fold of every variant.
 * @example
 * { "method": "random", "maxVariants": 30, "seed": 1, "scheduler": { "type": "successive-halving", "eta": 3 } }
 */
export const SearchSchema = z
  .object({
    method: z
      .enum(['grid', 'random'], { error: `method must be 'grid' or 'random'` })
      .default('grid'),
    maxVariants: z
      .number({ error: 'maxVariants must be a number' })
      .int('maxVariants must be an integer')
      .min(1, 'maxVariants must be at least 1')
      .max(10_000, 'maxVariants must be at most 10000')
      .optional(),
    seed: z
      .number({ error: 'seed must be a number' })
      .int('seed must be an integer')
      .nonnegative('seed must be at least 0')
      .optional(),
    scheduler: SchedulerSchema.optional(),
  })
  .strict()
  .superRefine((search, ctx) => {
    if (search.method === 'random' && search.maxVariants === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxVariants'],
        message: 'random search needs maxVariants: how many variants to sample (e.g. 30)',
      });
    }
    if (search.method === 'grid' && search.maxVariants !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxVariants'],
        message: `applies only to method 'random': remove maxVariants or set method to 'random'`,
      });
    }
    if (search.method === 'grid' && search.seed !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['seed'],
        message: `applies only to method 'random' (the grid is not sampled): remove search.seed`,
      });
    }
  });
export type Search = z.infer<typeof SearchSchema>;
export type SearchInput = z.input<typeof SearchSchema>;
