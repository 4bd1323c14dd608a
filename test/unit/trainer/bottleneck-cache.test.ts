import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../trainer/backend.js';
import {
  type BottleneckSource,
  bottleneckKey,
  bottleneckPrefix,
  getBottleneckFeatures,
} from '../../../trainer/bottleneck-cache.js';
import { imagesTensor } from '../../../trainer/data.js';
import { featureExtractor } from '../../../trainer/model.js';
import type { LayersModel, Tensor, Tf } from '../../../trainer/tf.js';
import { MemoryObjectStore } from '../../helpers/memory-object-store.js';
import { bandImages, tinyCnn } from '../../helpers/tiny-model.js';

let tf: Tf;
beforeAll(async () => {
  tf = (await selectBackend({ prefer: 'wasm' })).tf;
});

const SOURCE: BottleneckSource = {
  baseModelHash: 'b'.repeat(64),
  cutLayer: 'gap',
  datasetHash: 'd'.repeat(64),
};

/** 300 band images (more than one 256-image batch) and an extractor cut at `gap`. */
function setup() {
  const { pixels } = bandImages(300, 3);
  const base = tinyCnn(tf, 3);
  const extractor = featureExtractor(tf, base, 'gap');
  const dataset = { pixels, shape: [8, 8, 1] as [number, number, number], count: 300 };
  return { base, extractor, dataset };
}

/** Counts predict calls on `model`. */
function countPredicts(model: LayersModel) {
  const calls = { n: 0 };
  const predict = model.predict.bind(model);
  model.predict = (x, args) => {
    calls.n++;
    return predict(x, args);
  };
  return calls;
}

describe('bottleneckKey()', () => {
  it('is stable for one source and differs when the model, cut or dataset differs', () => {
    // Prepare
    const variants = [
      { ...SOURCE, baseModelHash: 'e'.repeat(64) },
      { ...SOURCE, cutLayer: 'fc1' },
      { ...SOURCE, datasetHash: 'f'.repeat(64) },
    ];

    // Act
    const key = bottleneckKey(SOURCE);

    // Assess
    expect(bottleneckKey({ ...SOURCE })).toBe(key);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    for (const v of variants) expect(bottleneckKey(v)).not.toBe(key);
  });
});

describe('getBottleneckFeatures()', () => {
  it('computes the features of every sample on a miss and stores them', async () => {
    // Prepare
    const objects = new MemoryObjectStore();
    const { base, extractor, dataset } = setup();

    // Act
    const features = await getBottleneckFeatures(tf, objects, SOURCE, extractor, dataset);

    // Assess
    expect(features.cache).toBe('miss');
    expect(features.featureShape).toEqual([8]);
    expect(features.table).toHaveLength(300 * 8);
    const xs = imagesTensor(tf, dataset.pixels, dataset.shape, [0, 299]);
    const direct = (extractor.predict(xs) as Tensor).dataSync();
    expect(Array.from(features.table.subarray(0, 8))).toEqual(Array.from(direct.subarray(0, 8)));
    expect(Array.from(features.table.subarray(299 * 8))).toEqual(Array.from(direct.subarray(8)));
    const prefix = bottleneckPrefix(bottleneckKey(SOURCE));
    expect(objects.writes).toEqual([`${prefix}/features.f32`, `${prefix}/manifest.json`]);
    tf.dispose(xs);
    base.dispose();
  });

  it('reads them back on a hit without running the model', async () => {
    // Prepare
    const objects = new MemoryObjectStore();
    const { base, extractor, dataset } = setup();
    const first = await getBottleneckFeatures(tf, objects, SOURCE, extractor, dataset);
    const predicts = countPredicts(extractor);

    // Act
    const again = await getBottleneckFeatures(tf, objects, SOURCE, extractor, dataset);

    // Assess
    expect(again.cache).toBe('hit');
    expect(predicts.n).toBe(0);
    expect(again.featureShape).toEqual(first.featureShape);
    expect(Array.from(again.table)).toEqual(Array.from(first.table));
    expect(objects.writes).toHaveLength(2);
    base.dispose();
  });

  it('recomputes when the stored features do not match their manifest', async () => {
    // Prepare
    const objects = new MemoryObjectStore();
    const { base, extractor, dataset } = setup();
    await getBottleneckFeatures(tf, objects, SOURCE, extractor, dataset);
    const prefix = bottleneckPrefix(bottleneckKey(SOURCE));
    await objects.put(`${prefix}/features.f32`, new Uint8Array(12));

    // Act
    const features = await getBottleneckFeatures(tf, objects, SOURCE, extractor, dataset);

    // Assess
    expect(features.cache).toBe('miss');
    expect((await objects.get(`${prefix}/features.f32`)).byteLength).toBe(300 * 8 * 4);
    base.dispose();
  });
});
