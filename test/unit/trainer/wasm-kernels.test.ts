import v8 from 'node:v8';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../trainer/backend.js';
import { applyGradients } from '../../../trainer/wasm-kernels/adam.js';
import { columnBuffer } from '../../../trainer/wasm-kernels/conv.js';
import {
  RELAXED_SIMD_FLAG,
  relaxedSimdSupported,
  setWasmFma,
  wasmSimdVariant,
} from '../../../trainer/wasm-kernels/simd.js';
import {
  activeWasmKernelSet,
  registerWasmGradientKernels,
  WASM_GRADIENT_KERNELS,
  WASM_KERNEL_SETS,
  WASM_REPLACED_KERNELS,
  type WasmKernelSet,
  wasmGradientKernelsRegistered,
  wasmKernelSetFromEnv,
} from '../../../trainer/wasm-kernels.js';

// What the local pool passes its trainer processes (Node 20): the kernels below run both builds
// of simd.wat, with fused multiply-adds (relaxed SIMD) and without.
v8.setFlagsFromString(RELAXED_SIMD_FLAG);

type Pad = 'same' | 'valid' | number | [[0, 0], [number, number], [number, number], [0, 0]];
type Strides = number | [number, number];

/** Deterministic values in [-1, 1) (an LCG), so both backends see identical inputs. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** max |a - b| relative to the largest magnitude of the reference (at least 1). */
function relErr(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

interface GradCase {
  op: 'conv2d' | 'depthwise';
  x: [number, number, number, number];
  /** conv2d: [fh, fw, in, out]; depthwise: [fh, fw, in, multiplier]. */
  f: [number, number, number, number];
  strides: Strides;
  pad: Pad;
}

/** Gradients of sum(y * w) with respect to input and filter, on one backend. */
async function gradsOn(backend: string, c: GradCase): Promise<[Float32Array, Float32Array]> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const x = tf.tensor4d(values(size(c.x), 11), c.x);
    const f = tf.tensor4d(values(size(c.f), 23), c.f);
    const conv = (a: tf.Tensor4D, b: tf.Tensor4D) =>
      c.op === 'conv2d'
        ? tf.conv2d(a, b, c.strides, c.pad)
        : tf.depthwiseConv2d(a, b, c.strides, c.pad);
    const yShape = conv(x, f).shape;
    const w = tf.tensor(values(size(yShape), 37), yShape);
    const [gx, gf] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), w)),
    )([x, f]);
    return [gx.dataSync() as Float32Array, gf.dataSync() as Float32Array] as const;
  }) as [Float32Array, Float32Array];
}

const TOL = 1e-4;

const cases: GradCase[] = [
  { op: 'conv2d', x: [1, 5, 5, 1], f: [3, 3, 1, 1], strides: 1, pad: 'same' },
  { op: 'conv2d', x: [1, 5, 5, 1], f: [3, 3, 1, 1], strides: 1, pad: 'valid' },
  { op: 'conv2d', x: [3, 8, 6, 3], f: [3, 3, 3, 8], strides: 1, pad: 'same' },
  { op: 'conv2d', x: [3, 8, 6, 3], f: [2, 2, 3, 4], strides: 1, pad: 'same' },
  { op: 'conv2d', x: [1, 9, 7, 2], f: [4, 4, 2, 5], strides: 1, pad: 'valid' },
  { op: 'conv2d', x: [3, 8, 8, 4], f: [3, 3, 4, 6], strides: 2, pad: 'same' },
  { op: 'conv2d', x: [3, 9, 7, 4], f: [3, 3, 4, 6], strides: 2, pad: 'same' },
  { op: 'conv2d', x: [1, 9, 7, 2], f: [3, 3, 2, 3], strides: 2, pad: 'valid' },
  { op: 'conv2d', x: [1, 8, 8, 2], f: [2, 2, 2, 3], strides: 2, pad: 'valid' },
  { op: 'conv2d', x: [3, 10, 8, 1], f: [4, 2, 1, 7], strides: 2, pad: 'same' },
  { op: 'conv2d', x: [1, 11, 9, 5], f: [3, 3, 5, 2], strides: 3, pad: 'same' },
  { op: 'conv2d', x: [3, 11, 10, 2], f: [5, 3, 2, 4], strides: 3, pad: 'valid' },
  { op: 'conv2d', x: [1, 9, 7, 3], f: [3, 2, 3, 4], strides: [2, 1], pad: 'same' },
  { op: 'conv2d', x: [1, 6, 6, 2], f: [3, 3, 2, 3], strides: 2, pad: 1 },
  {
    op: 'conv2d',
    x: [1, 7, 6, 2],
    f: [3, 2, 2, 3],
    strides: 1,
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
  { op: 'conv2d', x: [3, 16, 16, 8], f: [3, 3, 8, 8], strides: 1, pad: 'same' },
  // O a multiple of 8 / 16: the direct SIMD filter gradient ('fast'), with its 16- and 8-wide tiles
  { op: 'conv2d', x: [2, 12, 12, 3], f: [3, 3, 3, 16], strides: 1, pad: 'same' },
  { op: 'conv2d', x: [2, 11, 9, 5], f: [3, 3, 5, 24], strides: 1, pad: 'same' },
  { op: 'conv2d', x: [2, 10, 10, 16], f: [3, 3, 16, 32], strides: 2, pad: 'same' },
  { op: 'conv2d', x: [2, 9, 9, 4], f: [3, 3, 4, 8], strides: 2, pad: 'valid' },
  { op: 'conv2d', x: [1, 13, 11, 2], f: [5, 3, 2, 16], strides: [2, 3], pad: 'same' },
  { op: 'conv2d', x: [2, 8, 8, 7], f: [1, 1, 7, 8], strides: 1, pad: 'valid' },
  { op: 'conv2d', x: [1, 7, 7, 1], f: [3, 3, 1, 8], strides: 3, pad: 2 },
  { op: 'conv2d', x: [4, 8, 8, 32], f: [3, 3, 32, 64], strides: 2, pad: 'same' },
  { op: 'depthwise', x: [1, 5, 5, 1], f: [3, 3, 1, 1], strides: 1, pad: 'same' },
  { op: 'depthwise', x: [3, 8, 6, 3], f: [3, 3, 3, 1], strides: 1, pad: 'valid' },
  { op: 'depthwise', x: [3, 8, 6, 3], f: [3, 3, 3, 2], strides: 1, pad: 'same' },
  { op: 'depthwise', x: [1, 8, 8, 4], f: [2, 2, 4, 2], strides: 1, pad: 'same' },
  { op: 'depthwise', x: [3, 9, 7, 4], f: [3, 3, 4, 1], strides: 2, pad: 'same' },
  { op: 'depthwise', x: [3, 8, 8, 2], f: [3, 3, 2, 2], strides: 2, pad: 'same' },
  { op: 'depthwise', x: [1, 9, 7, 5], f: [4, 2, 5, 2], strides: 2, pad: 'valid' },
  { op: 'depthwise', x: [3, 11, 10, 2], f: [3, 3, 2, 2], strides: 3, pad: 'same' },
  { op: 'depthwise', x: [1, 10, 9, 3], f: [5, 3, 3, 1], strides: 3, pad: 'valid' },
  { op: 'depthwise', x: [1, 9, 7, 2], f: [3, 2, 2, 2], strides: [1, 2], pad: 'same' },
  { op: 'depthwise', x: [1, 6, 6, 2], f: [3, 3, 2, 2], strides: 2, pad: 1 },
  // 3x3, multiplier 1, C a multiple of 4: simd.wat's depthwise loops ('fast')
  { op: 'depthwise', x: [2, 9, 7, 8], f: [3, 3, 8, 1], strides: 1, pad: 'same' },
  { op: 'depthwise', x: [2, 9, 7, 8], f: [3, 3, 8, 1], strides: 2, pad: 'same' },
  { op: 'depthwise', x: [1, 8, 8, 4], f: [3, 3, 4, 1], strides: 2, pad: 'same' },
  { op: 'depthwise', x: [1, 11, 6, 12], f: [3, 3, 12, 1], strides: 1, pad: 'valid' },
  { op: 'depthwise', x: [3, 10, 9, 4], f: [3, 3, 4, 1], strides: 2, pad: 'valid' },
  { op: 'depthwise', x: [1, 7, 5, 16], f: [3, 3, 16, 1], strides: [1, 2], pad: 'same' },
  { op: 'depthwise', x: [1, 6, 7, 4], f: [3, 3, 4, 1], strides: 2, pad: 1 },
  { op: 'depthwise', x: [1, 5, 5, 6], f: [3, 3, 6, 1], strides: 1, pad: 'same' }, // C % 4: composed
  {
    op: 'depthwise',
    x: [3, 7, 6, 2],
    f: [3, 3, 2, 2],
    strides: 1,
    pad: [
      [0, 0],
      [2, 0],
      [1, 1],
      [0, 0],
    ],
  },
];

const name = (c: GradCase) =>
  `${c.op} x=[${c.x}] f=[${c.f}] strides=${JSON.stringify(c.strides)} pad=${JSON.stringify(c.pad)}`;

beforeAll(async () => {
  const selected = await selectBackend({ prefer: 'wasm' });
  expect(selected.name).toBe('wasm');
  await tf.setBackend('cpu');
  await tf.setBackend('wasm');
});

describe('wasm gradient kernels', () => {
  it('runs the fused multiply-add build of simd.wat when relaxed SIMD validates', () => {
    expect(relaxedSimdSupported()).toBe(true);
    expect(wasmSimdVariant()).toBe('fma');
    setWasmFma(false);
    expect(wasmSimdVariant()).toBe('plain');
    setWasmFma(true);
  });

  it('registers the kernels wasm lacks, idempotently', () => {
    registerWasmGradientKernels();
    registerWasmGradientKernels();
    expect(wasmGradientKernelsRegistered()).toBe(true);
    for (const k of WASM_GRADIENT_KERNELS) expect(tf.getKernel(k, 'wasm')).toBeDefined();
    expect(tf.getKernel('Conv2DBackpropFilter', 'cpu')).toBeDefined();
  });

  it.each(cases.map((c) => [name(c), c] as const))(
    'matches the cpu backend in every kernel set: %s',
    async (_label, c) => {
      const [cx, cf] = await gradsOn('cpu', c);
      const variants = [...WASM_KERNEL_SETS.map((set) => [set, true] as const), ['fast', false]];
      for (const [set, fma] of variants as [WasmKernelSet, boolean][]) {
        registerWasmGradientKernels({ set });
        setWasmFma(fma);
        const what = `${set} (${wasmSimdVariant()})`;
        try {
          const [wx, wf] = await gradsOn('wasm', c);
          expect(relErr(wx, cx), `${what}: input gradient`).toBeLessThan(TOL);
          expect(relErr(wf, cf), `${what}: filter gradient`).toBeLessThan(TOL);
        } finally {
          registerWasmGradientKernels({ set: 'fast' });
          setWasmFma(true);
        }
      }
    },
  );

  it('chunks im2col / col2im buffers over images when they would be too large', async () => {
    const limit = columnBuffer.maxFloats;
    const chunked: GradCase[] = [
      { op: 'conv2d', x: [5, 9, 7, 3], f: [3, 3, 3, 5], strides: 1, pad: 'same' }, // im2col
      { op: 'conv2d', x: [5, 9, 7, 3], f: [3, 3, 3, 8], strides: 2, pad: 'same' }, // col2im
      { op: 'conv2d', x: [5, 9, 7, 8], f: [3, 3, 8, 8], strides: 2, pad: 'same' }, // its SIMD product
    ];
    for (const c of chunked) {
      const [cx, cf] = await gradsOn('cpu', c);
      columnBuffer.maxFloats = 700; // 1 or 2 images per chunk
      try {
        const [wx, wf] = await gradsOn('wasm', c);
        expect(relErr(wx, cx)).toBeLessThan(TOL);
        expect(relErr(wf, cf)).toBeLessThan(TOL);
      } finally {
        columnBuffer.maxFloats = limit;
      }
    }
  });

  it('switches between sets back and forth, with identical results each time', async () => {
    const c: GradCase = {
      op: 'conv2d',
      x: [3, 9, 7, 4],
      f: [3, 3, 4, 16],
      strides: 2,
      pad: 'same',
    };
    const fast = await gradsOn('wasm', c);
    for (const set of ['minimal', 'baseline', 'fast', 'minimal', 'fast'] as WasmKernelSet[]) {
      registerWasmGradientKernels({ set });
      expect(activeWasmKernelSet()).toBe(set);
      const again = await gradsOn('wasm', c);
      if (set === 'fast') expect(relErr(again[1], fast[1])).toBe(0);
      else expect(relErr(again[1], fast[1])).toBeLessThan(TOL);
    }
  });

  it("installs the kernels of each set and puts wasm's own back", () => {
    const kernels = () =>
      new Map(WASM_REPLACED_KERNELS.map((k) => [k, tf.getKernel(k, 'wasm')] as const));
    try {
      registerWasmGradientKernels({ set: 'minimal' });
      const own = kernels(); // wasm's own kernels
      registerWasmGradientKernels({ set: 'baseline' });
      const baseline = kernels();
      registerWasmGradientKernels({ set: 'fast' });
      registerWasmGradientKernels({ set: 'fast' });
      const fast = kernels();
      for (const k of WASM_REPLACED_KERNELS) {
        expect(own.get(k), k).toBeDefined();
        expect(fast.get(k)?.kernelFunc, k).not.toBe(own.get(k)?.kernelFunc);
        // A replacement carries the replaced kernel's setup function, so its fallback is ready.
        expect(fast.get(k)?.setupFunc, k).toBe(own.get(k)?.setupFunc);
        if (k !== 'Conv2DBackpropInput') {
          expect(baseline.get(k)?.kernelFunc, k).toBe(own.get(k)?.kernelFunc);
        }
      }
      const input = 'Conv2DBackpropInput';
      expect(baseline.get(input)?.kernelFunc).not.toBe(own.get(input)?.kernelFunc);
      expect(baseline.get(input)?.kernelFunc).not.toBe(fast.get(input)?.kernelFunc);
      registerWasmGradientKernels({ set: 'minimal' });
      for (const k of WASM_REPLACED_KERNELS) {
        expect(tf.getKernel(k, 'wasm')?.kernelFunc, k).toBe(own.get(k)?.kernelFunc);
      }
      expect(wasmGradientKernelsRegistered()).toBe(true);
    } finally {
      registerWasmGradientKernels({ set: 'fast' });
    }
    // The cpu backend's kernels are never touched.
    for (const k of WASM_REPLACED_KERNELS) {
      expect(tf.getKernel(k, 'cpu')?.kernelFunc).not.toBe(tf.getKernel(k, 'wasm')?.kernelFunc);
    }
  });

  it('reads the default set from FOLDSWEEP_WASM_KERNELS', () => {
    expect(wasmKernelSetFromEnv({})).toBe('fast');
    expect(wasmKernelSetFromEnv({ FOLDSWEEP_WASM_KERNELS: ' baseline ' })).toBe('baseline');
    expect(wasmKernelSetFromEnv({ FOLDSWEEP_WASM_KERNELS: 'minimal' })).toBe('minimal');
    expect(() => wasmKernelSetFromEnv({ FOLDSWEEP_WASM_KERNELS: 'turbo' })).toThrow(
      /FOLDSWEEP_WASM_KERNELS='turbo' is not a wasm kernel set \(fast, baseline, minimal\)/,
    );
  });

  /** Runs one kernel directly with the same inputs on both backends. */
  async function kernelOn(
    backend: string,
    kernel: string,
    inputs: Record<string, number[]>,
    attrs: object,
  ): Promise<{ data: Float32Array; shape: number[] }> {
    await tf.setBackend(backend);
    const ins: Record<string, tf.Tensor> = {};
    let seed = 5;
    for (const [k, shape] of Object.entries(inputs)) {
      ins[k] = tf.tensor(values(size(shape), seed++), shape);
    }
    try {
      const out = tf.engine().runKernel(kernel, ins as tf.NamedTensorMap, attrs as tf.NamedAttrMap);
      const res = out as tf.Tensor;
      const data = res.dataSync() as Float32Array;
      res.dispose();
      return { data, shape: res.shape };
    } finally {
      tf.dispose(Object.values(ins));
    }
  }

  it.each([
    [
      'Conv2DBackpropFilter',
      { x: [2, 10, 9, 3], dy: [2, 4, 4, 4] },
      {
        strides: 3,
        pad: 1,
        dataFormat: 'NHWC',
        dimRoundingMode: 'ceil',
        filterShape: [3, 3, 3, 4],
      },
    ],
    [
      'Conv2DBackpropInput',
      { dy: [2, 4, 4, 4], filter: [3, 3, 3, 4] },
      {
        strides: 3,
        pad: 1,
        dataFormat: 'NHWC',
        dimRoundingMode: 'ceil',
        inputShape: [2, 10, 9, 3],
      },
    ],
    [
      'Conv2DBackpropFilter',
      { x: [2, 10, 9, 3], dy: [2, 4, 4, 8] },
      {
        strides: 3,
        pad: 1,
        dataFormat: 'NHWC',
        dimRoundingMode: 'ceil',
        filterShape: [3, 3, 3, 8],
      },
    ],
    [
      'Conv2DBackpropInput',
      { dy: [2, 4, 4, 16], filter: [3, 3, 3, 16] },
      {
        strides: 3,
        pad: 1,
        dataFormat: 'NHWC',
        dimRoundingMode: 'round',
        inputShape: [2, 10, 9, 3],
      },
    ],
    [
      'DepthwiseConv2dNativeBackpropFilter',
      { x: [1, 9, 7, 2], dy: [1, 5, 4, 4] },
      { strides: [2, 1], pad: 1, dilations: 1, filterShape: [2, 3, 2, 2] },
    ],
    [
      'DepthwiseConv2dNativeBackpropInput',
      { dy: [1, 5, 4, 4], filter: [2, 3, 2, 2] },
      { strides: [2, 1], pad: 1, dilations: [1, 1], inputShape: [1, 9, 7, 2] },
    ],
    [
      'DepthwiseConv2dNativeBackpropInput',
      { dy: [2, 3, 3, 6], filter: [4, 4, 3, 2] },
      { strides: 2, pad: 'valid', dilations: 1, inputShape: [2, 9, 8, 3] },
    ],
  ])('runs %s directly like cpu (numeric pads, rounding)', async (kernel, inputs, attrs) => {
    const w = await kernelOn('wasm', kernel, inputs, attrs);
    const c = await kernelOn('cpu', kernel, inputs, attrs);
    expect(w.shape).toEqual(c.shape);
    expect(relErr(w.data, c.data)).toBeLessThan(TOL);
  });

  it.each([
    [
      'Conv2DBackpropFilter',
      { x: [1, 6, 6, 2], dy: [1, 6, 6, 3] },
      { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 2, filterShape: [3, 3, 2, 3] },
      /dilations \[2,2\] are not supported/,
    ],
    [
      'Conv2DBackpropFilter',
      { x: [1, 2, 6, 6], dy: [1, 3, 6, 6] },
      { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 3] },
      /dataFormat 'NCHW' is not supported/,
    ],
    [
      'DepthwiseConv2dNativeBackpropInput',
      { dy: [1, 3, 3, 2], filter: [3, 3, 2, 1] },
      { strides: 2, pad: 'same', dilations: [2, 2], inputShape: [1, 6, 6, 2] },
      /dilations \[2,2\] are not supported/,
    ],
    [
      'DepthwiseConv2dNativeBackpropFilter',
      { x: [1, 6, 6, 2], dy: [1, 5, 5, 2] },
      { strides: 1, pad: 'same', dilations: 1, filterShape: [3, 3, 2, 1] },
      /dy has shape \[1,5,5,2\], expected \[1,6,6,2\]/,
    ],
  ])('rejects unsupported %s attributes clearly', async (kernel, inputs, attrs, message) => {
    await expect(kernelOn('wasm', kernel, inputs, attrs)).rejects.toThrow(message);
  });

  it('frees every intermediate: backend data count is unchanged after gradients', async () => {
    await tf.setBackend('wasm');
    const c: GradCase = {
      op: 'depthwise',
      x: [3, 9, 7, 4],
      f: [3, 3, 4, 2],
      strides: 2,
      pad: 'same',
    };
    await gradsOn('wasm', c);
    const before = tf.engine().backend.numDataIds();
    const tensorsBefore = tf.memory().numTensors;
    await gradsOn('wasm', c);
    await gradsOn('wasm', { ...c, op: 'conv2d', f: [3, 3, 4, 5] });
    await gradsOn('wasm', { ...c, op: 'conv2d', f: [3, 3, 4, 16] });
    await gradsOn('wasm', { ...c, op: 'conv2d', f: [3, 3, 4, 16], strides: 1 });
    expect(tf.engine().backend.numDataIds()).toBe(before);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });
});

describe('fused gradients (ReLU, clipByValue, batch normalisation, mean)', () => {
  /** Gradients of sum(f(inputs) * w) for every input, on one backend and set. */
  async function gradsOf(
    backend: string,
    f: (...ts: tf.Tensor[]) => tf.Tensor,
    shapes: number[][],
    set: WasmKernelSet = 'fast',
    special = false,
  ): Promise<Float32Array[]> {
    await tf.setBackend(backend);
    registerWasmGradientKernels({ set });
    try {
      return tf.tidy(() => {
        const ins = shapes.map((s, i) => {
          const v = values(size(s), 40 + i).map((e) => e * 8);
          if (special && i === 0 && v.length > 3) {
            v[0] = Number.NaN;
            v[1] = 0;
            v[2] = 6;
          }
          return tf.tensor(v, s);
        });
        const y = f(...ins);
        const w = tf.tensor(values(y.size, 77), y.shape);
        const gs = tf.grads((...ts: tf.Tensor[]) => tf.sum(tf.mul(f(...ts), w)))(ins);
        return gs.map((g) => g.dataSync() as Float32Array);
      });
    } finally {
      registerWasmGradientKernels({ set: 'fast' });
      await tf.setBackend('wasm');
    }
  }

  const same = (a: Float32Array[], b: Float32Array[], tol: number) => {
    expect(a.length).toBe(b.length);
    a.forEach((g, i) => {
      expect(g.length).toBe(b[i].length);
      for (let j = 0; j < g.length; j++) {
        if (Number.isNaN(b[i][j])) expect(Number.isNaN(g[j]), `input ${i} [${j}]`).toBe(true);
      }
      const finite = (t: Float32Array) => t.map((v) => (Number.isNaN(v) ? 0 : v));
      expect(relErr(finite(g), finite(b[i])), `input ${i}`).toBeLessThanOrEqual(tol);
    });
  };

  it.each([[[37]], [[2, 5, 5, 8]]])(
    'ReLU and clipByValue(0, 6), NaN included: %j',
    async (shape) => {
      for (const f of [
        (x: tf.Tensor) => tf.relu(x),
        (x: tf.Tensor) => tf.clipByValue(x, 0, 6),
        (x: tf.Tensor) => tf.clipByValue(x, -1.5, 2),
      ]) {
        const cpu = await gradsOf('cpu', f, [shape], 'fast', true);
        const fast = await gradsOf('wasm', f, [shape], 'fast', true);
        const baseline = await gradsOf('wasm', f, [shape], 'baseline', true);
        same(fast, cpu, 0);
        same(baseline, cpu, 0);
      }
    },
  );

  it.each([[[2, 4, 4, 8]], [[3, 5, 6]], [[7, 12]]])(
    'batch normalisation (moments of x, then batchNorm) %j',
    async (shape) => {
      const c = shape[shape.length - 1];
      const axes = shape.slice(0, -1).map((_, i) => i);
      const f = (x: tf.Tensor, offset: tf.Tensor, scale: tf.Tensor) => {
        const { mean, variance } = tf.moments(x, axes);
        return tf.batchNorm(x, mean, variance, offset, scale, 1e-3);
      };
      const shapes = [shape, [c], [c]];
      const cpu = await gradsOf('cpu', f, shapes);
      const fast = await gradsOf('wasm', f, shapes);
      same(fast, cpu, 1e-4);
    },
  );

  it.each([
    ['mean over all but the last axis', (x: tf.Tensor) => tf.mean(x, [0, 1, 2])],
    ['mean, keepDims', (x: tf.Tensor) => tf.mean(x, [0, 1, 2], true)],
    ['mean over the spatial axes (global average pool)', (x: tf.Tensor) => tf.mean(x, [1, 2])],
    ['mean over the spatial axes, keepDims', (x: tf.Tensor) => tf.mean(x, [1, 2], true)],
    ['mean over another axis (tfjs-core)', (x: tf.Tensor) => tf.mean(x, 1)],
    ['mean of everything (tfjs-core)', (x: tf.Tensor) => tf.mean(x)],
    ['square', (x: tf.Tensor) => tf.square(x)],
  ])('%s', async (_label, f) => {
    for (const shape of [
      [2, 3, 3, 8],
      [3, 5, 2, 3],
    ]) {
      const cpu = await gradsOf('cpu', f, [shape], 'fast', true);
      const fast = await gradsOf('wasm', f, [shape], 'fast', true);
      same(fast, cpu, 0);
    }
  });

  it('leaves the cpu backend on tfjs-core gradients, and frees what it allocates', async () => {
    await tf.setBackend('cpu');
    registerWasmGradientKernels({ set: 'fast' });
    expect(tf.getKernel('FoldsweepReluGrad', 'cpu')).toBeUndefined();
    expect(tf.getKernel('FoldsweepReluGrad', 'wasm')).toBeDefined();
    // the cpu backend has no fused kernel: the gradient must take tfjs-core's path there
    const g = tf.grad((x: tf.Tensor) => tf.relu(x).sum())(tf.tensor([-1, 2]));
    expect(Array.from(g.dataSync())).toEqual([0, 1]);
    await tf.setBackend('wasm');
    const x = tf.tensor4d(values(2 * 3 * 3 * 8, 1), [2, 3, 3, 8]);
    const once = () =>
      tf.tidy(() => {
        tf.grad((t: tf.Tensor) => tf.clipByValue(tf.relu(t), 0, 0.5).sum())(x).dataSync();
        tf.grad((t: tf.Tensor) => {
          const { mean, variance } = tf.moments(t, [0, 1, 2]);
          return tf.batchNorm(t, mean, variance, mean, tf.onesLike(mean)).square().sum();
        })(x).dataSync();
      });
    const info = await tf.profile(() => once());
    const names = new Set(info.kernels.map((k) => k.name));
    for (const k of [
      'FoldsweepReluGrad',
      'FoldsweepClipByValueGrad',
      'FoldsweepFusedBatchNormGrad',
      'FoldsweepMeanGrad',
      'FoldsweepSquareGrad',
    ]) {
      expect(names.has(k), k).toBe(true);
    }
    expect(names.has('Step')).toBe(false);
    const ids = tf.engine().backend.numDataIds();
    const tensors = tf.memory().numTensors;
    once();
    expect(tf.engine().backend.numDataIds()).toBe(ids);
    expect(tf.memory().numTensors).toBe(tensors);
    x.dispose();
  });
});

describe('training on wasm', () => {
  /** 4 classes: which quadrant of the image is bright. Learnable in a few steps. */
  function quadrantData(n: number, hw: number, channels: number) {
    const xs = new Float32Array(n * hw * hw * channels);
    const ys = new Int32Array(n);
    const noise = values(xs.length, 99);
    const half = hw / 2;
    for (let i = 0; i < n; i++) {
      const cls = i % 4;
      ys[i] = cls;
      for (let r = 0; r < hw; r++) {
        for (let col = 0; col < hw; col++) {
          const q = (r < half ? 0 : 2) + (col < half ? 0 : 1);
          for (let ch = 0; ch < channels; ch++) {
            const idx = ((i * hw + r) * hw + col) * channels + ch;
            xs[idx] = (q === cls ? 1 : 0) + 0.2 * noise[idx];
          }
        }
      }
    }
    return {
      x: tf.tensor4d(xs, [n, hw, hw, channels]),
      y: tf.oneHot(tf.tensor1d(ys, 'int32'), 4),
    };
  }

  async function fitTwoEpochs(model: tf.Sequential, hw: number, channels: number) {
    await tf.setBackend('wasm');
    model.compile({
      optimizer: tf.train.adam(0.01),
      loss: 'categoricalCrossentropy',
      metrics: ['accuracy'],
    });
    const { x, y } = quadrantData(96, hw, channels);
    const tensorsAtEpochEnd: number[] = [];
    const dataIdsAtEpochEnd: number[] = [];
    const history = await model.fit(x, y, {
      epochs: 2,
      batchSize: 16,
      shuffle: true,
      verbose: 0,
      callbacks: {
        onEpochEnd: async () => {
          tensorsAtEpochEnd.push(tf.memory().numTensors);
          dataIdsAtEpochEnd.push(tf.engine().backend.numDataIds());
        },
      },
    });
    tf.dispose([x, y]);
    return { losses: history.history.loss as number[], tensorsAtEpochEnd, dataIdsAtEpochEnd };
  }

  it('fits a small CNN (conv+relu, batchnorm, maxpool, dropout, GAP, dense, Adam): loss falls, no leak', async () => {
    const model = tf.sequential();
    model.add(
      tf.layers.conv2d({
        inputShape: [16, 16, 3],
        filters: 8,
        kernelSize: 3,
        activation: 'relu',
        padding: 'same',
      }),
    );
    model.add(tf.layers.batchNormalization());
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    model.add(
      tf.layers.conv2d({
        filters: 16,
        kernelSize: 3,
        activation: 'relu',
        padding: 'same',
        strides: 2,
      }),
    );
    model.add(tf.layers.dropout({ rate: 0.1 }));
    model.add(tf.layers.globalAveragePooling2d({}));
    model.add(tf.layers.dense({ units: 16, activation: 'relu' }));
    model.add(tf.layers.dense({ units: 4, activation: 'softmax' }));
    const r = await fitTwoEpochs(model, 16, 3);
    expect(r.losses.every(Number.isFinite)).toBe(true);
    expect(r.losses[1]).toBeLessThan(r.losses[0]);
    expect(r.tensorsAtEpochEnd[1]).toBe(r.tensorsAtEpochEnd[0]);
    expect(r.dataIdsAtEpochEnd[1]).toBe(r.dataIdsAtEpochEnd[0]);
    model.dispose();
  });

  it('fits a depthwise/separable CNN with flatten: loss falls, no leak', async () => {
    const model = tf.sequential();
    model.add(
      tf.layers.conv2d({
        inputShape: [12, 12, 1],
        filters: 4,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
      }),
    );
    model.add(
      tf.layers.depthwiseConv2d({
        kernelSize: 3,
        depthMultiplier: 2,
        strides: 2,
        padding: 'same',
      }),
    );
    model.add(tf.layers.reLU({ maxValue: 6 }));
    model.add(tf.layers.separableConv2d({ filters: 8, kernelSize: 3, padding: 'same' }));
    model.add(tf.layers.flatten());
    model.add(tf.layers.dense({ units: 4, activation: 'softmax' }));
    const r = await fitTwoEpochs(model, 12, 1);
    expect(r.losses.every(Number.isFinite)).toBe(true);
    expect(r.losses[1]).toBeLessThan(r.losses[0]);
    expect(r.tensorsAtEpochEnd[1]).toBe(r.tensorsAtEpochEnd[0]);
    expect(r.dataIdsAtEpochEnd[1]).toBe(r.dataIdsAtEpochEnd[0]);
    model.dispose();
  });
});

describe("the 'fast' set trains like the cpu backend", () => {
  /** The issue's small CNN, with deterministic initial weights. */
  function issueCnn(): tf.Sequential {
    const conv = (filters: number, extra: object = {}) =>
      tf.layers.conv2d({ filters, kernelSize: 3, activation: 'relu', padding: 'same', ...extra });
    const m = tf.sequential();
    m.add(conv(16, { inputShape: [8, 8, 3] }));
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(conv(32));
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(conv(64, { strides: 2 }));
    m.add(tf.layers.globalAveragePooling2d({}));
    m.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
    m.setWeights(
      m.getWeights().map((w, i) => tf.tensor(values(w.size, 100 + i), w.shape).mul(0.3)),
    );
    return m;
  }

  /** Losses of 4 Adam steps (same batches) and the final weights, on one backend / set. */
  async function steps(backend: string, set: WasmKernelSet = 'fast') {
    await tf.setBackend(backend);
    registerWasmGradientKernels({ set });
    try {
      const model = issueCnn();
      model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
      const x = tf.tensor4d(
        values(8 * 8 * 8 * 3, 7).map((v) => v + 1),
        [8, 8, 8, 3],
      );
      const y = tf.oneHot(
        tf.tensor1d(
          Array.from({ length: 8 }, (_, i) => i % 10),
          'int32',
        ),
        10,
      );
      const losses: number[] = [];
      for (let i = 0; i < 4; i++) losses.push((await model.trainOnBatch(x, y)) as number);
      const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
      model.dispose();
      tf.dispose([x, y]);
      return { losses, weights };
    } finally {
      registerWasmGradientKernels({ set: 'fast' });
      await tf.setBackend('wasm');
    }
  }

  it('losses and weights after 4 steps match cpu (and the baseline set)', async () => {
    const cpu = await steps('cpu');
    for (const set of ['fast', 'fast-plain', 'baseline'] as const) {
      setWasmFma(set !== 'fast-plain');
      const wasm = await steps('wasm', set === 'fast-plain' ? 'fast' : set).finally(() =>
        setWasmFma(true),
      );
      for (let i = 0; i < cpu.losses.length; i++) {
        expect(Math.abs(wasm.losses[i] - cpu.losses[i]), `${set} step ${i}`).toBeLessThan(1e-4);
      }
      wasm.weights.forEach((w, i) => {
        expect(relErr(w, cpu.weights[i]), `${set} weight ${i}`).toBeLessThan(1e-3);
      });
    }
  });
});

describe('fused Adam (applyGradients)', () => {
  // odd sizes (the SIMD loop's scalar tail), a scalar-like [1], a conv filter
  const shapes = [[7], [1], [3, 3, 5, 8], [2, 13]];

  /**
   * Values and optimizer state after `steps` Adam steps of variables `shapes` with deterministic
   * gradients, on one backend and set; `restart` rebuilds the
   * optimizer from getWeights / setWeights before that step, as a checkpoint restore does.
   */
  async function adamSteps(backend: string, set: WasmKernelSet, steps: number, restart = -1) {
    await tf.setBackend(backend);
    registerWasmGradientKernels({ set });
    try {
      const vars = shapes.map((s, i) => tf.variable(tf.tensor(values(size(s), 300 + i), s)));
      let optimizer = tf.train.adam(0.05);
      const kernels = new Set<string>();
      for (let step = 0; step < steps; step++) {
        if (step === restart) {
          const saved = await optimizer.getWeights();
          const next = tf.train.adam(0.05);
          await next.setWeights(saved.map((w) => ({ name: w.name, tensor: w.tensor.clone() })));
          optimizer.dispose();
          optimizer = next;
        }
        const grads: Record<string, tf.Tensor> = {};
        vars.forEach((v, i) => {
          grads[v.name] = tf.tensor(values(v.size, 1000 * step + i), v.shape).mul(3 - step);
        });
        const info = await tf.profile(() => applyGradients(optimizer, grads));
        for (const k of info.kernels) kernels.add(k.name);
        tf.dispose(Object.values(grads));
      }
      const state = await optimizer.getWeights();
      const out = {
        values: vars.map((v) => v.dataSync() as Float32Array),
        state: state.map((w) => [w.name.replace(/^.*\//, ''), w.tensor.dataSync()] as const),
        iterations: optimizer.iterations,
        kernels,
      };
      optimizer.dispose();
      tf.dispose(vars);
      return out;
    } finally {
      registerWasmGradientKernels({ set: 'fast' });
      await tf.setBackend('wasm');
    }
  }

  it("gives tf.train.adam's results bit for bit, state and checkpoint restore included", async () => {
    for (const restart of [-1, 3]) {
      const cpu = await adamSteps('cpu', 'fast', 5, restart);
      const fast = await adamSteps('wasm', 'fast', 5, restart);
      const baseline = await adamSteps('wasm', 'baseline', 5, restart);
      expect(fast.kernels.has('FoldsweepAdam')).toBe(true);
      expect(fast.kernels.has('Sqrt')).toBe(false);
      expect(baseline.kernels.has('FoldsweepAdam')).toBe(false);
      expect(cpu.kernels.has('FoldsweepAdam')).toBe(false);
      for (const run of [fast, baseline]) {
        expect(run.iterations).toBe(cpu.iterations);
        run.values.forEach((v, i) => {
          expect(Array.from(v), `value ${i}`).toEqual(Array.from(cpu.values[i]));
        });
        expect(run.state.map(([name]) => name)).toEqual(cpu.state.map(([name]) => name));
        run.state.forEach(([name, v], i) => {
          expect(Array.from(v), name).toEqual(Array.from(cpu.state[i][1]));
        });
      }
    }
  });

  it('frees what it allocates', async () => {
    await tf.setBackend('wasm');
    const v = tf.variable(tf.tensor(values(37, 5), [37]));
    const g = tf.tensor(values(37, 6), [37]);
    const optimizer = tf.train.adam(0.01);
    applyGradients(optimizer, { [v.name]: g });
    const ids = tf.engine().backend.numDataIds();
    const tensors = tf.memory().numTensors;
    applyGradients(optimizer, { [v.name]: g });
    expect(tf.engine().backend.numDataIds()).toBe(ids);
    expect(tf.memory().numTensors).toBe(tensors);
    optimizer.dispose();
    tf.dispose([v, g]);
  });
});
