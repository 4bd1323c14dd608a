import { toTensors } from '../../trainer/data.js';
import type { LayersModel, Tf } from '../../trainer/tf.js';

/**
 * A tiny CNN in the shape of the example's base model: conv, pool, conv, GAP, dense, softmax.
 * Input [batch, 8, 8, 1]; output [batch, numClasses]. Base layers (below the head): 5.
 */
export function tinyCnn(tf: Tf, numClasses = 3): LayersModel {
  const model = tf.sequential({ name: 'tiny_cnn' });
  model.add(
    tf.layers.conv2d({
      inputShape: [8, 8, 1],
      filters: 4,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'conv1',
    }),
  );
  model.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }));
  model.add(
    tf.layers.conv2d({
      filters: 8,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'conv2',
    }),
  );
  model.add(tf.layers.globalAveragePooling2d({ name: 'gap' }));
  model.add(tf.layers.dense({ units: 8, activation: 'relu', name: 'fc1' }));
  model.add(tf.layers.dense({ units: numClasses, activation: 'softmax', name: 'predictions' }));
  return model;
}

/**
 * Synthetic, learnable images: class c has a bright c-th horizontal band (plus noise), so a
 * small CNN separates them within a few epochs. Returns uint8 pixels [n, 8, 8, 1] and labels.
 */
export function bandImages(n: number, numClasses: number, seed = 1) {
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const pixels = new Uint8Array(n * 64);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % numClasses;
    labels[i] = c;
    const band = Math.floor((c * 8) / numClasses);
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        const on = y >= band && y < band + Math.max(1, Math.floor(8 / numClasses));
        pixels[i * 64 + y * 8 + x] = Math.min(255, (on ? 200 : 20) + Math.floor(rand() * 40));
      }
    }
  }
  return { pixels, labels };
}

/**
 * tinyCnn with a BatchNormalization layer after conv1: conv1, bn1, pool1, conv2, gap, fc1 and a
 * softmax head. Base layers (below the head): 6. The BN's moving statistics start away from
 * (0, 1) so that inference and batch normalisation give visibly different outputs.
 */
export function tinyBnCnn(tf: Tf, numClasses = 3): LayersModel {
  const model = tf.sequential({ name: 'tiny_bn_cnn' });
  model.add(
    tf.layers.conv2d({
      inputShape: [8, 8, 1],
      filters: 4,
      kernelSize: 3,
      padding: 'same',
      name: 'conv1',
    }),
  );
  model.add(
    tf.layers.batchNormalization({
      name: 'bn1',
      movingMeanInitializer: tf.initializers.constant({ value: 0.3 }),
      movingVarianceInitializer: tf.initializers.constant({ value: 2 }),
    }),
  );
  model.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }));
  model.add(
    tf.layers.conv2d({
      filters: 8,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'conv2',
    }),
  );
  model.add(tf.layers.globalAveragePooling2d({ name: 'gap' }));
  model.add(tf.layers.dense({ units: 8, activation: 'relu', name: 'fc1' }));
  model.add(tf.layers.dense({ units: numClasses, activation: 'softmax', name: 'predictions' }));
  return model;
}

/**
 * `n` band images as training tensors (2 of every 3 samples) and validation tensors (the third),
 * 3 classes, one-hot labels: the data of the training-loop tests.
 */
export function bandSplits(tf: Tf, n: number) {
  const { pixels, labels } = bandImages(n, 3);
  const idx = Array.from({ length: n }, (_, i) => i);
  const take = (keep: (i: number) => boolean) =>
    toTensors(tf, pixels, labels, [8, 8, 1], 3, idx.filter(keep));
  const train = take((i) => i % 3 !== 0);
  const val = take((i) => i % 3 === 0);
  return { xTrain: train.xs, yTrain: train.ys, xVal: val.xs, yVal: val.ys };
}
