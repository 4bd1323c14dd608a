import { z } from 'zod';
import { VariantSchema } from './plan.js';
import { ModelNameSchema } from './schedule.js';

const ScoreSchema = z.object({
  accuracy: z.number(),
  loss: z.number(),
  samples: z.number().int().nonnegative(),
});

/** Where a model version came from: a schedule's run, or a sweep registered through the API. */
export const ModelSourceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('schedule'), scheduleId: z.string(), firedAt: z.string() }),
  z.object({ kind: z.literal('api') }),
]);
export type ModelSource = z.infer<typeof ModelSourceSchema>;

/**
 * `promoted`: it won and became the serving version; `rejected`: a challenger that did not beat
 * the serving version by the policy's margin (kept with both scores, never served);
 * `registered`: added through the API without serving it.
 */
export const ModelDecisionSchema = z.enum(['promoted', 'rejected', 'registered']);
export type ModelDecision = z.infer<typeof ModelDecisionSchema>;

/**
 * One version of a named model in the registry, with its full lineage. Numbered 1, 2, 3... per
 * model name in the order recorded; one version per (model name, sweep).
 * @example
 * { "modelName": "fashion", "version": 3, "sweepId": "01JG…",
 *   "source": { "kind": "schedule", "scheduleId": "fashion-nightly", "firedAt": "2025-01-02T01:00:00.000Z" },
 *   "modelPrefix": "sweeps/01JG…/champion", "variant": { "strategy": "finetune", "freezeDepth": 3, … },
 *   "dataset": { "hash": "3f…", "count": 1020, "source": "/data/fashion/train-images-idx3-ubyte.gz" },
 *   "holdout": { "hash": "9a…", "count": 180 }, "baseModel": { "hash": "c1…", "uri": "/models/base/model.json" },
 *   "cv": { "objective": "val_accuracy", "mean": 0.9, "std": 0.02 },
 *   "holdoutScore": { "accuracy": 0.91, "loss": 0.27, "samples": 180 },
 *   "comparedWith": { "version": 2, "accuracy": 0.88, "loss": 0.33, "samples": 180 },
 *   "decision": "promoted", "reason": "challenger accuracy 0.9100 beats serving v2 0.8800 by 0.0300 (≥ 0.01)",
 *   "createdAt": "2025-01-02T01:20:00.000Z" }
 */
export const ModelVersionSchema = z.object({
  modelName: ModelNameSchema,
  version: z.number().int().positive(),
  sweepId: z.string(),
  source: ModelSourceSchema,
  /** Object-store prefix of model.json, weights and metadata.json. */
  modelPrefix: z.string(),
  variant: VariantSchema,
  /** The sweep's training settings (epochs, batch size, rates...). */
  training: z.record(z.string(), z.unknown()),
  folds: z.number().int().positive(),
  /** What the model was trained on (for a schedule: the dataset minus its frozen holdout). */
  dataset: z.object({
    hash: z.string(),
    count: z.number().int().nonnegative(),
    source: z.string(),
    /** For a schedule: the version of the data at `source`, before the holdout was taken out. */
    sourceHash: z.string().optional(),
    sourceCount: z.number().int().nonnegative().optional(),
  }),
  /** The held-out samples it was scored on. */
  holdout: z.object({ hash: z.string(), count: z.number().int().nonnegative() }).optional(),
  baseModel: z.object({ hash: z.string(), uri: z.string() }),
  cv: z.object({ objective: z.string(), mean: z.number(), std: z.number() }),
  holdoutScore: ScoreSchema.optional(),
  /** The serving version's score on the same holdout when this one was compared with it. */
  comparedWith: ScoreSchema.extend({ version: z.number().int().positive() }).optional(),
  decision: ModelDecisionSchema,
  reason: z.string(),
  createdAt: z.string(),
});
export type ModelVersion = z.infer<typeof ModelVersionSchema>;
export type NewModelVersion = Omit<ModelVersion, 'version'>;

/** Which version of a model serves now. */
export const ServingPointerSchema = z.object({
  modelName: ModelNameSchema,
  version: z.number().int().positive(),
  since: z.string(),
});
export type ServingPointer = z.infer<typeof ServingPointerSchema>;

/** One change of the serving version, in order (`seq` 1, 2, 3... per model). */
export const PromotionEventSchema = z.object({
  modelName: ModelNameSchema,
  seq: z.number().int().positive(),
  action: z.enum(['promote', 'rollback']),
  fromVersion: z.number().int().positive().nullable(),
  toVersion: z.number().int().positive(),
  reason: z.string(),
  at: z.string(),
});
export type PromotionEvent = z.infer<typeof PromotionEventSchema>;

/** A model name with its serving version and how many versions it has. */
export const ModelSummarySchema = z.object({
  name: ModelNameSchema,
  servingVersion: z.number().int().positive().nullable(),
  latestVersion: z.number().int().positive(),
  versions: z.number().int().positive(),
  updatedAt: z.string(),
});
export type ModelSummary = z.infer<typeof ModelSummarySchema>;

/** One model as `GET /models/:name` shows it: the serving version, every version, the history. */
export const ModelViewSchema = z.object({
  name: z.string(),
  /** The serving version (null when none serves, e.g. every version was only registered). */
  serving: ModelVersionSchema.extend({ since: z.string() }).nullable(),
  /** Oldest first. */
  versions: z.array(ModelVersionSchema),
  /** Every change of the serving version, oldest first. */
  history: z.array(PromotionEventSchema),
});
export type ModelView = z.infer<typeof ModelViewSchema>;

/**
 * Body of `POST /models/:name/rollback`: serve an earlier version again. Without `version`, the
 * version that served before the current one.
 * @example
 * { "version": 2, "reason": "v3 misclassifies sandals in production" }
 */
export const RollbackRequestSchema = z
  .object({
    version: z.number().int().positive('version is a positive integer, e.g. 2').optional(),
    reason: z.string().min(1).max(500).optional(),
  })
  .strict();
export type RollbackRequest = z.infer<typeof RollbackRequestSchema>;

/**
 * Body of `POST /models/:name/versions`: record a completed sweep's champion in the registry
 * (source `api`), and serve it when `serve` is true.
 * @example
 * { "sweepId": "01JG…", "serve": true }
 */
export const RegisterModelRequestSchema = z
  .object({
    sweepId: z.string().min(1, 'give the id of a completed sweep'),
    serve: z.boolean().default(false),
    reason: z.string().min(1).max(500).optional(),
  })
  .strict();
export type RegisterModelRequest = z.infer<typeof RegisterModelRequestSchema>;
