import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { EnsembleError, writeEnsemble } from '../../../../shared/model/ensemble.js';
import { getJson } from '../../../../shared/ports/object-store.js';
import { buildFineTuneModel } from '../../../../trainer/model.js';
import { saveModelToStore } from '../../../../trainer/model-io.js';
import { MemoryObjectStore } from '../../../helpers/memory-object-store.js';
import { tinyBnCnn, tinyCnn } from '../../../helpers/tiny-model.js';

// Stock @tensorflow/tfjs on its cpu backend: nothing of foldsweep's trainer loads the ensemble.
beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** A fine-tuned tiny CNN with its own random weights (as a fold's model would have). */
function foldModel(base: () => tf.LayersModel) {
  return buildFineTuneModel(tf as never, base() as never, {
    strategy: 'finetune',
    numClasses: 3,
    freezeDepth: 0,
    learningRate: 0.01,
  }) as unknown as tf.LayersModel;
}

async function loadStock(objects: MemoryObjectStore, prefix: string) {
  const modelJson = (await getJson(objects, `${prefix}/model.json`)) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  expect(modelJson.weightsManifest[0].paths).toEqual(['weights.bin']);
  const weights = await objects.get(`${prefix}/weights.bin`);
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: modelJson.modelTopology,
      weightSpecs: modelJson.weightsManifest[0].weights,
      weightData: weights.slice().buffer,
    }),
  );
}

describe('fold ensembles', () => {
  for (const [name, base] of [
    ['a plain CNN', () => tinyCnn(tf as never, 5) as unknown as tf.LayersModel],
    ['a CNN with BatchNormalization', () => tinyBnCnn(tf as never, 5) as unknown as tf.LayersModel],
  ] as const) {
    it(`of ${name}: stock tfjs loads it and it outputs the mean of the fold models`, async () => {
      const objects = new MemoryObjectStore();
      const members = [foldModel(base), foldModel(base), foldModel(base)];
      const prefixes = members.map((_, k) => `trials/${k}/model`);
      for (const [k, m] of members.entries()) {
        await saveModelToStore(tf as never, m as never, objects, prefixes[k]);
      }
      await writeEnsemble(objects, prefixes, 'champion');

      const ensemble = await loadStock(objects, 'champion');
      const x = tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 7);
      const got = ensemble.predict(x) as tf.Tensor;
      const expected = tf.addN(members.map((m) => m.predict(x) as tf.Tensor)).div(members.length);
      expect(got.shape).toEqual([4, 3]);
      const diff = tf.max(tf.abs(got.sub(expected))).dataSync()[0];
      expect(diff).toBeLessThan(1e-6);
      // Probabilities stay probabilities: each row sums to 1.
      for (const row of (got.sum(-1) as tf.Tensor).dataSync()) expect(row).toBeCloseTo(1, 5);
      // Every member's weights are in: 3x the parameters of one fold model.
      expect(ensemble.countParams()).toBe(3 * members[0].countParams());
      tf.dispose([x, got, expected]);
      for (const m of [...members, ensemble]) m.dispose();
    });
  }

  it('refuses a single model, naming what it needs', async () => {
    const objects = new MemoryObjectStore();
    const m = foldModel(() => tinyCnn(tf as never, 5) as unknown as tf.LayersModel);
    await saveModelToStore(tf as never, m as never, objects, 'one');
    await expect(writeEnsemble(objects, ['one'], 'out')).rejects.toThrow(EnsembleError);
    await expect(writeEnsemble(objects, ['one'], 'out')).rejects.toThrow(/at least 2 models/);
    expect(await objects.list('out')).toEqual([]);
    m.dispose();
  });
});
