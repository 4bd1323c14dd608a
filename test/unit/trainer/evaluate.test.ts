import { beforeAll, describe, expect, it } from 'vitest';
import { contentHash } from '../../../shared/data/load.js';
import type { PreparedDataset } from '../../../shared/schemas/dataset.js';
import { selectBackend } from '../../../trainer/backend.js';
import { toTensors } from '../../../trainer/data.js';
import { evaluateStoredModel } from '../../../trainer/evaluate.js';
import { buildFineTuneModel } from '../../../trainer/model.js';
import { loadModelFromStore, saveModelToStore } from '../../../trainer/model-io.js';
import type { Tf } from '../../../trainer/tf.js';
import { MemoryObjectStore } from '../../helpers/memory-object-store.js';
import { bandImages, tinyCnn } from '../../helpers/tiny-model.js';

let tf: Tf;
beforeAll(async () => {
  tf = (await selectBackend({ prefer: 'wasm' })).tf;
});

async function storedDataset(objects: MemoryObjectStore, n: number): Promise<PreparedDataset> {
  const { pixels, labels } = bandImages(n, 3, 9);
  const classes = ['a', 'b', 'c'];
  const hash = contentHash([8, 8, 1], classes, pixels, labels);
  await objects.put(`datasets/${hash}/pixels.u8`, pixels);
  await objects.put(`datasets/${hash}/labels.u8`, labels);
  return {
    hash,
    source: { uri: '/x', format: 'idx' },
    classes,
    shape: [8, 8, 1],
    count: n,
    countsPerClass: [0, 1, 2].map((c) => labels.filter((l) => l === c).length),
    dataKey: `datasets/${hash}/pixels.u8`,
    labelsKey: `datasets/${hash}/labels.u8`,
    manifestKey: `datasets/${hash}/manifest.json`,
    preparedAt: new Date(0).toISOString(),
  };
}

describe('saveModelToStore() / loadModelFromStore()', () => {
  it('round-trips a fine-tuned model with identical predictions', async () => {
    const objects = new MemoryObjectStore();
    const model = buildFineTuneModel(tf, tinyCnn(tf, 5), {
      strategy: 'finetune',
      numClasses: 3,
      freezeDepth: 1,
      learningRate: 0.01,
    });
    await saveModelToStore(tf, model, objects, 'm');
    expect(await objects.list('m/')).toEqual(['m/model.json', 'm/weights.bin']);
    const loaded = await loadModelFromStore(tf, objects, 'm');
    const x = tf.randomUniform([4, 8, 8, 1]);
    const a = (model.predict(x) as import('@tensorflow/tfjs').Tensor).arraySync();
    const b = (loaded.predict(x) as import('@tensorflow/tfjs').Tensor).arraySync();
    expect(b).toEqual(a);
    expect(loaded.outputs[0].shape).toEqual([null, 3]);
    tf.dispose(x);
    model.dispose();
    loaded.dispose();
  });
});

describe('evaluateStoredModel()', () => {
  it('agrees with model.evaluate on accuracy and mean cross-entropy, in batches', async () => {
    const objects = new MemoryObjectStore();
    const dataset = await storedDataset(objects, 1100); // more than one 512-sample batch
    const model = buildFineTuneModel(tf, tinyCnn(tf, 5), {
      strategy: 'finetune',
      numClasses: 3,
      freezeDepth: 0,
      learningRate: 0.01,
    });
    const all = Array.from({ length: 1100 }, (_, i) => i);
    const { pixels, labels } = bandImages(1100, 3, 9);
    const { xs, ys } = toTensors(tf, pixels, labels, [8, 8, 1], 3, all);
    await model.fit(xs, ys, { epochs: 1, batchSize: 64, verbose: 0 });
    await saveModelToStore(tf, model, objects, 'm');
    const [loss, acc] = (model.evaluate(xs, ys) as import('@tensorflow/tfjs').Scalar[]).map(
      (t) => t.dataSync()[0],
    );

    const result = await evaluateStoredModel(tf, objects, 'm', dataset);

    expect(result.samples).toBe(1100);
    expect(result.accuracy).toBeCloseTo(acc, 5);
    expect(result.loss).toBeCloseTo(loss, 3);
    // The confusion matrix agrees with the model's own argmax predictions, sample by sample.
    const predicted = (model.predict(xs) as import('@tensorflow/tfjs').Tensor).argMax(-1);
    const p = await predicted.data();
    predicted.dispose();
    const expected = [0, 1, 2].map(() => [0, 0, 0]);
    all.forEach((i) => {
      expected[labels[i]][p[i]]++;
    });
    expect(result.confusion).toEqual(expected);
    expect(result.perClassAccuracy).toEqual(
      expected.map((row, c) => row[c] / row.reduce((a, b) => a + b, 0)),
    );
    const diagonal = expected.reduce((sum, row, c) => sum + row[c], 0);
    expect(result.accuracy).toBeCloseTo(diagonal / 1100, 10);
    const some = await evaluateStoredModel(tf, objects, 'm', dataset, [0, 1, 2, 3]);
    expect(some.samples).toBe(4);
    expect(some.confusion.flat().reduce((a, b) => a + b, 0)).toBe(4);
    // Indices 0-3 of bandImages(…, 3, …) cover classes 0, 1, 2, 0: every class has a sample.
    expect(some.perClassAccuracy.every((a) => a !== null)).toBe(true);
    tf.dispose([xs, ys]);
    model.dispose();
  });
});

describe('evaluateStoredModel() on a model that outputs scores', () => {
  it('reports argmax accuracy and the mean one-vs-rest hinge loss', async () => {
    // Prepare
    const objects = new MemoryObjectStore();
    const dataset = await storedDataset(objects, 30);
    const model = buildFineTuneModel(tf, tinyCnn(tf, 5), {
      strategy: 'bottleneck-linear',
      numClasses: 3,
      freezeDepth: 5,
      learningRate: 0.01,
      output: 'linear',
    });
    await saveModelToStore(tf, model, objects, 'svm');
    const { pixels, labels } = bandImages(30, 3, 9);
    const all = Array.from({ length: 30 }, (_, i) => i);
    const { xs, ys } = toTensors(tf, pixels, labels, [8, 8, 1], 3, all);
    const scores = model.predict(xs) as import('@tensorflow/tfjs').Tensor;
    const expectedAcc = scores.argMax(-1).equal(ys.argMax(-1)).mean().dataSync()[0];
    const hinge = tf
      .relu(tf.sub(1, ys.mul(2).sub(1).mul(scores)))
      .sum(-1)
      .mean()
      .dataSync()[0];

    // Act
    const result = await evaluateStoredModel(tf, objects, 'svm', dataset);

    // Assess
    expect(result.accuracy).toBeCloseTo(expectedAcc, 6);
    expect(result.loss).toBeCloseTo(hinge, 4);
    tf.dispose([xs, ys, scores]);
    model.dispose();
  });
});
