import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../trainer/backend.js';
import { Checkpointer, type TrainingProgress } from '../../../trainer/checkpoint.js';
import type { LayersModel, Tensor, Tf } from '../../../trainer/tf.js';
import { recordingLogger } from '../../helpers/images.js';
import { MemoryObjectStore } from '../../helpers/memory-object-store.js';
import { bandImages, tinyCnn } from '../../helpers/tiny-model.js';

let tf: Tf;
let xs: Tensor;
let ys: Tensor;

beforeAll(async () => {
  // The pure-JS backend is deterministic: a resumed run must match an uninterrupted one exactly.
  ({ tf } = await selectBackend({ prefer: 'cpu' }));
  const { pixels, labels } = bandImages(24, 3);
  xs = tf.tensor4d(
    Float32Array.from(pixels, (p) => p / 255),
    [24, 8, 8, 1],
  );
  ys = tf.oneHot(tf.tensor1d(Array.from(labels), 'int32'), 3).toFloat();
});

function compiled(): LayersModel {
  const model = tinyCnn(tf, 3);
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
  return model;
}

async function trainEpoch(model: LayersModel) {
  await model.fit(xs, ys, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
}

async function weightsOf(model: LayersModel): Promise<number[][]> {
  return Promise.all(model.getWeights().map(async (w) => Array.from(await w.data())));
}

function progress(epoch: number, overrides: Partial<TrainingProgress> = {}): TrainingProgress {
  return {
    epoch,
    epochs: Array.from({ length: epoch + 1 }, (_, e) => ({
      epoch: e,
      loss: 1 - e / 10,
      accuracy: 0.5,
      valLoss: 1,
      valAccuracy: 0.5 + e / 10,
      durationMs: 10,
      numTensors: 40,
    })),
    bestEpoch: epoch,
    bestValue: 0.5 + epoch / 10,
    sinceBest: 0,
    ...overrides,
  };
}

const make = (objects: MemoryObjectStore, trialIndex = 4, attempt = 1) =>
  new Checkpointer({ tf, objects, sweepId: 'sweep-1', trialIndex, attempt });

describe('Checkpointer', () => {
  it('restores nothing when the trial has no checkpoint', async () => {
    const model = compiled();

    const restored = await make(new MemoryObjectStore()).restore({ model });

    expect(restored).toBeUndefined();
    model.dispose();
  });

  it('resumes training exactly where it stopped: weights and Adam state restored', async () => {
    // Prepare: train one epoch, checkpoint, train a second epoch (the uninterrupted run).
    const objects = new MemoryObjectStore();
    const original = compiled();
    await trainEpoch(original);
    await make(objects).save(progress(0), { model: original });
    await trainEpoch(original);
    const uninterrupted = await weightsOf(original);

    // Act: a new process (fresh weights, fresh optimizer) restores and trains the second epoch.
    const resumed = compiled();
    const restored = await make(objects, 4, 2).restore({ model: resumed });
    await trainEpoch(resumed);

    // Assess
    expect(restored).toMatchObject({ epoch: 0, bestEpoch: 0, sinceBest: 0, attempt: 1 });
    expect(restored?.epochs).toHaveLength(1);
    const got = await weightsOf(resumed);
    const maxDiff = Math.max(
      ...got.flatMap((w, i) => w.map((v, j) => Math.abs(v - uninterrupted[i][j]))),
    );
    expect(maxDiff).toBeLessThan(1e-6);
    tf.dispose(restored?.bestWeights ?? []);
    original.dispose();
    resumed.dispose();
  });

  it('needs the optimizer state: restoring only the weights would train differently', async () => {
    const objects = new MemoryObjectStore();
    const original = compiled();
    await trainEpoch(original);
    const afterOne = original.getWeights().map((w) => w.clone());
    await make(objects).save(progress(0), { model: original });
    await trainEpoch(original);
    const uninterrupted = await weightsOf(original);

    const weightsOnly = compiled();
    weightsOnly.setWeights(afterOne);
    await trainEpoch(weightsOnly);

    const got = await weightsOf(weightsOnly);
    const maxDiff = Math.max(
      ...got.flatMap((w, i) => w.map((v, j) => Math.abs(v - uninterrupted[i][j]))),
    );
    expect(maxDiff).toBeGreaterThan(1e-4);
    tf.dispose(afterOne);
    original.dispose();
    weightsOnly.dispose();
  });

  it('returns the early-stopping best weights saved with an older best epoch', async () => {
    const objects = new MemoryObjectStore();
    const model = compiled();
    await trainEpoch(model);
    const best = model.getWeights().map((w) => w.clone());
    const bestValues = await Promise.all(best.map(async (w) => Array.from(await w.data())));
    await trainEpoch(model);
    await make(objects).save(progress(1, { bestEpoch: 0, bestValue: 0.5, sinceBest: 1 }), {
      model,
      bestWeights: best,
    });

    const other = compiled();
    const restored = await make(objects).restore({ model: other });

    expect(restored).toMatchObject({
      epoch: 1,
      bestEpoch: 0,
      bestValue: 0.5,
      sinceBest: 1,
    });
    const got = await Promise.all(
      (restored?.bestWeights ?? []).map(async (w) => Array.from(await w.data())),
    );
    expect(got).toEqual(bestValues);
    tf.dispose([...best, ...(restored?.bestWeights ?? [])]);
    model.dispose();
    other.dispose();
  });

  it('keeps only the latest checkpoint, manifest last', async () => {
    const objects = new MemoryObjectStore();
    const model = compiled();
    const checkpoints = make(objects);

    await checkpoints.save(progress(0), { model });
    await checkpoints.save(progress(1), { model });

    const prefix = 'checkpoints/sweep-1/00004';
    expect(await objects.list(`${prefix}/`)).toEqual([
      `${prefix}/epoch-00001.bin`,
      `${prefix}/latest.json`,
    ]);
    expect(objects.writes).toEqual([
      `${prefix}/epoch-00000.bin`,
      `${prefix}/latest.json`,
      `${prefix}/epoch-00001.bin`,
      `${prefix}/latest.json`,
    ]);
    expect((await checkpoints.latest())?.epoch).toBe(1);
    model.dispose();
  });

  it('does not leak tensors: restoring adds only the optimizer moments', async () => {
    const objects = new MemoryObjectStore();
    const model = compiled();
    await trainEpoch(model);
    await make(objects).save(progress(0), { model });
    const fresh = compiled();
    const before = tf.memory().numTensors;

    const restored = await make(objects).restore({ model: fresh });
    tf.dispose(restored?.bestWeights ?? []);

    const moments = 2 * fresh.trainableWeights.length;
    expect(tf.memory().numTensors - before).toBe(moments);
    model.dispose();
    fresh.dispose();
  });

  it('ignores a checkpoint that does not fit the model, and says why', async () => {
    const objects = new MemoryObjectStore();
    const threeClasses = compiled();
    await make(objects).save(progress(0), { model: threeClasses });
    const fourClasses = tinyCnn(tf, 4);
    fourClasses.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
    const { logger, records } = recordingLogger();

    const restored = await new Checkpointer({
      tf,
      objects,
      sweepId: 'sweep-1',
      trialIndex: 4,
      logger,
    }).restore({ model: fourClasses });

    expect(restored).toBeUndefined();
    expect(records).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        obj: expect.objectContaining({ why: 'its weights do not fit the model' }),
      }),
    );
    threeClasses.dispose();
    fourClasses.dispose();
  });

  it('ignores a checkpoint whose data object is gone', async () => {
    const objects = new MemoryObjectStore();
    const model = compiled();
    await make(objects).save(progress(0), { model });
    await objects.delete('checkpoints/sweep-1/00004/epoch-00000.bin');

    expect(await make(objects).restore({ model })).toBeUndefined();
    model.dispose();
  });

  it('clear() deletes every checkpoint object of the trial and no other', async () => {
    const objects = new MemoryObjectStore();
    const model = compiled();
    await objects.put('sweeps/sweep-1/trials/00004/result.json', '{}');
    await make(objects).save(progress(0), { model });
    await make(objects, 5).save(progress(0), { model });

    await make(objects).clear();

    expect(await objects.list('sweeps/sweep-1/trials/00004/')).toEqual([
      'sweeps/sweep-1/trials/00004/result.json',
    ]);
    expect(await objects.list('checkpoints/sweep-1/00004/')).toEqual([]);
    expect(await objects.list('checkpoints/sweep-1/00005/')).toHaveLength(2);
    model.dispose();
  });
});
