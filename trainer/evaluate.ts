import { loadPreparedDataset } from '../shared/data/load.js';
import { preprocessingOf } from '../shared/model/preprocessing.js';
import type { ModelEvaluator } from '../shared/ports/artifacts.js';
import type { ObjectStore } from '../shared/ports/object-store.js';
import type { Evaluation } from '../shared/schemas/champion.js';
import type { PreparedDataset } from '../shared/schemas/dataset.js';
import { selectBackend } from './backend.js';
import { toTensors } from './data.js';
import { outputKind } from './model.js';
import { loadModelFromStore } from './model-io.js';
import type { Tf } from './tf.js';
import { crossEntropyPerSample, ovrHingePerSample } from './train.js';

const EVAL_BATCH = 512;

/**
 * Accuracy (argmax), mean loss, confusion matrix and per-class accuracy of a stored model on
 * (some samples of) a prepared dataset, evaluated in batches so memory stays bounded for the
 * 10,000-image test split. The loss is the categorical cross-entropy for a softmax model, the
 * one-vs-rest hinge loss for a model that outputs class scores (bottleneck-linear's SVM): see
 * ChampionMetadata `outputs`. `confusion[t][p]` counts samples of class t predicted as p.
 */
export async function evaluateStoredModel(
  tf: Tf,
  objects: ObjectStore,
  modelPrefix: string,
  dataset: PreparedDataset,
  indices?: number[],
): Promise<Required<Evaluation>> {
  const { pixels, labels } = await loadPreparedDataset(objects, dataset);
  const all = indices ?? Array.from({ length: dataset.count }, (_, i) => i);
  const numClasses = dataset.classes.length;
  const scaling = preprocessingOf(dataset);
  const model = await loadModelFromStore(tf, objects, modelPrefix);
  const scores = outputKind(model) === 'scores';
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  let correct = 0;
  let lossSum = 0;
  try {
    for (let start = 0; start < all.length; start += EVAL_BATCH) {
      const batch = all.slice(start, start + EVAL_BATCH);
      const { xs, ys } = toTensors(tf, pixels, labels, dataset.shape, numClasses, batch, scaling);
      const [predicted, truth, loss] = tf.tidy(() => {
        const outputs = model.predict(xs) as import('@tensorflow/tfjs').Tensor;
        const l = (
          scores ? ovrHingePerSample(tf, ys, outputs) : crossEntropyPerSample(tf, ys, outputs)
        ).sum();
        return [outputs.argMax(-1), ys.argMax(-1), l];
      });
      const [p, t] = [await predicted.data(), await truth.data()];
      for (let j = 0; j < p.length; j++) {
        confusion[t[j]][p[j]]++;
        if (p[j] === t[j]) correct++;
      }
      lossSum += (await loss.data())[0];
      tf.dispose([xs, ys, predicted, truth, loss]);
    }
  } finally {
    model.dispose();
  }
  const perClassAccuracy = confusion.map((row, c) => {
    const n = row.reduce((s, x) => s + x, 0);
    return n ? row[c] / n : null;
  });
  return {
    accuracy: correct / all.length,
    loss: lossSum / all.length,
    samples: all.length,
    confusion,
    perClassAccuracy,
  };
}

/** The local ModelEvaluator: runs in the calling process on the best backend present. */
export class TfModelEvaluator implements ModelEvaluator {
  constructor(private readonly objects: ObjectStore) {}

  async evaluate(modelPrefix: string, dataset: PreparedDataset, indices?: number[]) {
    const { tf } = await selectBackend();
    return evaluateStoredModel(tf, this.objects, modelPrefix, dataset, indices);
  }
}
