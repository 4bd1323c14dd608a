/**
 * BatchMatMul for the wasm backend's dense layers, on simd.wat `convForward`.
 *
 * wasm's own BatchMatMul (XNNPACK) creates an operator and packs the right-hand matrix on every
 * call: at a small network's dense sizes that costs more than the product ([32, 64] x [64, 64]
 * took 0.13 ms forward and ~0.24 ms for each of the two backward products, with transposes).
 * A product a [M, K] x b [K, N] is a 1x1 convolution of one row of M positions with K channels by
 * the filter [1, 1, K, N], which `convForward` computes in registers without packing.
 */
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { heapF32, type WasmBackend } from './scope.js';
import { ptr, simdFor } from './simd.js';

/** dst [cols, rows] = src [rows, cols] transposed. */
function transposeInto(src: Float32Array, dst: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
  }
}

/**
 * BatchMatMul of float32 matrices (leading dimensions all 1) whose product has a multiple of 8
 * columns (`convForward`'s tiles); transposed operands are copied transposed first (the backward
 * products dy x Wᵀ and xᵀ x dy). Anything else goes to `fallback` (wasm's own).
 */
export function makeBatchMatMul(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const backend = args.backend as WasmBackend;
    const simd = simdFor(backend);
    const ra = a.shape.length;
    const rb = b.shape.length;
    if (!simd || a.dtype !== 'float32' || b.dtype !== 'float32' || ra < 2 || rb < 2) {
      return fallback(args);
    }
    const lead = (shape: number[]) => shape.slice(0, -2);
    if (![...lead(a.shape), ...lead(b.shape)].every((d) => d === 1)) return fallback(args);
    const [m, k] = transposeA
      ? [a.shape[ra - 1], a.shape[ra - 2]]
      : [a.shape[ra - 2], a.shape[ra - 1]];
    const [kb, n] = transposeB
      ? [b.shape[rb - 1], b.shape[rb - 2]]
      : [b.shape[rb - 2], b.shape[rb - 1]];
    if (k !== kb || n % 8 !== 0 || m * k * n === 0) return fallback(args);
    const out = backend.makeOutput([...lead(ra >= rb ? a.shape : b.shape), m, n], 'float32');
    const copyA = transposeA ? backend.makeOutput([m * k], 'float32') : null;
    const copyB = transposeB ? backend.makeOutput([k * n], 'float32') : null;
    try {
      if (copyA) transposeInto(heapF32(backend, a), heapF32(backend, copyA), k, m);
      if (copyB) transposeInto(heapF32(backend, b), heapF32(backend, copyB), n, k);
      simd.convForward(
        ptr(backend, copyA ?? a),
        ptr(backend, copyB ?? b),
        ptr(backend, out),
        1,
        1,
        m,
        k,
        1,
        m,
        n,
        1,
        1,
        1,
        1,
      );
    } finally {
      if (copyA) backend.disposeData(copyA.dataId);
      if (copyB) backend.disposeData(copyB.dataId);
    }
    return out;
  };
}
