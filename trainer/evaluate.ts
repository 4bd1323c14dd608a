import { loadPreparedDataset } from '../shared/data/load.js';
import type { ModelEvaluator } from '../shared/ports/artifacts.js';
import type { ObjectStore } from '../shared/ports/object-store.js';
import type { PreparedDataset } from '../shared/schemas/dataset.js';
import { selectBackend } from './backend.js';
import { toTensors } from './data.js';
import { outputKind } from './model.js';
import { loadModelFromStore } from './model-io.js';
import type { Tf } from './tf.js';
import { crossEntropyPerSample, ovrHingePerSample } from './train.js';

const EVAL_BATCH = 512;

/**
 * Accuracy (argmax) and mean loss of a stored model on (some samples of) a prepared dataset,
 * evaluated in batches so memory stays bounded for the 10,000-image test split. The loss is the
 * categorical cross-entropy for a softmax model, the one-vs-rest hinge loss for a model that
 * outputs class scores (bottleneck-linear's SVM): see ChampionMetadata `outputs`.
 */
export async function evaluateStoredModel(
  tf: Tf,
  objects: ObjectStore,
  modelPrefix: string,
  dataset: PreparedDataset,
  indices?: number[],
): Promise<{ accuracy: number; loss: number; samples: number }> {
  const { pixels, labels } = await loadPreparedDataset(objects, dataset);
  const all = indices ?? Array.from({ length: dataset.count }, (_, i) => i);
  const model = await loadModelFromStore(tf, objects, modelPrefix);
  const scores = outputKind(model) === 'scores';
  let correct = 0;
  let lossSum = 0;
  try {
    for (let start = 0; start < all.length; start += EVAL_BATCH) {
      const batch = all.slice(start, start + EVAL_BATCH);
      const { xs, ys } = toTensors(
        tf,
        pixels,
        labels,
        dataset.shape,
        dataset.classes.length,
        batch,
      );
      const [hits, loss] = tf.tidy(() => {
        const outputs = model.predict(xs) as import('@tensorflow/tfjs').Tensor;
        const h = outputs.argMax(-1).equal(ys.argMax(-1)).sum();
        const l = (
          scores ? ovrHingePerSample(tf, ys, outputs) : crossEntropyPerSample(tf, ys, outputs)
        ).sum();
        return [h, l];
      });
      correct += (await hits.data())[0];
      lossSum += (await loss.data())[0];
      tf.dispose([xs, ys, hits, loss]);
    }
  } finally {
    model.dispose();
  }
  return { accuracy: correct / all.length, loss: lossSum / all.length, samples: all.length };
}

/** The local ModelEvaluator: runs in the calling process on the best backend present. */
export class TfModelEvaluator implements ModelEvaluator {
  constructor(private readonly objects: ObjectStore) {}

  async evaluate(modelPrefix: string, dataset: PreparedDataset, indices?: number[]) {
    const { tf } = await selectBackend();
    return evaluateStoredModel(tf, this.objects, modelPrefix, dataset, indices);
  }
}
