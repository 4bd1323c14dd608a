/**
 * Kernels for @tensorflow/tfjs-backend-wasm 4.22 that make training on it fast, registered with
 * `tf.registerKernel` for backend 'wasm' only (tfjs-node and the cpu backend are untouched).
 *
 * Three sets, chosen by `registerWasmGradientKernels({ set })` or the environment variable
 * FOLDSWEEP_WASM_KERNELS (default 'fast'):
 *
 * - 'minimal': only the gradients wasm lacks (Conv2DBackpropFilter,
 *   DepthwiseConv2dNativeBackpropFilter, DepthwiseConv2dNativeBackpropInput), composed from wasm's
 *   own kernels (./wasm-kernels/conv.ts); everything else is wasm's.
 * - 'baseline': 'minimal' plus Conv2DBackpropInput on wasm's XNNPACK Conv2D (the built-in one is a
 *   plain loop). This was the trainer's set before the 'fast' one; kept to measure against.
 * - 'fast': 'baseline' with the step's largest costs replaced (profile in
 *   docs/benchmarks/cpu-vs-pytorch.md):
 *   - Conv2DBackpropFilter computed straight from the padded input by a SIMD loop, no im2col and
 *     no transposes (./wasm-kernels/simd.wat `convFilterGrad`);
 *   - Conv2D, and Conv2DBackpropInput with stride 1 (a convolution of the padded dy with the
 *     rotated filter), by the SIMD loop `convForward`: as fast as XNNPACK's convolution per FLOP
 *     here, without creating an XNNPACK operator (packing the filter, building an indirection
 *     buffer) for each new filter, i.e. every training step;
 *   - Conv2DBackpropInput with strides > 1 by col2im around one matrix product;
 *   - MaxPoolGrad in one SIMD pass over the windows (wasm's re-scans every window per input), and
 *     MaxPool with 2x2 windows, stride 2 (2-3x faster than XNNPACK's on a CNN's sizes);
 *   - Identity / same-dtype Cast share their input's data instead of copying it (tfjs-core clones
 *     every tensor it saves for the backward pass);
 *   - Add of a bias and Sum down to the channels (bias gradients) as SIMD loops; wasm's own run a
 *     generic broadcasting loop and a transpose respectively; Sum and Mean also per image over its
 *     spatial axes (global average pooling) and its Mean's gradient as one kernel;
 *   - Add / Sub / Multiply / RealDiv (same shape or with a scalar) and Step as SIMD loops: wasm
 *     creates an XNNPACK operator per call, which costs more than the work on the optimizer's
 *     small per-variable tensors (~100 such calls a step), and ReLU's gradient is Step x dy;
 *   - GatherV2 (each step's batch of images) as one memory copy per row instead of a strided
 *     element loop (~2 ms for 32 images of 32x32x3).
 *   - BatchMatMul (dense layers) with a multiple of 8 output columns on the convolution loop
 *     (./wasm-kernels/matmul.ts): XNNPACK packs the weights in every call;
 *   - Adam's update of a variable as one kernel instead of ~13 (./wasm-kernels/adam.ts; the
 *     trainer's loop calls its `applyGradients`), bit-identical to tf.train.adam.
 *   - Conv2D / Dense layers with a bias and ReLU, while training, as one kernel with one gradient
 *     (./wasm-kernels/fused-layers.ts: tf.fused.conv2d / matMul under the tape, which tfjs-core
 *     runs unfused), the backward's ReLU mask and bias sum in one pass; bit-identical.
 *   The convolution loops use fused multiply-adds (relaxed SIMD) where the engine validates them
 *   (Node 20: `--experimental-wasm-relaxed-simd`, passed by the local pool), else plain SIMD
 *   (./wasm-kernels/simd.ts).
 *   Each 'fast' kernel hands whatever it does not cover to wasm's (or the composed) kernel, and
 *   the SIMD module needs a non-shared wasm memory (Node: threads off); otherwise they fall back.
 *
 * Every replacement is checked against the cpu backend in test/unit/trainer/wasm-kernels.test.ts.
 */
import {
  engine,
  getBackend,
  getKernel,
  type KernelConfig,
  type KernelFunc,
  registerKernel,
  unregisterKernel,
} from '@tensorflow/tfjs';
import { installFusedAdam } from './wasm-kernels/adam.js';
import {
  conv2DBackpropFilterComposed,
  conv2DBackpropInputConv,
  depthwiseBackpropFilter,
  depthwiseBackpropInput,
  makeConv2D,
  makeConv2DBackpropFilter,
  makeConv2DBackpropInput,
  makeDepthwiseBackpropFilter,
  makeDepthwiseBackpropInput,
  makeDepthwiseConv2D,
  makeFusedConv2D,
} from './wasm-kernels/conv.js';
import {
  makeBinary,
  makeCast,
  makeCompare,
  makeFusedBatchNorm,
  makeGather,
  makeIdentity,
  makeLogicalAnd,
  makeMean,
  makeSelect,
  makeStep,
  makeSum,
  makeTile,
} from './wasm-kernels/elementwise.js';
import { installFusedLayers } from './wasm-kernels/fused-layers.js';
import { installFusedGradients } from './wasm-kernels/gradients.js';
import { makeBatchMatMul } from './wasm-kernels/matmul.js';
import { makeMaxPool, makeMaxPoolGrad } from './wasm-kernels/pool.js';
import { BACKEND, type WasmBackend } from './wasm-kernels/scope.js';
import { simdFor } from './wasm-kernels/simd.js';

/** The kernels wasm 4.22 lacks for training; registered in every set. */
export const WASM_GRADIENT_KERNELS = [
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
] as const;

/** wasm kernels the 'fast' set replaces (wasm's own versions are kept as fallbacks). */
export const WASM_REPLACED_KERNELS = [
  'Conv2D',
  'Conv2DBackpropInput',
  'MaxPoolGrad',
  'MaxPool',
  'Identity',
  'Cast',
  'Add',
  'Sub',
  'Multiply',
  'RealDiv',
  'Step',
  'Sum',
  'GatherV2',
  'FusedConv2D',
  'Mean',
  'Tile',
  'GreaterEqual',
  'LessEqual',
  'Greater',
  'Less',
  'LogicalAnd',
  'Select',
  'FusedBatchNorm',
  'DepthwiseConv2dNative',
  'BatchMatMul',
] as const;

export type WasmKernelSet = 'fast' | 'baseline' | 'minimal';
export const WASM_KERNEL_SETS: readonly WasmKernelSet[] = ['fast', 'baseline', 'minimal'];

/** Environment variable that picks the default set. */
export const WASM_KERNELS_ENV = 'FOLDSWEEP_WASM_KERNELS';

export interface RegisterWasmGradientKernelsOptions {
  /** Which kernels to install; default: $FOLDSWEEP_WASM_KERNELS, else 'fast'. */
  set?: WasmKernelSet;
}

/** wasm's own kernels, captured the first time one of them is replaced. */
const builtins = new Map<string, KernelConfig>();

function builtin(kernelName: string): KernelConfig | undefined {
  if (!builtins.has(kernelName)) {
    const current = getKernel(kernelName, BACKEND);
    if (current && !OURS.has(current.kernelFunc)) builtins.set(kernelName, current);
  }
  return builtins.get(kernelName);
}

/** Calls wasm's own kernel (looked up at call time). */
function callBuiltin(kernelName: string): KernelFunc {
  return (args) => {
    const config = builtins.get(kernelName);
    if (!config) throw new Error(`wasm-kernels: backend 'wasm' has no built-in '${kernelName}'`);
    return config.kernelFunc(args);
  };
}

const FAST: Record<string, KernelFunc> = {
  Conv2DBackpropFilter: makeConv2DBackpropFilter(conv2DBackpropFilterComposed),
  Conv2DBackpropInput: makeConv2DBackpropInput(),
  Conv2D: makeConv2D(callBuiltin('Conv2D')),
  MaxPoolGrad: makeMaxPoolGrad(callBuiltin('MaxPoolGrad')),
  MaxPool: makeMaxPool(callBuiltin('MaxPool')),
  Identity: makeIdentity(callBuiltin('Identity')),
  Cast: makeCast(callBuiltin('Cast')),
  Add: makeBinary('Add', callBuiltin('Add')),
  Sub: makeBinary('Sub', callBuiltin('Sub')),
  Multiply: makeBinary('Multiply', callBuiltin('Multiply')),
  RealDiv: makeBinary('RealDiv', callBuiltin('RealDiv')),
  Step: makeStep(callBuiltin('Step')),
  GatherV2: makeGather(callBuiltin('GatherV2')),
  Sum: makeSum(callBuiltin('Sum')),
  FusedConv2D: makeFusedConv2D(callBuiltin('FusedConv2D')),
  Mean: makeMean(callBuiltin('Mean')),
  Tile: makeTile(callBuiltin('Tile')),
  GreaterEqual: makeCompare('GreaterEqual', callBuiltin('GreaterEqual')),
  LessEqual: makeCompare('LessEqual', callBuiltin('LessEqual')),
  Greater: makeCompare('Greater', callBuiltin('Greater')),
  Less: makeCompare('Less', callBuiltin('Less')),
  LogicalAnd: makeLogicalAnd(callBuiltin('LogicalAnd')),
  Select: makeSelect(callBuiltin('Select')),
  FusedBatchNorm: makeFusedBatchNorm(callBuiltin('FusedBatchNorm')),
  DepthwiseConv2dNative: makeDepthwiseConv2D(callBuiltin('DepthwiseConv2dNative')),
  BatchMatMul: makeBatchMatMul(callBuiltin('BatchMatMul')),
  DepthwiseConv2dNativeBackpropFilter: makeDepthwiseBackpropFilter(depthwiseBackpropFilter),
  DepthwiseConv2dNativeBackpropInput: makeDepthwiseBackpropInput(depthwiseBackpropInput),
};

const COMPOSED: Record<(typeof WASM_GRADIENT_KERNELS)[number], KernelFunc> = {
  Conv2DBackpropFilter: conv2DBackpropFilterComposed,
  DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilter,
  DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInput,
};

const OURS = new Set<KernelFunc>([
  ...Object.values(FAST),
  ...Object.values(COMPOSED),
  conv2DBackpropInputConv,
]);

/** The kernelFunc each kernel should have in `set`; undefined = wasm's own. */
function wanted(set: WasmKernelSet, kernelName: string): KernelFunc | undefined {
  if (set === 'fast' && FAST[kernelName]) return FAST[kernelName];
  if (kernelName in COMPOSED) return COMPOSED[kernelName as keyof typeof COMPOSED];
  if (set === 'baseline' && kernelName === 'Conv2DBackpropInput') return conv2DBackpropInputConv;
  return undefined;
}

/** The set named by $FOLDSWEEP_WASM_KERNELS (default 'fast'); throws on an unknown name. */
export function wasmKernelSetFromEnv(env: NodeJS.ProcessEnv = process.env): WasmKernelSet {
  const value = env[WASM_KERNELS_ENV]?.trim();
  if (!value) return 'fast';
  if (!(WASM_KERNEL_SETS as readonly string[]).includes(value)) {
    throw new Error(
      `${WASM_KERNELS_ENV}='${value}' is not a wasm kernel set (${WASM_KERNEL_SETS.join(', ')})`,
    );
  }
  return value as WasmKernelSet;
}

let active: WasmKernelSet | undefined;

/**
 * Installs a kernel set for backend 'wasm'. Idempotent and reversible (switching sets puts wasm's
 * own kernels back); safe before or after the wasm backend is initialised: a replacement is
 * registered with the setup function of the kernel it replaces, so its fallback is ready either way.
 */
export function registerWasmGradientKernels(opts: RegisterWasmGradientKernelsOptions = {}): void {
  const set = opts.set ?? wasmKernelSetFromEnv();
  const names = [...WASM_GRADIENT_KERNELS, ...WASM_REPLACED_KERNELS];
  for (const kernelName of names) {
    const original = builtin(kernelName);
    const kernelFunc = wanted(set, kernelName);
    const current = getKernel(kernelName, BACKEND);
    if (kernelFunc) {
      if (current?.kernelFunc === kernelFunc) continue;
      if (current) unregisterKernel(kernelName, BACKEND);
      registerKernel({
        kernelName,
        backendName: BACKEND,
        kernelFunc,
        setupFunc: original?.setupFunc,
        disposeFunc: original?.disposeFunc,
      });
    } else if (original && current?.kernelFunc !== original.kernelFunc) {
      if (current) unregisterKernel(kernelName, BACKEND);
      registerKernel(original);
    }
  }
  active = set;
  installFusedGradients(() => active === 'fast');
  installFusedLayers(
    () =>
      active === 'fast' &&
      getBackend() === BACKEND &&
      simdFor(engine().backend as unknown as WasmBackend) !== undefined,
  );
  installFusedAdam(() => active === 'fast');
}

/** The set last installed by {@link registerWasmGradientKernels} (undefined before). */
export function activeWasmKernelSet(): WasmKernelSet | undefined {
  return active;
}

/** True when every kernel of {@link WASM_GRADIENT_KERNELS} is registered for 'wasm'. */
export function wasmGradientKernelsRegistered(): boolean {
  return WASM_GRADIENT_KERNELS.every((k) => getKernel(k, BACKEND) !== undefined);
}
