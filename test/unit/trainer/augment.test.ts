import { beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../shared/random.js';
import type { Augmentation } from '../../../shared/schemas/sweep-spec.js';
import { augmentBatch, drawTransform, inverseMatrix } from '../../../trainer/augment.js';
import { selectBackend } from '../../../trainer/backend.js';
import type { Tensor, Tf } from '../../../trainer/tf.js';

let tf: Tf;
beforeAll(async () => {
  tf = (await selectBackend({ prefer: 'wasm' })).tf;
});

const OFF: Augmentation = {
  flip: false,
  rotationDegrees: 0,
  translateFraction: 0,
  zoomFraction: 0,
};

/** A batch of 5x5x1 images, each black with one white pixel at (x, y). */
function dots(points: [number, number][]): Tensor {
  const data = new Float32Array(points.length * 25);
  points.forEach(([x, y], i) => {
    data[i * 25 + y * 5 + x] = 1;
  });
  return tf.tensor4d(data, [points.length, 5, 5, 1]);
}

/** [x, y] of the brightest pixel of each image of a [b, 5, 5, 1] batch. */
function brightest(images: Tensor): [number, number][] {
  const flat = images.reshape([images.shape[0], 25]).argMax(-1).arraySync() as number[];
  return flat.map((i) => [i % 5, Math.floor(i / 5)]);
}

/** Transforms one image with a fixed transform. */
function apply(image: Tensor, t: Parameters<typeof inverseMatrix>[0]): Tensor {
  return tf.image.transform(
    image as import('@tensorflow/tfjs').Tensor4D,
    tf.tensor2d([inverseMatrix(t, 5, 5)], [1, 8]),
    'bilinear',
    'constant',
  );
}

describe('inverseMatrix()', () => {
  it('mirrors left-right like tf.image.flipLeftRight', () => {
    // Prepare
    const image = tf.randomUniform([1, 5, 5, 1], 0, 1, 'float32', 4);

    // Act
    const flipped = apply(image, { flip: true, radians: 0, zoom: 1, dx: 0, dy: 0 });

    // Assess
    const expected = tf.image.flipLeftRight(image as import('@tensorflow/tfjs').Tensor4D);
    expect(Array.from(flipped.dataSync())).toEqual(Array.from(expected.dataSync()));
  });

  it('shifts the content by (dx, dy) pixels', () => {
    // Prepare
    const image = dots([[1, 1]]);

    // Act
    const moved = apply(image, { flip: false, radians: 0, zoom: 1, dx: 2, dy: 1 });

    // Assess
    expect(brightest(moved)).toEqual([[3, 2]]);
  });

  it('rotates a quarter turn about the centre', () => {
    // Prepare: a dot right of the centre (2, 2).
    const image = dots([[4, 2]]);

    // Act
    const turned = apply(image, { flip: false, radians: Math.PI / 2, zoom: 1, dx: 0, dy: 0 });

    // Assess: x right, y down: a positive angle turns right to down.
    expect(brightest(turned)).toEqual([[2, 4]]);
  });

  it('zooms about the centre', () => {
    // Prepare
    const image = dots([[3, 2]]);

    // Act
    const zoomed = apply(image, { flip: false, radians: 0, zoom: 2, dx: 0, dy: 0 });

    // Assess: one pixel right of the centre lands two pixels right of it.
    expect(brightest(zoomed)).toEqual([[4, 2]]);
  });
});

describe('drawTransform()', () => {
  it('stays within the ranges it is given', () => {
    // Prepare
    const settings = { flip: true, rotationDegrees: 15, translateFraction: 0.1, zoomFraction: 0.2 };
    const random = mulberry32(1);

    // Act
    const draws = Array.from({ length: 500 }, () => drawTransform(settings, 20, 10, random));

    // Assess
    for (const t of draws) {
      expect(Math.abs(t.radians)).toBeLessThanOrEqual((15 * Math.PI) / 180);
      expect(Math.abs(t.dx)).toBeLessThanOrEqual(2);
      expect(Math.abs(t.dy)).toBeLessThanOrEqual(1);
      expect(t.zoom).toBeGreaterThanOrEqual(0.8);
      expect(t.zoom).toBeLessThanOrEqual(1.2);
    }
    const flips = draws.filter((t) => t.flip).length;
    expect(flips).toBeGreaterThan(200);
    expect(flips).toBeLessThan(300);
  });

  it('draws the identity when every transform is off', () => {
    // Prepare
    const random = mulberry32(2);

    // Act
    const t = drawTransform(OFF, 28, 28, random);

    // Assess
    expect(t).toEqual({ flip: false, radians: 0, zoom: 1, dx: 0, dy: 0 });
  });
});

describe('augmentBatch()', () => {
  it('leaves images unchanged when every transform is off', () => {
    // Prepare
    const images = tf.randomUniform([3, 6, 6, 1], 0, 1, 'float32', 5);

    // Act
    const out = augmentBatch(tf, images, OFF, mulberry32(1));

    // Assess
    expect(out.shape).toEqual([3, 6, 6, 1]);
    const diff = tf.abs(out.sub(images)).max().dataSync()[0];
    expect(diff).toBeLessThan(1e-5);
  });

  it('gives each image its own transform, the same again for the same seed', () => {
    // Prepare
    const settings = { flip: true, rotationDegrees: 20, translateFraction: 0.2, zoomFraction: 0.1 };
    const image = tf.randomUniform([1, 8, 8, 3], 0, 1, 'float32', 6);
    const batch = tf.concat([image, image, image, image]);

    // Act
    const a = augmentBatch(tf, batch, settings, mulberry32(7));
    const again = augmentBatch(tf, batch, settings, mulberry32(7));
    const other = augmentBatch(tf, batch, settings, mulberry32(8));

    // Assess
    expect(Array.from(again.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(Array.from(other.dataSync())).not.toEqual(Array.from(a.dataSync()));
    const [first, second] = tf.split(a, 4);
    expect(Array.from(first.dataSync())).not.toEqual(Array.from(second.dataSync()));
    const range = [a.min().dataSync()[0], a.max().dataSync()[0]];
    expect(range[0]).toBeGreaterThanOrEqual(0);
    expect(range[1]).toBeLessThanOrEqual(1);
  });

  it('keeps the tensor count flat', () => {
    // Prepare
    const images = tf.randomUniform([4, 8, 8, 1]);
    const random = mulberry32(3);
    const settings = { flip: true, rotationDegrees: 10, translateFraction: 0.1, zoomFraction: 0 };
    augmentBatch(tf, images, settings, random).dispose();
    const before = tf.memory().numTensors;

    // Act
    for (let i = 0; i < 5; i++) augmentBatch(tf, images, settings, random).dispose();

    // Assess
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
  });
});
