import type { Evaluation } from '../schemas/champion.js';
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

/**
 * Evaluates a stored layers model on a prepared dataset (optionally only some samples): accuracy,
 * mean loss, and (where the adapter computes them) the confusion matrix and per-class accuracy.
 */
export interface ModelEvaluator {
  evaluate(modelPrefix: string, dataset: PreparedDataset, indices?: number[]): Promise<Evaluation>;
}

/** A linear probe's score at one layer (see FeatureProber). */
export interface ProbeResult {
  cutLayer: string;
  /** Accuracy of a linear SVM on this layer's features, on held-out images of the sample. */
  accuracy: number;
  /** 1 / number of classes: what guessing scores. */
  chance: number;
  trainSamples: number;
  valSamples: number;
  featureDim: number;
  seconds: number;
}

/**
 * A quick linear probe of a stored model's features: on a seeded sample of each class of a
 * prepared dataset, a linear SVM trained on the outputs of each of `cutLayers` (the model frozen
 * up to that layer) and scored on held-out images of the sample.
 */
export interface FeatureProber {
  probe(
    modelPrefix: string,
    dataset: PreparedDataset,
    options: { cutLayers: readonly string[]; perClass?: number; seed?: number },
  ): Promise<ProbeResult[]>;
}
