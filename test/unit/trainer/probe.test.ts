import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../trainer/backend.js';
import { linearProbe } from '../../../trainer/probe.js';
import type { Tf } from '../../../trainer/tf.js';
import { bandImages, tinyCnn } from '../../helpers/tiny-model.js';

let tf: Tf;
beforeAll(async () => {
  tf = (await selectBackend({ prefer: 'wasm' })).tf;
});

const SHAPE = [8, 8, 1] as const;

describe('linearProbe', () => {
  it('scores separable classes far above chance and shuffled labels near it, at each cut', async () => {
    const { pixels, labels } = bandImages(240, 3);
    // The same images with labels that carry no information about them.
    const shuffled = Uint8Array.from(labels, (_, i) => (i * 7 + Math.floor(i / 3)) % 3);
    const base = tinyCnn(tf, 3);
    const before = tf.memory().numTensors;
    try {
      const options = { cutLayers: ['pool1', 'fc1'], perClass: 60, seed: 3 };
      const real = await linearProbe(
        tf,
        base,
        { pixels, labels, shape: SHAPE, numClasses: 3 },
        options,
      );
      const noise = await linearProbe(
        tf,
        base,
        { pixels, labels: shuffled, shape: SHAPE, numClasses: 3 },
        options,
      );
      expect(real.map((p) => p.cutLayer)).toEqual(['pool1', 'fc1']);
      const pool1 = real[0];
      expect(pool1.chance).toBeCloseTo(1 / 3);
      expect(pool1.trainSamples + pool1.valSamples).toBe(180);
      expect(pool1.valSamples).toBe(60);
      // pool1 of the tiny CNN: 4x4x4 features.
      expect(pool1.featureDim).toBe(64);
      expect(pool1.accuracy).toBeGreaterThan(0.9);
      expect(noise[0].accuracy).toBeLessThan(0.6);
      // Nothing of the probe stays behind.
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      base.dispose();
    }
  });

  it('is repeatable for one seed', async () => {
    const { pixels, labels } = bandImages(90, 3);
    const base = tinyCnn(tf, 3);
    try {
      const run = () =>
        linearProbe(
          tf,
          base,
          { pixels, labels, shape: SHAPE, numClasses: 3 },
          {
            cutLayers: ['gap'],
            perClass: 20,
            seed: 5,
            epochs: 5,
          },
        );
      const [a, b] = [await run(), await run()];
      expect(a[0].accuracy).toBe(b[0].accuracy);
    } finally {
      base.dispose();
    }
  });

  it('refuses a class with fewer than 2 images, naming it', async () => {
    const { pixels } = bandImages(7, 3);
    const labels = Uint8Array.from([0, 0, 0, 1, 1, 1, 2]);
    const base = tinyCnn(tf, 3);
    try {
      await expect(
        linearProbe(
          tf,
          base,
          { pixels, labels, shape: SHAPE, numClasses: 3 },
          {
            cutLayers: ['gap'],
          },
        ),
      ).rejects.toThrow(/class 2 has 1 image/);
    } finally {
      base.dispose();
    }
  });
});
