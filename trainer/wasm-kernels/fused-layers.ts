/**
 * Convolution / dense layers with bias and ReLU as one kernel while training (wasm, 'fast' set).
 *
 * tfjs-layers' Conv2D and Dense call tf.fused.conv2d / tf.fused.matMul with the layer's bias and
 * activation 'relu', but under the gradient tape tfjs-core runs them unfused (its fused ops only
 * have a gradient for 'linear'): Conv2D (or a reshape, BatchMatMul, reshape), Add of the bias,
 * Relu: three or five kernel calls and tape entries, two extra passes over the activation, and in
 * the backward Relu's gradient, the Add's (a Sum for the bias) and the product's.
 *
 * Here, on backend 'wasm' with the 'fast' set and under the tape, tf.fused.conv2d / matMul with a
 * bias and 'relu' run one kernel, FoldsweepConv2DBiasRelu / FoldsweepMatMulBiasRelu (the 'fast'
 * FusedConv2D / BatchMatMul, then bias and ReLU in place), with one gradient: dy masked by
 * y > 0 (FoldsweepReluGrad; y > 0 exactly where the pre-activation is), then the same kernels
 * tfjs-core's Conv2D / BatchMatMul and Add gradients call on it (Conv2DBackpropInput /
 * Conv2DBackpropFilter or the two products, Sum over all but the channels for the bias). The
 * same float32 operations in the same order as the unfused path: bit-identical.
 *
 * Everything else (other activations, no bias, other backends or sets, inference, shapes the
 * kernels do not take: output channels not a multiple of 8, dilations, NCHW, transposes) goes to
 * tfjs-core's own op. The exported model is untouched: this only changes how the ops run.
 */
import {
  engine,
  fused,
  getKernel,
  type KernelFunc,
  type NamedAttrMap,
  matMul as product,
  registerGradient,
  registerKernel,
  sum,
  Tensor,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { RELU_GRAD } from './gradients.js';
import { BACKEND, type WasmBackend } from './scope.js';
import { ptr, simdFor } from './simd.js';

export const CONV_BIAS_RELU = 'FoldsweepConv2DBiasRelu';
export const MATMUL_BIAS_RELU = 'FoldsweepMatMulBiasRelu';
export const RELU_GRAD_SUM = 'FoldsweepReluGradSum';

type FusedConv2DArgs = Parameters<typeof fused.conv2d>[0];
type FusedMatMulArgs = Parameters<typeof fused.matMul>[0];

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Calls the kernel registered for wasm under `name` now (the 'fast' one when that set is on). */
function wasmKernel(name: string): KernelFunc {
  const config = getKernel(name, BACKEND);
  if (!config) throw new Error(`wasm-kernels: backend 'wasm' has no '${name}'`);
  return config.kernelFunc;
}

/** y = relu(conv(x, filter) + bias): the 'fast' FusedConv2D (bias and ReLU in place). */
const convBiasRelu: KernelFunc = (args) =>
  wasmKernel('FusedConv2D')({ ...args, attrs: { ...args.attrs, activation: 'relu' } });

/** y = relu(a [M, K] x b [K, N] + bias [N]): the 'fast' BatchMatMul, then bias and ReLU in place. */
const matMulBiasRelu: KernelFunc = (args) => {
  const { a, b, bias } = args.inputs as { a: TensorInfo; b: TensorInfo; bias: TensorInfo };
  const backend = args.backend as WasmBackend;
  const [rows, n] = [a.shape[0], b.shape[1]];
  // As tfjs-core's matMul calls it: [1, M, K] x [1, K, N].
  const view = (t: TensorInfo): TensorInfo => ({ ...t, shape: [1, ...t.shape] });
  const y = wasmKernel('BatchMatMul')({
    inputs: { a: view(a), b: view(b) },
    backend,
    attrs: { transposeA: false, transposeB: false },
  }) as TensorInfo;
  const simd = simdFor(backend) as NonNullable<ReturnType<typeof simdFor>>;
  simd.biasRelu(ptr(backend, y), ptr(backend, bias), ptr(backend, y), rows, n);
  return { ...y, shape: [rows, n] };
};

/**
 * [d, sums]: d = dy x (x > 0) (FoldsweepReluGrad) and sums [C] its sum over all but the last axis
 * (the Sum kernel's float64 sum, row after row) in one pass (simd.wat `reluGradSum`, C % 8 == 0).
 */
const reluGradSum: KernelFunc = ({ inputs, backend }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const b = backend as WasmBackend;
  const c = x.shape[x.shape.length - 1] as number;
  const d = b.makeOutput([...x.shape], 'float32');
  const sums = b.makeOutput([c], 'float32');
  (simdFor(b) as NonNullable<ReturnType<typeof simdFor>>).reluGradSum(
    ptr(b, x),
    ptr(b, dy),
    ptr(b, d),
    ptr(b, sums),
    size(x.shape) / c,
    c,
  );
  return [d, sums];
};

/**
 * The gradient at the pre-activation, dy x (y > 0) (ReLU's gradient, on its output: y > 0 exactly
 * where the pre-activation is), and the bias gradient, its sum down to the channels.
 */
const masked = (dy: Tensor, y: Tensor): [Tensor, Tensor] => {
  const c = y.shape[y.rank - 1] as number;
  if (size(y.shape) === size(dy.shape) && c % 8 === 0 && size(y.shape) > 0) {
    return engine().runKernel(RELU_GRAD_SUM, { x: y, dy }) as unknown as [Tensor, Tensor];
  }
  const d = engine().runKernel(RELU_GRAD, { x: y, dy }) as Tensor;
  return [d, sum(d, [...Array(y.rank - 1).keys()])];
};

const isF32 = (...ts: unknown[]) => ts.every((t) => t instanceof Tensor && t.dtype === 'float32');

const underTape = () => (engine().state as { gradientDepth: number }).gradientDepth > 0;

const ones = (v: unknown) => v == null || v === 1 || (Array.isArray(v) && v.every((d) => d === 1));

let installed = false;
let on = true;

/** Turns the routing on or off (default on): the unfused path, for A/B measurements and tests. */
export function setFusedLayers(value: boolean): void {
  on = value;
}

/**
 * Registers the two kernels (backend 'wasm') and their gradients and routes tf.fused.conv2d /
 * tf.fused.matMul through them when `enabled()` (backend 'wasm', 'fast' set, SIMD module); once
 * per process.
 */
export function installFusedLayers(enabled: () => boolean): void {
  if (installed) return;
  installed = true;
  registerKernel({ kernelName: CONV_BIAS_RELU, backendName: BACKEND, kernelFunc: convBiasRelu });
  registerKernel({
    kernelName: MATMUL_BIAS_RELU,
    backendName: BACKEND,
    kernelFunc: matMulBiasRelu,
  });
  registerKernel({ kernelName: RELU_GRAD_SUM, backendName: BACKEND, kernelFunc: reluGradSum });

  registerGradient({
    kernelName: CONV_BIAS_RELU,
    inputsToSave: ['x', 'filter'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter, y] = saved;
      const { strides, pad, dimRoundingMode } = attrs as unknown as Record<string, unknown>;
      // Computed now, not in the input functions: the tape runs each of those in its own tidy.
      const [d, dBias] = masked(dy as Tensor, y);
      const conv = { strides, pad, dataFormat: 'NHWC', dimRoundingMode };
      return {
        x: () =>
          engine().runKernel('Conv2DBackpropInput', { dy: d, filter }, {
            ...conv,
            inputShape: x.shape,
          } as unknown as NamedAttrMap) as Tensor,
        filter: () =>
          engine().runKernel('Conv2DBackpropFilter', { x, dy: d }, {
            ...conv,
            filterShape: filter.shape,
          } as unknown as NamedAttrMap) as Tensor,
        bias: () => dBias,
      };
    },
  });
  registerGradient({
    kernelName: MATMUL_BIAS_RELU,
    inputsToSave: ['a', 'b'],
    outputsToSave: [true],
    gradFunc: (dy, saved) => {
      const [a, b, y] = saved;
      const [d, dBias] = masked(dy as Tensor, y);
      // tfjs-core's BatchMatMul gradient (on [1, M, N] views; tf.matMul adds them).
      return {
        a: () => product(d, b, false, true),
        b: () => product(a, d, true, false),
        bias: () => dBias,
      };
    },
  });

  const fusedOps = fused as { conv2d: typeof fused.conv2d; matMul: typeof fused.matMul };
  const conv2d = fusedOps.conv2d;
  const matMul = fusedOps.matMul;

  fusedOps.conv2d = ((args: FusedConv2DArgs) => {
    const { x, filter, bias, activation, preluActivationWeights, dataFormat, dilations } = args;
    if (
      activation === 'relu' &&
      bias != null &&
      preluActivationWeights == null &&
      (dataFormat == null || dataFormat === 'NHWC') &&
      ones(dilations) &&
      underTape() &&
      isF32(x, filter, bias) &&
      (x as Tensor).rank === 4 &&
      (filter as Tensor).rank === 4 &&
      ((filter as Tensor).shape[3] ?? 1) % 8 === 0 &&
      size((bias as Tensor).shape) === (filter as Tensor).shape[3] &&
      (bias as Tensor).rank === 1 &&
      on &&
      enabled()
    ) {
      return engine().runKernel(
        CONV_BIAS_RELU,
        { x, filter, bias } as never,
        {
          strides: args.strides,
          pad: args.pad,
          dataFormat: 'NHWC',
          dilations: [1, 1],
          dimRoundingMode: args.dimRoundingMode,
          activation: 'relu',
        } as unknown as NamedAttrMap,
      ) as never;
    }
    return conv2d(args);
  }) as typeof fused.conv2d;

  fusedOps.matMul = ((args: FusedMatMulArgs) => {
    const { a, b, bias, activation, preluActivationWeights, transposeA, transposeB } = args;
    if (
      activation === 'relu' &&
      bias != null &&
      preluActivationWeights == null &&
      !transposeA &&
      !transposeB &&
      underTape() &&
      isF32(a, b, bias) &&
      (a as Tensor).rank === 2 &&
      (b as Tensor).rank === 2 &&
      ((b as Tensor).shape[1] ?? 1) % 8 === 0 &&
      (bias as Tensor).rank === 1 &&
      (bias as Tensor).shape[0] === (b as Tensor).shape[1] &&
      size((a as Tensor).shape) > 0 &&
      on &&
      enabled()
    ) {
      return engine().runKernel(MATMUL_BIAS_RELU, { a, b, bias } as never) as never;
    }
    return matMul(args);
  }) as typeof fused.matMul;
}
