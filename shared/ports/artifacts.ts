import type { DatasetRef, ImageShape, PreparedDataset } from '../schemas/dataset.js';
import type { BaseModelRef } from '../schemas/plan.js';

/**
 * Turns a dataset reference into a prepared dataset in the object store: decoded, resized to
 * `shape`, content-hashed. Preparing the same source twice reuses the first result.
 * Throws ValidationError/InvalidArtifactError naming `fieldPath` and the bad file.
 */
export interface DatasetPreparer {
  prepare(ref: DatasetRef, shape: ImageShape, fieldPath: string): Promise<PreparedDataset>;
}

/**
 * Reads a base model (tfjs layers model.json + weights), checks it is a layers model with a
 * softmax head, copies it into the object store and describes it.
 * Throws InvalidArtifactError naming `fieldPath` and the file when it is not.
 */
export interface ModelImporter {
  importBaseModel(uri: string, fieldPath: string): Promise<BaseModelRef>;
}

/** Evaluates a stored layers model on a prepared dataset (optionally only some samples). */
export interface ModelEvaluator {
  evaluate(
    modelPrefix: string,
    dataset: PreparedDataset,
    indices?: number[],
  ): Promise<{ accuracy: number; loss: number; samples: number }>;
}
