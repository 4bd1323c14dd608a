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
    if (aSize !== bSize && aSize > 1 && bSize > 1) {
      const vFirst = bSize > aSize;
      const [x, v] = vFirst ? [b, a] : [a, b];
      if (!isBias(x, v)) return fallback(args);
      const c = x.shape[x.shape.length - 1];
      const out = backend.makeOutput([...x.shape], 'float32');
      const rows = util.sizeFromShape(x.shape) / c;
      if (op === OP.Add) {
        simd.biasAdd(ptr(backend, x), ptr(backend, v), ptr(backend, out), rows, c);
      } else {
        const [px, pv, po] = [ptr(backend, x), ptr(backend, v), ptr(backend, out)];
        simd.channelBinary(op, px, pv, po, rows, c, vFirst ? 1 : 0);
      }
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

/**
 * The reductions the SIMD sums cover: over a run of axes that ends just before the last one, so
 * that x is [outer, rows, c] and the result [outer, c] (batch normalisation's moments reduce
 * [0, rank - 1), a global average pool [1, rank - 1)). Undefined for any other axes.
 */
export function channelReduction(
  shape: number[],
  axis: number | number[],
): { outer: number; rows: number; c: number; axes: number[] } | undefined {
  const rank = shape.length;
  if (rank < 2) return undefined;
  const axes = [...new Set(util.parseAxisParam(axis, shape))].sort((p, q) => p - q);
  const first = rank - 1 - axes.length;
  if (!axes.length || !axes.every((ax, i) => ax === first + i)) return undefined;
  const c = shape[rank - 1];
  const outer = util.sizeFromShape(shape.slice(0, first));
  const rows = util.sizeFromShape(shape.slice(first, rank - 1));
  return { outer, rows, c, axes };
}

/**
 * Sum over the axes `channelReduction` covers, per channel in float64 (simd.wat `sumRows`, once
 * per outer index); wasm's own transposes the reduced axes to the end first.
 */
export function makeSum(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    const backend = args.backend as WasmBackend;
    const r = channelReduction(x.shape, axis);
    const simd = simdFor(backend);
    if (x.dtype !== 'float32' || !r || r.outer * r.rows * r.c === 0 || !simd) {
      return fallback(args);
    }
    const shape = keepDims
      ? x.shape.map((d, i) => (r.axes.includes(i) ? 1 : d))
      : x.shape.filter((_, i) => !r.axes.includes(i));
    const out = backend.makeOutput(shape, 'float32');
    const acc = backend.makeOutput([2 * r.c], 'float32'); // c float64 accumulators
    try {
      const block = r.rows * r.c * 4;
      for (let o = 0; o < r.outer; o++) {
        simd.sumRows(
          ptr(backend, x) + o * block,
          ptr(backend, acc),
          ptr(backend, out) + o * r.c * 4,
          r.rows,
          r.c,
        );
      }
    } finally {
      backend.disposeData(acc.dataId);
    }
    return out;
  };
}

/**
 * Mean over the axes `channelReduction` covers (batch normalisation's moments, a global average
 * pool): the Sum above, then one division per output.
 */
export function makeMean(fallback: KernelFunc): KernelFunc {
  const sum = makeSum(fallback);
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { axis } = args.attrs as { axis: number | number[] };
    const r = channelReduction(x.shape, axis);
    if (x.dtype !== 'float32' || !r || r.outer * r.rows * r.c === 0) return fallback(args);
    if (!simdFor(args.backend as WasmBackend)) return fallback(args);
    const out = sum(args) as TensorInfo;
    const data = (args.backend as WasmBackend).typedArrayFromHeap(out) as Float32Array;
    for (let i = 0; i < data.length; i++) data[i] /= r.rows;
    return out;
  };
}

/**
 * Tile of a tensor whose dimensions are all 1 but the last ([1, 1, 1, C] by [B, H, W, 1]: batch
 * normalisation's gradient tiles a per-channel vector to the activation's shape): the output is
 * the input repeated, copied in doubling blocks. wasm's own computes every element's index, ~100
 * ns per element.
 */
export function makeTile(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { reps } = args.attrs as { reps: number[] };
    const backend = args.backend as WasmBackend;
    if ((x.dtype !== 'float32' && x.dtype !== 'int32') || reps.length !== x.shape.length) {
      return fallback(args);
    }
    if (x.shape.length === 0 || !x.shape.slice(0, -1).every((d) => d === 1)) return fallback(args);
    const shape = x.shape.map((d, i) => d * reps[i]);
    const out = backend.makeOutput(shape, x.dtype);
    const n = util.sizeFromShape(shape);
    const len = util.sizeFromShape(x.shape);
    if (n === 0 || len === 0) return out;
    const dst = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
    dst.set(backend.typedArrayFromHeap(x) as Float32Array | Int32Array);
    for (let have = len; have < n; have *= 2) dst.copyWithin(have, 0, Math.min(have, n - have));
    return out;
  };
}

/** simd.wat `compareScalar` op codes; a scalar first flips the comparison. */
const COMPARE = { GreaterEqual: 0, LessEqual: 1, Greater: 2, Less: 3 } as const;
const FLIPPED = [1, 0, 3, 2];
export type CompareKernel = keyof typeof COMPARE;

/**
 * GreaterEqual / LessEqual / Greater / Less of a float32 tensor and a scalar (ReLU6's and
 * clipByValue's gradient masks) in one SIMD pass to bool bytes; wasm's own runs a broadcasting
 * loop. Anything else goes to `fallback`.
 */
export function makeCompare(kernel: CompareKernel, fallback: KernelFunc): KernelFunc {
  const op = COMPARE[kernel];
  return (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const backend = args.backend as WasmBackend;
    const simd = simdFor(backend);
    if (!simd || a.dtype !== 'float32' || b.dtype !== 'float32') return fallback(args);
    const aSize = util.sizeFromShape(a.shape);
    const bSize = util.sizeFromShape(b.shape);
    const scalarB = bSize === 1 && b.shape.length <= a.shape.length;
    const scalarA = !scalarB && aSize === 1 && a.shape.length <= b.shape.length;
    if (!scalarA && !scalarB) return fallback(args);
    const [x, s] = scalarB ? [a, b] : [b, a];
    const shape = backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const n = util.sizeFromShape(shape);
    if (n !== util.sizeFromShape(x.shape) || n === 0) return fallback(args);
    const value = (backend.typedArrayFromHeap(s) as Float32Array)[0];
    const out = backend.makeOutput(shape, 'bool');
    simd.compareScalar(scalarB ? op : FLIPPED[op], ptr(backend, x), value, ptr(backend, out), n);
    return out;
  };
}

/** LogicalAnd of two bool tensors of the same shape (clipByValue's gradient mask). */
export function makeLogicalAnd(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const backend = args.backend as WasmBackend;
    const simd = simdFor(backend);
    if (!simd || a.dtype !== 'bool' || b.dtype !== 'bool') return fallback(args);
    if (!util.arraysEqual(a.shape, b.shape)) return fallback(args);
    const out = backend.makeOutput([...a.shape], 'bool');
    const n = util.sizeFromShape(a.shape);
    if (n > 0) simd.logicalAnd(ptr(backend, a), ptr(backend, b), ptr(backend, out), n);
    return out;
  };
}

/** Select (where) with a bool condition and float32 branches, all of one shape. */
export function makeSelect(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { condition, t, e } = args.inputs as {
      condition: TensorInfo;
      t: TensorInfo;
      e: TensorInfo;
    };
    const backend = args.backend as WasmBackend;
    const simd = simdFor(backend);
    if (!simd || condition.dtype !== 'bool' || t.dtype !== 'float32' || e.dtype !== 'float32') {
      return fallback(args);
    }
    if (!util.arraysEqual(condition.shape, t.shape) || !util.arraysEqual(t.shape, e.shape)) {
      return fallback(args);
    }
    const out = backend.makeOutput([...t.shape], 'float32');
    const n = util.sizeFromShape(t.shape);
    if (n > 0) {
      simd.select(ptr(backend, condition), ptr(backend, t), ptr(backend, e), ptr(backend, out), n);
    }
    return out;
  };
}

/**
 * FusedBatchNorm with per-channel mean, variance, offset and scale ([C], x [..., C]): one SIMD
 * pass, out = (x - mean) * (scale / sqrt(variance + epsilon)) + offset. wasm's own is a scalar loop.
 */
export function makeFusedBatchNorm(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { x, mean, variance, offset, scale } = args.inputs as Record<
      string,
      TensorInfo | undefined
    >;
    const { varianceEpsilon } = args.attrs as { varianceEpsilon: number };
    const backend = args.backend as WasmBackend;
    const simd = simdFor(backend);
    if (!simd || !x || !mean || !variance || x.dtype !== 'float32' || x.shape.length < 1) {
      return fallback(args);
    }
    const c = x.shape[x.shape.length - 1];
    const perChannel = (t: TensorInfo | undefined) =>
      !t || (t.dtype === 'float32' && isBias(x, t) && t.shape[t.shape.length - 1] === c);
    if (![mean, variance, offset, scale].every(perChannel)) return fallback(args);
    const n = util.sizeFromShape(x.shape);
    const out = backend.makeOutput([...x.shape], 'float32');
    const ab = backend.makeOutput([2 * c], 'float32');
    try {
      const f = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
      const coef = f(ab);
      const v = f(variance);
      const sc = scale ? f(scale) : undefined;
      const off = offset ? f(offset) : undefined;
      for (let j = 0; j < c; j++) {
        coef[j] = (sc ? sc[j] : 1) / Math.sqrt(v[j] + varianceEpsilon);
        coef[c + j] = off ? off[j] : 0;
      }
      if (n > 0) {
        const at = ptr(backend, ab);
        simd.channelAffine(
          ptr(backend, x),
          ptr(backend, mean),
          at,
          at + 4 * c,
          ptr(backend, out),
          n / c,
          c,
        );
      }
    } finally {
      backend.disposeData(ab.dataId);
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
