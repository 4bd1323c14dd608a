import { z } from 'zod';
import { DatasetRefSchema } from './dataset.js';

export const STRATEGIES = ['finetune', 'scratch'] as const;
export const StrategySchema = z.enum(STRATEGIES);
export type Strategy = z.infer<typeof StrategySchema>;

const positive = (what: string) =>
  z.number({ error: `${what} must be a number` }).positive(`${what} must be greater than 0`);

/**
 * The grid searched by a sweep. Every combination of the lists is one variant, except that
 * `scratch` ignores freezeDepth and lrMultiplier (it trains every layer at the scratch rate), so a
 * grid with `scratch` adds exactly one scratch variant.
 */
export const SearchSpaceSchema = z
  .object({
    strategy: z.array(StrategySchema).min(1).default(['finetune']),
    /** Number of leading layers (input layer not counted) of the truncated base kept frozen. */
    freezeDepth: z.array(z.number().int().nonnegative()).min(1).default([0]),
    /** Fine-tuning learning rate = training.learningRate x lrMultiplier. */
    lrMultiplier: z.array(positive('lrMultiplier').max(100)).min(1).default([0.1]),
  })
  .strict();
export type SearchSpace = z.infer<typeof SearchSpaceSchema>;

export const TrainingSchema = z
  .object({
    /** The from-scratch learning rate; fine-tuning uses it times lrMultiplier. */
    learningRate: positive('learningRate').max(10).default(0.001),
    epochs: z.number().int().min(1).max(1000).default(10),
    batchSize: z.number().int().min(1).max(4096).default(32),
    /** Epochs without improvement of the objective before stopping; best weights are restored. */
    patience: z.number().int().min(0).max(1000).default(3),
    objective: z.enum(['val_accuracy', 'val_loss']).default('val_accuracy'),
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
 *   "searchSpace": { "strategy": ["finetune", "scratch"], "freezeDepth": [0, 2, 4],
 *                    "lrMultiplier": [1, 0.1] },
 *   "training": { "learningRate": 0.001, "epochs": 12, "batchSize": 32, "patience": 3 }
 * }
 */
export const SweepSpecSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(100)
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
    searchSpace: SearchSpaceSchema.default({
      strategy: ['finetune'],
      freezeDepth: [0],
      lrMultiplier: [0.1],
    }),
    training: TrainingSchema.default({
      learningRate: 0.001,
      epochs: 10,
      batchSize: 32,
      patience: 3,
      objective: 'val_accuracy',
    }),
  })
  .strict();
export type SweepSpec = z.infer<typeof SweepSpecSchema>;
export type SweepSpecInput = z.input<typeof SweepSpecSchema>;
