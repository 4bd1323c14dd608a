import { loadPreparedDataset } from '../shared/data/load.js';
import type { FeatureProber, ProbeResult } from '../shared/ports/artifacts.js';
import type { ObjectStore } from '../shared/ports/object-store.js';
import { mulberry32, shuffleInPlace } from '../shared/random.js';
import type { PreparedDataset } from '../shared/schemas/dataset.js';
import { selectBackend } from './backend.js';
import { computeFeatures } from './bottleneck-cache.js';
import { oneHotTensor, rowsTensor } from './data.js';
import { buildHeadModel, featureExtractor, releaseModels } from './model.js';
import { loadModelFromStore } from './model-io.js';
import { svmLoss } from './strategies/bottleneck-linear.js';
import type { LayersModel, Tf } from './tf.js';
import { trainWithEarlyStopping } from './train.js';

export interface ProbeData {
  /** uint8 pixels [count, H, W, C] and labels 0..numClasses-1 of a prepared dataset. */
  pixels: Uint8Array;
  labels: Uint8Array;
  shape: readonly [number, number, number];
  numClasses: number;
}

export interface ProbeOptions {
  /** Base layers whose outputs are probed (names; see baseLayers). */
  cutLayers: readonly string[];
  /** Images sampled per class (fewer when a class has fewer). Default 60. */
  perClass?: number;
  seed?: number;
  /** Epochs of the probe's SVM (no early stopping: the last epoch is scored). Default 30. */
  epochs?: number;
}

/** Adam rate of the probe's SVM: bottleneck-linear's default (10 x the example's 0.003). */
const PROBE_LEARNING_RATE = 0.03;

/**
 * A quick linear probe of a base model's features: for a seeded sample of each class (2/3 to
 * train, 1/3 to score), the frozen base up to each cut layer computes features and a one-vs-rest
 * squared-hinge linear SVM (C = 1, the bottleneck-linear strategy's) is trained on them. High
 * accuracy says the base already separates the new classes at that depth. `base` stays owned by
 * the caller.
 */
export async function linearProbe(
  tf: Tf,
  base: LayersModel,
  data: ProbeData,
  options: ProbeOptions,
): Promise<ProbeResult[]> {
  const perClass = options.perClass ?? 60;
  const random = mulberry32(options.seed ?? 0);
  const byClass: number[][] = Array.from({ length: data.numClasses }, () => []);
  for (let i = 0; i < data.labels.length; i++) byClass[data.labels[i]]?.push(i);
  const train: number[] = [];
  const validation: number[] = [];
  for (const [label, indices] of byClass.entries()) {
    if (indices.length < 2) {
      throw new Error(
        `class ${label} has ${indices.length} image(s): a probe needs at least 2 per class`,
      );
    }
    const chosen = shuffleInPlace([...indices], random).slice(0, perClass);
    const scored = Math.max(1, Math.round(chosen.length / 3));
    validation.push(...chosen.slice(0, scored));
    train.push(...chosen.slice(scored));
  }
  // The sample's pixels alone: features are computed for these images only.
  const sample = [...train, ...validation];
  const [h, w, c] = data.shape;
  const size = h * w * c;
  const pixels = new Uint8Array(sample.length * size);
  sample.forEach((index, row) => {
    pixels.set(data.pixels.subarray(index * size, (index + 1) * size), row * size);
  });
  const rowsTrain = train.map((_, i) => i);
  const rowsVal = validation.map((_, i) => train.length + i);

  const results: ProbeResult[] = [];
  for (const cutLayer of options.cutLayers) {
    const started = performance.now();
    const extractor = featureExtractor(tf, base, cutLayer);
    const { table, featureShape } = await computeFeatures(
      tf,
      extractor,
      pixels,
      data.shape,
      sample.length,
    );
    const labels = Uint8Array.from(sample, (i) => data.labels[i]);
    const tensors = {
      xTrain: rowsTensor(tf, table, featureShape, rowsTrain),
      yTrain: oneHotTensor(tf, labels, data.numClasses, rowsTrain),
      xVal: rowsTensor(tf, table, featureShape, rowsVal),
      yVal: oneHotTensor(tf, labels, data.numClasses, rowsVal),
    };
    const head = buildHeadModel(tf, featureShape, {
      numClasses: data.numClasses,
      output: 'linear',
      init: 'zeros',
      learningRate: PROBE_LEARNING_RATE,
    });
    try {
      const epochs = options.epochs ?? 30;
      const outcome = await trainWithEarlyStopping(tf, head, tensors, {
        epochs,
        patience: epochs,
        batchSize: 32,
        objective: 'val_accuracy',
        seed: options.seed ?? 0,
        loss: svmLoss(tf, head, { C: 1, squared: true, trainSamples: train.length }),
      });
      const last = outcome.epochs.at(-1);
      results.push({
        cutLayer,
        accuracy: last?.valAccuracy ?? 0,
        chance: 1 / data.numClasses,
        trainSamples: train.length,
        valSamples: validation.length,
        featureDim: featureShape.reduce((a, b) => a * b, 1),
        seconds: (performance.now() - started) / 1000,
      });
    } finally {
      tf.dispose(Object.values(tensors));
      releaseModels(head);
    }
  }
  return results;
}

/** The local FeatureProber: loads the model and data, probes in the calling process. */
export class TfFeatureProber implements FeatureProber {
  constructor(private readonly objects: ObjectStore) {}

  async probe(
    modelPrefix: string,
    dataset: PreparedDataset,
    options: { cutLayers: readonly string[]; perClass?: number; seed?: number },
  ): Promise<ProbeResult[]> {
    const { tf } = await selectBackend();
    const { pixels, labels } = await loadPreparedDataset(this.objects, dataset);
    const base = await loadModelFromStore(tf, this.objects, modelPrefix);
    try {
      return await linearProbe(
        tf,
        base,
        { pixels, labels, shape: dataset.shape, numClasses: dataset.classes.length },
        options,
      );
    } finally {
      releaseModels(base);
    }
  }
}
