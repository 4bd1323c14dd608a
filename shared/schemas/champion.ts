import { z } from 'zod';
import { ImageShapeSchema } from './dataset.js';
import { VariantSchema } from './plan.js';
import { PreprocessingSchema } from './preprocessing.js';

/**
 * Accuracy = argmax of the outputs vs the label. `loss` follows `outputs`: mean categorical
 * cross-entropy for probabilities, mean one-vs-rest hinge loss (sum over classes of
 * max(0, 1 - y·score), y = +1 for the true class, -1 otherwise) for scores.
 */
export const EvaluationSchema = z.object({
  accuracy: z.number(),
  loss: z.number(),
  samples: z.number().int().nonnegative(),
  /**
   * confusion[t][p]: samples of true class t the model predicted as class p (rows and columns in
   * `classNames` order). Absent in metadata written before it existed.
   */
  confusion: z.array(z.array(z.number().int().nonnegative())).optional(),
  /** Accuracy (recall) per true class, in `classNames` order; null for a class with no samples. */
  perClassAccuracy: z.array(z.number().nullable()).optional(),
});
export type Evaluation = z.infer<typeof EvaluationSchema>;

/**
 * What `model.predict` returns: softmax class probabilities (finetune, scratch), or raw class
 * scores of a linear SVM (bottleneck-linear), which are not probabilities: take the argmax.
 */
export const ModelOutputsSchema = z.enum(['probabilities', 'scores']);
export type ModelOutputs = z.infer<typeof ModelOutputsSchema>;

/**
 * `metadata.json` beside the champion's model.json: everything a client needs to use the model
 * correctly, and where it came from.
 * @example
 * { "format": "foldsweep-champion/1", "classNames": ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
 *   "outputs": "probabilities", "inputShape": [28, 28, 1],
 *   "preprocessing": { "description": "stretch to 28x28, 1 grey channel, x = pixel * 0.00392156862745098 + 0 as float32, NHWC",
 *     "scale": 0.00392156862745098, "offset": 0, "layout": "NHWC", "resize": "stretch",
 *     "sourceSizes": [{ "width": 28, "height": 28, "channels": 1, "count": 400 }], "steps": ["…"], … },
 *   "lineage": { "sweepId": "01JD…", "backend": "wasm", "variant": { "strategy": "finetune", "freezeDepth": 2, … } }, … }
 */
export const ChampionMetadataSchema = z.object({
  format: z.literal('foldsweep-champion/1'),
  classNames: z.array(z.string()).min(2),
  /** Absent in metadata written before bottleneck-linear existed: those are probabilities. */
  outputs: ModelOutputsSchema.default('probabilities'),
  inputShape: ImageShapeSchema,
  /**
   * The training data's preprocessing record (PreprocessingSchema: resize policy, source sizes
   * seen, target shape, channel conversion, scale, every step in words) and a one-line
   * description. Metadata written before the record existed has only description, scale,
   * offset and layout.
   */
  preprocessing: PreprocessingSchema.partial().extend({
    description: z.string(),
    scale: z.number(),
    offset: z.number(),
    layout: z.literal('NHWC'),
  }),
  lineage: z.object({
    sweepId: z.string(),
    sweepName: z.string().optional(),
    variant: VariantSchema,
    /** The TensorFlow.js backend the champion's trial trained on (`wasm`, `tensorflow`, …). */
    backend: z.string().optional(),
    /** The last base layer kept (absent before cut points existed: just below the softmax head). */
    cutLayer: z.string().optional(),
    /**
     * The champion's trial: the refit trial (its fold is `folds`: no validation fold), or the
     * best fold's trial (for an ensemble too: the fold that scored best).
     */
    trialIndex: z.number().int().nonnegative(),
    fold: z.number().int().nonnegative(),
    /**
     * Which model this is: the refit on every non-holdout image (`trialIndices`: the refit
     * trial), the best fold's, or the ensemble of `trialIndices` (absent in metadata written
     * before ensembles existed: best-fold), and how many distinct images trained it.
     * `refitEpochs`: the epochs the refit trained and the rule that chose them. `refitFailed`:
     * a refit was asked for and failed; the champion is the best fold's model instead.
     */
    champion: z
      .object({
        kind: z.enum(['refit', 'best-fold', 'ensemble']),
        trialIndices: z.array(z.number().int().nonnegative()).min(1),
        trainingImages: z.number().int().nonnegative(),
        refitEpochs: z.number().int().positive().optional(),
        epochRule: z.string().optional(),
        refitFailed: z.string().optional(),
      })
      .optional(),
    datasetHash: z.string(),
    datasetSource: z.string(),
    baseModelHash: z.string(),
    baseModelUri: z.string(),
    promotedAt: z.string(),
  }),
  metrics: z.object({
    objective: z.string(),
    cvMean: z.number(),
    cvStd: z.number(),
    folds: z.number().int(),
    holdout: EvaluationSchema.optional(),
    test: EvaluationSchema.optional(),
  }),
});
export type ChampionMetadata = z.infer<typeof ChampionMetadataSchema>;

/**
 * What the champion's model is, in words, from its lineage: the refit, the best fold's model or
 * the fold ensemble, with the images it trained on (and why a refit asked for is not it).
 * @example
 * championModelDescription(metadata.lineage);
 * // 'the refit of the winning variant on all 100 non-holdout images, 23 epochs (trial 15)'
 */
export function championModelDescription(lineage: ChampionMetadata['lineage']): string {
  const c = lineage.champion;
  if (!c) return `the best fold's model (trial ${lineage.trialIndex}, fold ${lineage.fold})`;
  const failed = c.refitFailed ? ` (no refit: ${c.refitFailed})` : '';
  if (c.kind === 'refit') {
    return `the refit of the winning variant on all ${c.trainingImages} non-holdout images, ${c.refitEpochs ?? '?'} epochs (trial ${lineage.trialIndex})`;
  }
  if (c.kind === 'ensemble') {
    return `the ensemble of the winning variant's ${c.trialIndices.length} fold models (trials ${c.trialIndices.join(', ')}; ${c.trainingImages} images)`;
  }
  return `the best fold's model (trial ${lineage.trialIndex}, fold ${lineage.fold}, ${c.trainingImages} training images)${failed}`;
}
