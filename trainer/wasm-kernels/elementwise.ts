/**
 * Replacements for wasm kernels that a training step calls on every activation and that wasm
 * 4.22 runs slowly. Each handles the case training hits and hands anything else to `fallback`
 * (wasm's own kernel), so behaviour outside that case is unchanged.
 *
 * - `Identity` (and `Cast` to the same dtype): wasm copies the whole tensor; tfjs-core runs it on
 *   every tensor saved for the backward pass (engine.saveTensorsForBackwardMode clones them), and
 *   ReLU's gradient casts its float32 mask to float32. Tensors are immutable, so here the output
 *   shares the input's data (ref-counted, like wasm's Reshape and the cpu backend's Identity).
 * - `Add`, `Sub`, `Multiply`, `RealDiv` of same-shape tensors or with a scalar, and `Add` of a bias
 *   (x [..., C] + b [C]): wasm creates an XNNPACK operator per call (~5-10 µs, more than the work
 *   for the optimizer's small per-variable tensors, ~100 calls a step) and runs bias broadcasts
 *   through a generic loop 3x slower than a same-shape Add; here simd.wat `binary` / `biasAdd`.
 * - `Step` (the ReLU gradient's mask): simd.wat `step`.
 * - `GatherV2` (the training loop's per-step batch): one memory copy per row (simd.wat `gather`).
 * - `Sum` over every axis but the last ([..., C] -> [C], bias gradients): wasm transposes the
 *   input first; here one pass of simd.wat `sumRows`, accumulating in float64 (as the cpu backend
 *   does).
 */
import { backend_util, type KernelFunc, type TensorInfo, util } from '@tensorflow/tfjs';
import type { WasmBackend } from './scope.js';
import { ptr, simdFor } from './simd.js';

function shared(backend: WasmBackend, x: TensorInfo): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

export function makeIdentity(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype === 'string') return fallback(args);
    return shared(args.backend as WasmBackend, x);
  };
}

export function makeCast(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { dtype } = args.attrs as { dtype: string };
    if (x.dtype !== dtype || x.dtype === 'string') return fallback(args);
    return shared(args.backend as WasmBackend, x);
  };
}

/** True when `t` is a bias for `x`: x's last dim long, any leading dims of size 1, rank <= x's. */
function isBias(x: TensorInfo, t: TensorInfo): boolean {
  const c = x.shape[x.shape.length - 1];
  if (t.shape.length === 0 || t.shape.length > x.shape.length) return false;
  if (t.shape[t.shape.length - 1] !== c) return false;
  return t.shape.slice(0, -1).every((d) => d === 1);
}

/** simd.wat `binary` op codes. */
const OP = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3 } as const;
export type BinaryKernel = keyof typeof OP;

/**
 * Add / Sub / Multiply / RealDiv of float32 tensors of the same shape or with a scalar
 * (the optimizer's per-variable updates and the ReLU gradient's mask product), and for Add also
 * x [..., C] + bias [C]; other broadcasts go to `fallback`.
 */
export function makeBinary(kernel: BinaryKernel, fallback: KernelFunc): KernelFunc {
  const op = OP[kernel];
  return (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const backend = args.backend as WasmBackend;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return fallback(args);
    const simd = simdFor(backend);
    if (!simd) return fallback(args);
    const aSize = util.sizeFromShape(a.shape);
    const bSize = util.sizeFromShape(b.shape);
    if (op === OP.Add && aSize !== bSize && aSize > 1 && bSize > 1) {
      const [x, bias] = bSize > aSize ? [b, a] : [a, b];
      if (!isBias(x, bias)) return fallback(args);
      const c = x.shape[x.shape.length - 1];
      const out = backend.makeOutput([...x.shape], 'float32');
      const rows = util.sizeFromShape(x.shape) / c;
      simd.biasAdd(ptr(backend, x), ptr(backend, bias), ptr(backend, out), rows, c);
      return out;
    }
    let mode: number;
    if (util.arraysEqual(a.shape, b.shape)) mode = 0;
    else if (bSize === 1) mode = 1;
    else if (aSize === 1) mode = 2;
    else return fallback(args);
    const shape = backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const n = util.sizeFromShape(shape);
    if (n !== Math.max(aSize, bSize) || n === 0) return fallback(args);
    const out = backend.makeOutput(shape, 'float32');
    simd.binary(op, ptr(backend, a), ptr(backend, b), ptr(backend, out), n, mode);
    return out;
  };
}

/** Step (x > 0 ? 1 : alpha, NaN stays NaN) on float32: the ReLU gradient's mask. */
export function makeStep(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const backend = args.backend as WasmBackend;
    const simd = simdFor(backend);
    const n = util.sizeFromShape(x.shape);
    if (!simd || x.dtype !== 'float32' || n === 0) return fallback(args);
    const { alpha } = args.attrs as { alpha?: number };
    const out = backend.makeOutput([...x.shape], 'float32');
    simd.step(ptr(backend, x), ptr(backend, out), n, alpha ?? 0);
    return out;
  };
}

export function makeSum(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    const backend = args.backend as WasmBackend;
    const rank = x.shape.length;
    if (x.dtype !== 'float32' || rank < 2) return fallback(args);
    const axes = [...new Set(util.parseAxisParam(axis, x.shape))].sort((p, q) => p - q);
    const allButLast = axes.length === rank - 1 && axes.every((ax, i) => ax === i);
    const n = util.sizeFromShape(x.shape);
    if (!allButLast || n === 0) return fallback(args);
    const simd = simdFor(backend);
    if (!simd) return fallback(args);
    const c = x.shape[rank - 1];
    const out = backend.makeOutput(keepDims ? [...axes.map(() => 1), c] : [c], 'float32');
    const acc = backend.makeOutput([2 * c], 'float32'); // c float64 accumulators
    try {
      simd.sumRows(ptr(backend, x), ptr(backend, acc), ptr(backend, out), n / c, c);
    } finally {
      backend.disposeData(acc.dataId);
    }
    return out;
  };
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/**
 * GatherV2 without batch dimensions (a training loop's per-step batch of rows): one memory copy
 * per gathered slice (simd.wat `gather`); wasm's own walks every element through strides, ~2 ms
 * for a batch of 32 32x32x3 images. Out-of-range indices throw like wasm's and cpu's kernels.
 */
export function makeGather(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
    const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
    const backend = args.backend as WasmBackend;
    const simd = simdFor(backend);
    const bytes = BYTES[x.dtype];
    if (!simd || !bytes || indices.dtype !== 'int32' || batchDims !== 0) return fallback(args);
    const parsedAxis = util.parseAxisParam(axis, x.shape)[0];
    const info = backend_util.segment_util.collectGatherOpShapeInfo(x, indices, parsedAxis, 0);
    const idx = backend.typedArrayFromHeap(indices) as Int32Array;
    const n = idx.length; // the view is gone once makeOutput grows the heap
    const dim = x.shape[parsedAxis];
    for (let i = 0; i < n; i++) {
      const index = idx[i];
      util.assert(
        index <= dim - 1 && index >= 0,
        () => `GatherV2: the index value ${index} is not in [0, ${dim - 1}]`,
      );
    }
    const out = backend.makeOutput(info.outputShape, x.dtype);
    if (util.sizeFromShape(info.outputShape) === 0) return out;
    const slice = info.sliceSize * bytes;
    simd.gather(
      ptr(backend, x),
      ptr(backend, indices),
      ptr(backend, out),
      n,
      info.outerSize,
      info.dimSize * slice,
      slice,
    );
    return out;
  };
}
