import { PREPROCESSING } from '../shared/model/preprocessing.js';
import type { Preprocessing } from '../shared/schemas/preprocessing.js';
import type { Tensor, Tf } from './tf.js';

/** The part of a dataset's preprocessing record applied at training time: x = p * scale + offset. */
export type PixelScaling = Pick<Preprocessing, 'scale' | 'offset'>;

/**
 * Gathers images of a prepared dataset into one tensor, preprocessed as the dataset's record
 * says (`preprocessingOf(dataset)`; the default is what every record says today: pixel / 255).
 * @returns [n, H, W, C] float32 in [0, 1]
 */
export function imagesTensor(
  tf: Tf,
  pixels: Uint8Array,
  shape: readonly [number, number, number],
  indices: readonly number[],
  scaling: PixelScaling = PREPROCESSING,
): Tensor {
  const { scale, offset } = scaling;
  const size = shape[0] * shape[1] * shape[2];
  const x = new Float32Array(indices.length * size);
  indices.forEach((idx, row) => {
    const src = pixels.subarray(idx * size, (idx + 1) * size);
    const off = row * size;
    for (let j = 0; j < size; j++) x[off + j] = src[j] * scale + offset;
  });
  return tf.tensor4d(x, [indices.length, shape[0], shape[1], shape[2]], 'float32');
}

/** @returns [n, numClasses] one-hot float32 of the labels at `indices`. */
export function oneHotTensor(
  tf: Tf,
  labels: Uint8Array,
  numClasses: number,
  indices: readonly number[],
): Tensor {
  const y = Int32Array.from(indices, (idx) => labels[idx]);
  return tf.tidy(() => tf.oneHot(tf.tensor1d(y, 'int32'), numClasses).toFloat());
}

/**
 * Gathers samples of a prepared dataset into tensors.
 * @returns xs: [n, H, W, C] float32 in [0, 1]; ys: [n, numClasses] one-hot float32.
 */
export function toTensors(
  tf: Tf,
  pixels: Uint8Array,
  labels: Uint8Array,
  shape: readonly [number, number, number],
  numClasses: number,
  indices: readonly number[],
  scaling: PixelScaling = PREPROCESSING,
): { xs: Tensor; ys: Tensor } {
  return {
    xs: imagesTensor(tf, pixels, shape, indices, scaling),
    ys: oneHotTensor(tf, labels, numClasses, indices),
  };
}

/**
 * Gathers rows of a row-major float32 table (e.g. bottleneck features, one row per sample).
 * @returns [n, ...rowShape] float32
 */
export function rowsTensor(
  tf: Tf,
  table: Float32Array,
  rowShape: readonly number[],
  indices: readonly number[],
): Tensor {
  const size = rowShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(indices.length * size);
  indices.forEach((idx, row) => {
    out.set(table.subarray(idx * size, (idx + 1) * size), row * size);
  });
  return tf.tensor(out, [indices.length, ...rowShape], 'float32');
}
