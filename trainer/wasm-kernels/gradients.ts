/**
 * Gradients of ReLU, clipByValue (ReLU6), batch normalisation, of the Mean and Square of batch
 * normalisation's moments and of a global average pool's Mean, as single wasm kernels.
 *
 * tfjs-core composes these gradients from several kernels, each a full pass over the activation:
 * ReLU's is Step, Cast and Multiply; clipByValue's GreaterEqual, LessEqual, LogicalAnd, ZerosLike
 * and Select; FusedBatchNorm's a dozen (Sub, Tile, Multiply x 7, Sum x 4, ...). On the wasm
 * backend with the 'fast' set these run as one kernel each (simd.wat `reluGrad`, `clipGrad`,
 * and `bnGradSums` plus one per-channel Multiply for batch normalisation).
 *
 * Gradients are registered per kernel name, not per backend (tf.registerGradient replaces the
 * gradient for every backend). So each replacement keeps tfjs-core's own gradient function and
 * calls it unless the active backend is 'wasm' with the 'fast' set and the case is covered: on
 * tfjs-node, the cpu backend, or another set, gradients are exactly tfjs-core's.
 */
import {
  engine,
  type GradConfig,
  getBackend,
  getGradient,
  type KernelFunc,
  type NamedAttrMap,
  registerGradient,
  registerKernel,
  type Tensor,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { channelReduction } from './elementwise.js';
import { BACKEND, type WasmBackend } from './scope.js';
import { ptr, simdFor } from './simd.js';

export const RELU_GRAD = 'FoldsweepReluGrad';
export const CLIP_GRAD = 'FoldsweepClipByValueGrad';
export const BATCH_NORM_GRAD = 'FoldsweepFusedBatchNormGrad';
export const MEAN_GRAD = 'FoldsweepMeanGrad';
export const SQUARE_GRAD = 'FoldsweepSquareGrad';

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

const reluGrad: KernelFunc = ({ inputs, backend }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const b = backend as WasmBackend;
  const out = b.makeOutput([...x.shape], 'float32');
  (simdFor(b) as NonNullable<ReturnType<typeof simdFor>>).reluGrad(
    ptr(b, x),
    ptr(b, dy),
    ptr(b, out),
    size(x.shape),
  );
  return out;
};

const clipGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { clipValueMin, clipValueMax } = attrs as { clipValueMin: number; clipValueMax: number };
  const b = backend as WasmBackend;
  const out = b.makeOutput([...x.shape], 'float32');
  (simdFor(b) as NonNullable<ReturnType<typeof simdFor>>).clipGrad(
    ptr(b, x),
    ptr(b, dy),
    ptr(b, out),
    size(x.shape),
    clipValueMin,
    clipValueMax,
  );
  return out;
};

const squareGrad: KernelFunc = ({ inputs, backend }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const b = backend as WasmBackend;
  const out = b.makeOutput([...x.shape], 'float32');
  (simdFor(b) as NonNullable<ReturnType<typeof simdFor>>).squareGrad(
    ptr(b, x),
    ptr(b, dy),
    ptr(b, out),
    size(x.shape),
  );
  return out;
};

/**
 * The gradient of a Mean over the axes `channelReduction` covers, x [outer, rows, c]: dx = dy
 * [outer, c] / rows in every row, written once (tfjs-core: Fill of ones, Multiply, RealDiv; the
 * same values, dy * 1 / rows in float32).
 */
const meanGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy } = inputs as { dy: TensorInfo };
  const { shape, outer } = attrs as unknown as { shape: number[]; outer: number };
  const b = backend as WasmBackend;
  const c = shape[shape.length - 1];
  const block = size(shape) / outer;
  const rows = block / c;
  const out = b.makeOutput([...shape], 'float32');
  const dst = b.typedArrayFromHeap(out) as Float32Array;
  const src = b.typedArrayFromHeap(dy) as Float32Array;
  for (let o = 0; o < outer; o++) {
    const at = o * block;
    for (let j = 0; j < c; j++) dst[at + j] = Math.fround(src[o * c + j] / rows);
    for (let have = c; have < block; have *= 2) {
      dst.copyWithin(at + have, at, at + Math.min(have, block - have));
    }
  }
  return out;
};

/**
 * [dx, dmean, dvariance, dscale, doffset] of FusedBatchNorm with per-channel mean, variance and
 * scale, as tfjs-core's gradient defines them (mean and variance as independent inputs):
 * inv = 1/sqrt(variance + eps); dx = dy * inv * scale; dmean = -inv * scale * sum(dy);
 * dvariance = -inv^3 / 2 * scale * sum(dy * (x - mean)); dscale = inv * sum(dy * (x - mean));
 * doffset = sum(dy).
 */
const batchNormGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, mean, variance, scale, dy } = inputs as Record<string, TensorInfo>;
  const { varianceEpsilon } = attrs as { varianceEpsilon: number };
  const b = backend as WasmBackend;
  const simd = simdFor(b) as NonNullable<ReturnType<typeof simdFor>>;
  const c = mean.shape[0];
  const rows = size(x.shape) / c;
  const dx = b.makeOutput([...x.shape], 'float32');
  const outs = [0, 1, 2, 3].map(() => b.makeOutput([c], 'float32'));
  const acc = b.makeOutput([4 * c], 'float32'); // 2C float64
  const coef = b.makeOutput([c], 'float32');
  try {
    simd.bnGradSums(ptr(b, x), ptr(b, dy), ptr(b, mean), ptr(b, acc), rows, c);
    const f = (t: TensorInfo) => b.typedArrayFromHeap(t) as Float32Array;
    const sums = new Float64Array(
      (f(acc).buffer as ArrayBuffer).slice(ptr(b, acc), ptr(b, acc) + 16 * c),
    );
    const v = f(variance);
    const s = f(scale);
    const [dMean, dVar, dScale, dOffset] = outs.map(f);
    const k = f(coef);
    for (let j = 0; j < c; j++) {
      const inv = Math.fround(1 / Math.sqrt(Math.fround(v[j] + varianceEpsilon)));
      k[j] = inv * s[j];
      dMean[j] = -inv * s[j] * sums[j];
      dVar[j] = -0.5 * inv * inv * inv * s[j] * sums[c + j];
      dScale[j] = inv * sums[c + j];
      dOffset[j] = sums[j];
    }
    simd.channelBinary(2, ptr(b, dy), ptr(b, coef), ptr(b, dx), rows, c, 0);
  } finally {
    b.disposeData(acc.dataId);
    b.disposeData(coef.dataId);
  }
  return [dx, ...outs];
};

/** True when the fused gradients apply: backend 'wasm' with the SIMD module and the 'fast' set. */
type Enabled = () => boolean;

function override(
  kernelName: string,
  fast: (
    original: GradConfig,
  ) => (dy: Tensor, saved: Tensor[], attrs: NamedAttrMap) => Record<string, () => Tensor> | null,
  enabled: Enabled,
): void {
  const original = getGradient(kernelName);
  if (!original || (original as { foldsweep?: boolean }).foldsweep) return;
  const make = fast(original);
  const config: GradConfig & { foldsweep: boolean } = {
    ...original,
    foldsweep: true,
    gradFunc: (dy, saved, attrs) => {
      const grads = enabled() && !Array.isArray(dy) ? make(dy, saved, attrs) : null;
      return grads ?? original.gradFunc(dy, saved, attrs);
    },
  };
  registerGradient(config);
}

const isF32 = (...ts: (Tensor | undefined)[]) => ts.every((t) => t && t.dtype === 'float32');

let installed = false;

/** Registers the kernels (backend 'wasm') and the gradient overrides, once per process. */
export function installFusedGradients(fastSetActive: () => boolean): void {
  if (installed) return;
  installed = true;
  registerKernel({ kernelName: RELU_GRAD, backendName: BACKEND, kernelFunc: reluGrad });
  registerKernel({ kernelName: CLIP_GRAD, backendName: BACKEND, kernelFunc: clipGrad });
  registerKernel({ kernelName: BATCH_NORM_GRAD, backendName: BACKEND, kernelFunc: batchNormGrad });
  registerKernel({ kernelName: MEAN_GRAD, backendName: BACKEND, kernelFunc: meanGrad });
  registerKernel({ kernelName: SQUARE_GRAD, backendName: BACKEND, kernelFunc: squareGrad });
  const enabled: Enabled = () =>
    getBackend() === BACKEND &&
    fastSetActive() &&
    simdFor(engine().backend as unknown as WasmBackend) !== undefined;
  override(
    'Relu',
    () => (dy, saved) => {
      const [x] = saved;
      if (!isF32(x, dy) || size(x.shape) !== size(dy.shape)) return null;
      return { x: () => engine().runKernel(RELU_GRAD, { x, dy }) as Tensor };
    },
    enabled,
  );
  override(
    'ClipByValue',
    () => (dy, saved, attrs) => {
      const [x] = saved;
      if (!isF32(x, dy) || size(x.shape) !== size(dy.shape)) return null;
      return { x: () => engine().runKernel(CLIP_GRAD, { x, dy }, attrs) as Tensor };
    },
    enabled,
  );
  override(
    'Square',
    () => (dy, saved) => {
      const [x] = saved;
      if (!isF32(x, dy) || size(x.shape) !== size(dy.shape)) return null;
      return { x: () => engine().runKernel(SQUARE_GRAD, { x, dy }) as Tensor };
    },
    enabled,
  );
  override(
    'Mean',
    () => (dy, saved, attrs) => {
      const [x] = saved;
      const { axis } = attrs as unknown as { axis: number | number[] };
      const r = channelReduction(x.shape, axis);
      if (!isF32(x, dy) || !r || size(dy.shape) !== r.outer * r.c || x.size === 0) return null;
      return {
        x: () =>
          engine().runKernel(MEAN_GRAD, { dy }, {
            shape: x.shape,
            outer: r.outer,
          } as unknown as NamedAttrMap) as Tensor,
      };
    },
    enabled,
  );
  override(
    'FusedBatchNorm',
    () => (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved;
      if (!isF32(x, dy, mean, variance, scale) || x.rank < 2) return null;
      const c = x.shape[x.rank - 1];
      const perChannel = [mean, variance, scale].every((t) => t.rank === 1 && t.shape[0] === c);
      if (!perChannel || size(dy.shape) !== size(x.shape)) return null;
      // Computed now, not in the input functions: the tape runs each of those in its own tidy,
      // which would free the outputs another input still needs.
      const outs = engine().runKernel(
        BATCH_NORM_GRAD,
        { x, mean, variance, scale, dy },
        attrs,
      ) as unknown as Tensor[];
      const all = () => outs;
      return {
        x: () => all()[0],
        mean: () => all()[1],
        variance: () => all()[2],
        scale: () => all()[3],
        offset: () => all()[4],
      };
    },
    enabled,
  );
}
