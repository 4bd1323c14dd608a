import { PREPROCESSING } from '../shared/model/preprocessing.js';
import type { Tensor, Tf } from './tf.js';

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
): { xs: Tensor; ys: Tensor } {
  const size = shape[0] * shape[1] * shape[2];
  const x = new Float32Array(indices.length * size);
  const y = new Int32Array(indices.length);
  indices.forEach((idx, row) => {
    const src = pixels.subarray(idx * size, (idx + 1) * size);
    const off = row * size;
    for (let j = 0; j < size; j++) x[off + j] = src[j] * PREPROCESSING.scale + PREPROCESSING.offset;
    y[row] = labels[idx];
  });
  const xs = tf.tensor4d(x, [indices.length, shape[0], shape[1], shape[2]], 'float32');
  const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(y, 'int32'), numClasses).toFloat());
  return { xs, ys };
}
