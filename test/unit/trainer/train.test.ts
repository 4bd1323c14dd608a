import { beforeAll, describe, expect, it } from 'vitest';
import { augmentBatch } from '../../../trainer/augment.js';
import { selectBackend } from '../../../trainer/backend.js';
import { Checkpointer } from '../../../trainer/checkpoint.js';
import { toTensors } from '../../../trainer/data.js';
import { buildFineTuneModel } from '../../../trainer/model.js';
import type { Tensor, Tf } from '../../../trainer/tf.js';
import {
  crossEntropyPerSample,
  effectivePatience,
  finalDecaySchedule,
  ovrHingePerSample,
  trainWithEarlyStopping,
} from '../../../trainer/train.js';
import { MemoryObjectStore } from '../../helpers/memory-object-store.js';
import { bandSplits, tinyCnn } from '../../helpers/tiny-model.js';

let tf: Tf;
beforeAll(async () => {
  tf = (await selectBackend({ prefer: 'wasm' })).tf;
});

const splits = (n = 90) => bandSplits(tf, n);
/** The splits, and the same training data with an empty validation split, as a refit has. */
const refitSplits = () => {
  const data = splits();
  const noValidation = {
    xTrain: data.xTrain,
    yTrain: data.yTrain,
    xVal: data.xVal.slice(0, 0),
    yVal: data.yVal.slice(0, 0),
  };
  return { data, noValidation };
};

/** The tiny CNN with a new 3-class head, every layer trained at `learningRate`. */
const tinyFineTune = (learningRate: number) =>
  buildFineTuneModel(tf, tinyCnn(tf, 5), {
    strategy: 'finetune',
    numClasses: 3,
    freezeDepth: 0,
    learningRate,
  });

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
    const model = tinyFineTune(0.02);
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

  it('without a validation split (a refit) trains every epoch and keeps the last weights', async () => {
    // Prepare: a learning rate of 0 never improves, which would stop a validated run early
    const { data, noValidation } = refitSplits();
    const model = tinyFineTune(0.02);

    // Act
    const outcome = await trainWithEarlyStopping(tf, model, noValidation, {
      epochs: 7,
      batchSize: 10,
      patience: 1,
      objective: 'val_accuracy',
    });

    // Assess: 7 epochs, no validation metrics, the last epoch kept (not an earlier best)
    expect(outcome.epochs.map((e) => e.epoch)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(outcome).toMatchObject({ bestEpoch: 6, stoppedEarly: false });
    expect(outcome.epochs.every((e) => e.valAccuracy === null && e.valLoss === null)).toBe(true);
    expect(outcome.objective).toBe(outcome.epochs[6].accuracy);
    const after = model.getWeights().map((w) => Array.from(w.dataSync()));
    const again = await trainWithEarlyStopping(tf, model, noValidation, {
      epochs: 1,
      batchSize: 10,
      patience: 1,
      objective: 'val_accuracy',
    });
    expect(again.epochs).toHaveLength(1);
    expect(model.getWeights().map((w) => Array.from(w.dataSync()))).not.toEqual(after);
    model.dispose();
    tf.dispose([...Object.values(data), noValidation.xVal, noValidation.yVal]);
  });

  it('stops after `patience` epochs without improvement and restores the best epoch', async () => {
    const data = splits();
    // A learning rate of 0 never improves after epoch 0: training must stop at epoch `patience`.
    const model = tinyFineTune(1e-12);
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
    expect(Math.min(...outcome.epochs.map((e) => e.valLoss as number))).toBe(best.valLoss);
    // The model now holds the best epoch's weights: evaluating gives its validation loss.
    const [loss] = model.evaluate(data.xVal, data.yVal) as import('@tensorflow/tfjs').Scalar[];
    expect(loss.dataSync()[0]).toBeCloseTo(best.valLoss as number, 4);
    model.dispose();
    tf.dispose(Object.values(data));
  });
});

describe('early stopping on small folds', () => {
  it('raises the patience in epochs to cover patienceSteps optimizer steps', () => {
    // 66 training images in batches of 16: 5 steps an epoch, so 200 steps are 40 epochs.
    expect(effectivePatience({ patience: 6, patienceSteps: 200, batchSize: 16 }, 66)).toBe(40);
    // 1,333 images: 84 steps an epoch; 200 steps are 3 epochs, under patience 6.
    expect(effectivePatience({ patience: 6, patienceSteps: 200, batchSize: 16 }, 1333)).toBe(6);
    expect(effectivePatience({ patience: 6, patienceSteps: 0, batchSize: 16 }, 66)).toBe(6);
    expect(effectivePatience({ patience: 2, batchSize: 32 }, 10)).toBe(2);
  });

  it('does not stop a fold of a few steps an epoch before patienceSteps steps', async () => {
    const data = splits();
    const model = tinyFineTune(1e-12);
    // 60 training images at batch 30: 2 steps an epoch. The same run stops after 2 idle epochs
    // with patience alone (the test above); 18 steps of patience keep it going for 9 idle epochs.
    expect(data.xTrain.shape[0]).toBe(60);
    const outcome = await trainWithEarlyStopping(tf, model, data, {
      epochs: 20,
      batchSize: 30,
      patience: 2,
      patienceSteps: 18,
      objective: 'val_loss',
    });
    expect(outcome.stoppedEarly).toBe(true);
    expect(outcome.epochs.length - 1 - outcome.bestEpoch).toBe(9);
    model.dispose();
    tf.dispose(Object.values(data));
  });

  it('on validation accuracy, keeps the later epoch of a tie when its loss is lower', async () => {
    const data = splits();
    const model = tinyFineTune(0.02);
    const outcome = await trainWithEarlyStopping(tf, model, data, {
      epochs: 8,
      batchSize: 10,
      patience: 8,
      objective: 'val_accuracy',
    });
    const best = outcome.epochs[outcome.bestEpoch];
    for (const e of outcome.epochs) {
      // No epoch beats the kept one: higher accuracy, or equal accuracy and lower loss.
      const [acc, loss] = [e.valAccuracy as number, e.valLoss as number];
      expect(
        acc > (best.valAccuracy as number) ||
          (acc === best.valAccuracy && loss < (best.valLoss as number)),
      ).toBe(false);
    }
    model.dispose();
    tf.dispose(Object.values(data));
  });
});

/** Two models with identical weights (a fine-tuned tiny CNN, compiled at `learningRate`). */
function twins(learningRate = 0.02) {
  const make = () => tinyFineTune(learningRate);
  const a = make();
  const b = make();
  b.setWeights(a.getWeights());
  return [a, b];
}

describe('trainWithEarlyStopping() batches', () => {
  const options = { epochs: 2, batchSize: 10, patience: 5, objective: 'val_loss' as const };

  it('trains the same way for the same seed, differently for another', async () => {
    // Prepare
    const data = splits();
    const [a, b] = twins();
    const [c] = twins();
    c.setWeights(a.getWeights());

    // Act
    const first = await trainWithEarlyStopping(tf, a, data, { ...options, seed: 1 });
    const again = await trainWithEarlyStopping(tf, b, data, { ...options, seed: 1 });
    const other = await trainWithEarlyStopping(tf, c, data, { ...options, seed: 2 });

    // Assess
    expect(again.epochs.map((e) => e.loss)).toEqual(first.epochs.map((e) => e.loss));
    expect(other.epochs.map((e) => e.loss)).not.toEqual(first.epochs.map((e) => e.loss));
    for (const m of [a, b, c]) m.dispose();
    tf.dispose(Object.values(data));
  });

  it('augments every training batch and never the validation data', async () => {
    // Prepare
    const data = splits(); // 60 training, 30 validation samples
    const [model] = twins();
    const seen: number[] = [];
    const augment = (xs: Tensor) => {
      seen.push(xs.shape[0]);
      return xs.clone();
    };

    // Act
    await trainWithEarlyStopping(tf, model, data, { ...options, augment });

    // Assess: 2 epochs x 6 batches of 10 training images.
    expect(seen).toEqual(Array(12).fill(10));
    model.dispose();
    tf.dispose(Object.values(data));
  });

  it('trains the new head at headLearningRate and the body at the compiled rate', async () => {
    // Prepare: the body's rate is ~0, the head's is not.
    const data = splits();
    const [model] = twins(1e-9);
    const fc1 = model.getLayer('fc1').getWeights()[0].dataSync().slice();
    const head = model.getLayer('foldsweep_head').getWeights()[0].dataSync().slice();

    // Act
    await trainWithEarlyStopping(tf, model, data, { ...options, headLearningRate: 0.05 });

    // Assess
    const fc1After = model.getLayer('fc1').getWeights()[0].dataSync();
    const headAfter = model.getLayer('foldsweep_head').getWeights()[0].dataSync();
    const maxChange = (a: ArrayLike<number>, b: ArrayLike<number>) =>
      Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
    expect(maxChange(fc1After, fc1)).toBeLessThan(1e-6);
    expect(maxChange(headAfter, head)).toBeGreaterThan(1e-3);
    model.dispose();
    tf.dispose(Object.values(data));
  });

  it('keeps the tensor count flat with a head optimizer and augmentation', async () => {
    // Prepare
    const data = splits();
    const [model] = twins();

    // Act
    const outcome = await trainWithEarlyStopping(tf, model, data, {
      ...options,
      epochs: 4,
      headLearningRate: 0.05,
      augment: (xs, random) =>
        augmentBatch(
          tf,
          xs,
          { flip: true, rotationDegrees: 10, translateFraction: 0.1, zoomFraction: 0 },
          random,
        ),
    });

    // Assess
    const counts = outcome.epochs.map((e) => e.numTensors);
    expect(new Set(counts.slice(1)).size).toBe(1);
    model.dispose();
    tf.dispose(Object.values(data));
  });
});

describe('finalDecay (the refit’s learning rate falls to zero at the end)', () => {
  it('scales each optimizer’s own rate linearly over the last steps, then restores it', () => {
    // Prepare: 60 images in batches of 10 for 2 epochs = 12 steps, the last quarter (3) decays
    const body = { learningRate: 0.1 };
    const head = { learningRate: 0.04 };
    const schedule = finalDecaySchedule(
      { epochs: 2, batchSize: 10, finalDecay: 0.25 },
      60,
      // Only learningRate is read or written.
      [body, undefined, head] as unknown as Parameters<typeof finalDecaySchedule>[2],
    );
    const seen: number[][] = [];

    // Act
    for (let step = 0; step < 12; step++) {
      schedule.atStep(step);
      seen.push([body.learningRate, head.learningRate]);
    }
    schedule.restore();

    // Assess
    expect(seen.slice(0, 9).every(([b, h]) => b === 0.1 && h === 0.04)).toBe(true);
    expect(seen.slice(9).map(([b]) => b)).toEqual(
      [0.075, 0.05, 0.025].map((x) => expect.closeTo(x, 12)),
    );
    expect(seen.slice(9).map(([, h]) => h)).toEqual(
      [0.03, 0.02, 0.01].map((x) => expect.closeTo(x, 12)),
    );
    expect([body.learningRate, head.learningRate]).toEqual([0.1, 0.04]);
  });

  it('rejects a fraction outside 0..1, naming finalDecay', () => {
    for (const finalDecay of [-0.1, 1.5, Number.NaN]) {
      expect(() => finalDecaySchedule({ epochs: 2, batchSize: 10, finalDecay }, 60, [])).toThrow(
        /finalDecay must be between 0 and 1/,
      );
    }
  });

  it('trains like a constant rate until the decay starts, then differently, and restores the rate', async () => {
    // Prepare: twins, 4 epochs without validation; finalDecay 0.5 decays over epochs 2 and 3
    const { data, noValidation } = refitSplits();
    const [constant, decayed] = twins();
    const options = { epochs: 4, batchSize: 10, patience: 1, objective: 'val_accuracy' as const };
    const rate = (m: typeof constant) =>
      (m.optimizer as unknown as { learningRate: number }).learningRate;
    const before = rate(decayed);

    // Act
    const a = await trainWithEarlyStopping(tf, constant, noValidation, { ...options, seed: 3 });
    const b = await trainWithEarlyStopping(tf, decayed, noValidation, {
      ...options,
      seed: 3,
      finalDecay: 0.5,
    });

    // Assess
    const losses = (o: typeof a) => o.epochs.map((e) => e.loss);
    expect(losses(b).slice(0, 2)).toEqual(losses(a).slice(0, 2));
    expect(losses(b)[3]).not.toEqual(losses(a)[3]);
    expect(rate(decayed)).toBe(before);
    for (const m of [constant, decayed]) m.dispose();
    tf.dispose([...Object.values(data), noValidation.xVal, noValidation.yVal]);
  });
});

describe('losses', () => {
  it('ovrHingePerSample sums max(0, 1 - y s) over classes, squared on request', () => {
    // Prepare
    const y = tf.tensor2d([
      [1, 0, 0],
      [0, 0, 1],
    ]);
    const scores = tf.tensor2d([
      [2, -1, 0.5],
      [0, 0, 0],
    ]);

    // Act
    const hinge = ovrHingePerSample(tf, y, scores).arraySync();
    const squared = ovrHingePerSample(tf, y, scores, true).arraySync();

    // Assess: row 1: 0 + 0 + 1.5; row 2: 1 + 1 + 1.
    expect(hinge).toEqual([1.5, 3]);
    expect(squared).toEqual([2.25, 3]);
    tf.dispose([y, scores]);
  });

  it('crossEntropyPerSample matches tf.metrics.categoricalCrossentropy', () => {
    // Prepare
    const y = tf.tensor2d([
      [1, 0, 0],
      [0, 1, 0],
    ]);
    const p = tf.tensor2d([
      [0.7, 0.2, 0.1],
      [0.05, 0.05, 0.9],
    ]);

    // Act
    const ours = crossEntropyPerSample(tf, y, p).arraySync() as number[];

    // Assess
    const theirs = tf.metrics.categoricalCrossentropy(y, p).arraySync() as number[];
    ours.forEach((v, i) => {
      expect(v).toBeCloseTo(theirs[i], 5);
    });
    tf.dispose([y, p]);
  });
});

describe('trainWithEarlyStopping() checkpoints', () => {
  it('resumes an interrupted run and ends where an uninterrupted one ends', async () => {
    // Prepare: three models with the same weights; the head has its own optimizer.
    const data = splits();
    const [uninterrupted, first] = twins();
    const [retry] = twins();
    retry.setWeights(uninterrupted.getWeights());
    const options = {
      epochs: 4,
      batchSize: 10,
      patience: 10,
      objective: 'val_loss' as const,
      seed: 5,
      headLearningRate: 0.05,
    };
    const checkpoints = new Checkpointer({
      tf,
      objects: new MemoryObjectStore(),
      sweepId: 'sweep-test',
      trialIndex: 0,
    });
    const expected = await trainWithEarlyStopping(tf, uninterrupted, data, options);

    // Act: the first attempt dies after epoch 1's checkpoint; the retry starts from fresh weights.
    const died = await trainWithEarlyStopping(tf, first, data, {
      ...options,
      checkpoints,
      onEpoch: (m) => {
        if (m.epoch === 1) throw new Error('killed');
      },
    }).catch((e: Error) => e.message);
    const resumed = await trainWithEarlyStopping(tf, retry, data, { ...options, checkpoints });

    // Assess
    expect(died).toBe('killed');
    expect(resumed.epochs.map((e) => e.loss)).toEqual(expected.epochs.map((e) => e.loss));
    expect(resumed.bestEpoch).toBe(expected.bestEpoch);
    const a = uninterrupted.getWeights().map((w) => Array.from(w.dataSync()));
    const b = retry.getWeights().map((w) => Array.from(w.dataSync()));
    expect(b).toEqual(a);
    for (const m of [uninterrupted, first, retry]) m.dispose();
    tf.dispose(Object.values(data));
  });
});
