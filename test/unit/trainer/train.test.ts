import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../trainer/backend.js';
import { toTensors } from '../../../trainer/data.js';
import { buildFineTuneModel } from '../../../trainer/model.js';
import type { Tf } from '../../../trainer/tf.js';
import { trainWithEarlyStopping } from '../../../trainer/train.js';
import { bandImages, tinyCnn } from '../../helpers/tiny-model.js';

let tf: Tf;
beforeAll(async () => {
  tf = (await selectBackend({ prefer: 'wasm' })).tf;
});

function splits(n = 90) {
  const { pixels, labels } = bandImages(n, 3);
  const idx = Array.from({ length: n }, (_, i) => i);
  const train = toTensors(
    tf,
    pixels,
    labels,
    [8, 8, 1],
    3,
    idx.filter((i) => i % 3 !== 0),
  );
  const val = toTensors(
    tf,
    pixels,
    labels,
    [8, 8, 1],
    3,
    idx.filter((i) => i % 3 === 0),
  );
  return { xTrain: train.xs, yTrain: train.ys, xVal: val.xs, yVal: val.ys };
}

describe('toTensors()', () => {
  it('scales pixels to [0, 1] and one-hot encodes labels', () => {
    const pixels = new Uint8Array([0, 255, 51, 102]);
    const labels = new Uint8Array([2, 0, 1, 1]);
    const { xs, ys } = toTensors(tf, pixels, labels, [1, 1, 1], 3, [1, 2]);
    expect(xs.shape).toEqual([2, 1, 1, 1]);
    expect(Array.from(xs.dataSync())).toEqual([1, 0.2].map((v) => Math.fround(v)));
    expect(ys.arraySync()).toEqual([
      [1, 0, 0],
      [0, 1, 0],
    ]);
    tf.dispose([xs, ys]);
  });
});

describe('trainWithEarlyStopping()', () => {
  it('learns, reports every epoch and keeps the tensor count flat across epochs', async () => {
    const data = splits();
    const model = buildFineTuneModel(tf, tinyCnn(tf, 5), {
      strategy: 'finetune',
      numClasses: 3,
      freezeDepth: 0,
      learningRate: 0.02,
    });
    const seen: number[] = [];
    const outcome = await trainWithEarlyStopping(tf, model, data, {
      epochs: 6,
      batchSize: 10,
      patience: 10,
      objective: 'val_accuracy',
      onEpoch: (m) => {
        seen.push(m.epoch);
      },
    });
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
    expect(outcome.epochs[5].loss).toBeLessThan(outcome.epochs[0].loss);
    const counts = outcome.epochs.map((e) => e.numTensors);
    expect(new Set(counts.slice(1)).size).toBe(1);
    model.dispose();
    tf.dispose(Object.values(data));
  });

  it('stops after `patience` epochs without improvement and restores the best epoch', async () => {
    const data = splits();
    // A learning rate of 0 never improves after epoch 0: training must stop at epoch `patience`.
    const model = buildFineTuneModel(tf, tinyCnn(tf, 5), {
      strategy: 'finetune',
      numClasses: 3,
      freezeDepth: 0,
      learningRate: 1e-12,
    });
    const outcome = await trainWithEarlyStopping(tf, model, data, {
      epochs: 20,
      batchSize: 30,
      patience: 2,
      objective: 'val_loss',
    });
    expect(outcome.stoppedEarly).toBe(true);
    expect(outcome.epochs.length).toBeLessThan(20);
    const best = outcome.epochs[outcome.bestEpoch];
    expect(outcome.objective).toBe(best.valLoss);
    expect(Math.min(...outcome.epochs.map((e) => e.valLoss))).toBe(best.valLoss);
    // The model now holds the best epoch's weights: evaluating gives its validation loss.
    const [loss] = model.evaluate(data.xVal, data.yVal) as import('@tensorflow/tfjs').Scalar[];
    expect(loss.dataSync()[0]).toBeCloseTo(best.valLoss, 4);
    model.dispose();
    tf.dispose(Object.values(data));
  });
});
