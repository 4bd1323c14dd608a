/**
 * Convolution / dense layers with bias and ReLU as one kernel under the gradient tape
 * (trainer/wasm-kernels/fused-layers.ts) against the cpu backend (tfjs-core's unfused path) and
 * against the unfused path on wasm itself (the same kernels in the same order: bit for bit).
 */
import v8 from 'node:v8';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../trainer/backend.js';
import { trainWithEarlyStopping } from '../../../trainer/train.js';
import {
  CONV_BIAS_RELU,
  MATMUL_BIAS_RELU,
  RELU_GRAD_SUM,
  setFusedLayers,
} from '../../../trainer/wasm-kernels/fused-layers.js';
import { RELAXED_SIMD_FLAG, setWasmFma } from '../../../trainer/wasm-kernels/simd.js';
import { registerWasmGradientKernels, type WasmKernelSet } from '../../../trainer/wasm-kernels.js';

// As in the trainer's processes (Node 20): both builds of simd.wat run here.
v8.setFlagsFromString(RELAXED_SIMD_FLAG);

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

const bitwise = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

type Pad = 'same' | 'valid';

interface ConvCase {
  x: [number, number, number, number];
  f: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
}

interface DenseCase {
  a: [number, number];
  b: [number, number];
}

type Case = { kind: 'conv'; c: ConvCase } | { kind: 'dense'; c: DenseCase };

/** The op as tfjs-layers calls it: tf.fused.conv2d / matMul with bias and 'relu'. */
function layerOp(k: Case, ins: tf.Tensor[]): tf.Tensor {
  const [x, w, bias] = ins;
  return k.kind === 'conv'
    ? tf.fused.conv2d({
        x: x as tf.Tensor4D,
        filter: w as tf.Tensor4D,
        strides: k.c.strides,
        pad: k.c.pad,
        bias,
        activation: 'relu',
      })
    : tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias, activation: 'relu' });
}

/**
 * y (outside and under the tape), sum(y * w) and its gradients for input, weights and bias, on one
 * backend and set, and the kernels that ran.
 */
async function run(
  backend: string,
  k: Case,
  opts: { set?: WasmKernelSet; fused?: boolean } = {},
): Promise<{ out: Float32Array[]; kernels: Set<string> }> {
  await tf.setBackend(backend);
  registerWasmGradientKernels({ set: opts.set ?? 'fast' });
  setFusedLayers(opts.fused ?? true);
  try {
    const shapes = k.kind === 'conv' ? [k.c.x, k.c.f, [k.c.f[3]]] : [k.c.a, k.c.b, [k.c.b[1]]];
    let out: Float32Array[] = [];
    const info = await tf.profile(() => {
      out = tf.tidy(() => {
        const ins = shapes.map((s, i) => tf.tensor(values(size(s), 50 + i), s));
        const y = layerOp(k, ins);
        const w = tf.tensor(values(y.size, 77), y.shape);
        // y under the tape too (the fused kernel's forward), through the scalar's value
        let taped = y;
        const { value, grads } = tf.valueAndGrads((...ts: tf.Tensor[]) => {
          taped = tf.keep(layerOp(k, ts));
          return tf.sum(tf.mul(taped, w));
        })(ins);
        const all = [y, taped, value, ...grads].map((g) => g.dataSync() as Float32Array);
        taped.dispose();
        return all;
      });
    });
    return { out, kernels: new Set(info.kernels.map((e) => e.name)) };
  } finally {
    setFusedLayers(true);
    registerWasmGradientKernels({ set: 'fast' });
    await tf.setBackend('wasm');
  }
}

const convCases: ConvCase[] = [
  { x: [1, 5, 5, 1], f: [3, 3, 1, 8], strides: 1, pad: 'same' },
  { x: [1, 5, 5, 1], f: [3, 3, 1, 8], strides: 1, pad: 'valid' },
  { x: [3, 7, 9, 3], f: [3, 3, 3, 16], strides: 1, pad: 'same' },
  { x: [2, 9, 7, 5], f: [3, 3, 5, 24], strides: 2, pad: 'same' },
  { x: [1, 11, 9, 8], f: [3, 3, 8, 16], strides: 2, pad: 'valid' },
  { x: [2, 8, 8, 4], f: [2, 2, 4, 32], strides: [1, 2], pad: 'same' },
  { x: [2, 7, 7, 16], f: [3, 3, 16, 40], strides: 1, pad: 'same' },
];

const denseCases: DenseCase[] = [
  { a: [1, 3], b: [3, 8] },
  { a: [5, 7], b: [7, 16] },
  { a: [9, 64], b: [64, 24] },
];

const cases: Case[] = [
  ...convCases.map((c) => ({ kind: 'conv' as const, c })),
  ...denseCases.map((c) => ({ kind: 'dense' as const, c })),
];

const label = (k: Case) =>
  k.kind === 'conv'
    ? `conv x=[${k.c.x}] f=[${k.c.f}] strides=${JSON.stringify(k.c.strides)} ${k.c.pad}`
    : `dense [${k.c.a}] x [${k.c.b}]`;

beforeAll(async () => {
  const selected = await selectBackend({ prefer: 'wasm' });
  expect(selected.name).toBe('wasm');
  await tf.setBackend('cpu');
  await tf.setBackend('wasm');
});

describe('layers with bias and ReLU as one kernel while training', () => {
  it.each(cases.map((k) => [label(k), k] as const))('%s', async (_label, k) => {
    const cpu = await run('cpu', k);
    expect(cpu.kernels.has(CONV_BIAS_RELU) || cpu.kernels.has(MATMUL_BIAS_RELU)).toBe(false);
    for (const fma of [true, false]) {
      setWasmFma(fma);
      try {
        const fused = await run('wasm', k);
        const unfused = await run('wasm', k, { fused: false });
        // routed through the fused kernels, gradient included
        expect(fused.kernels.has(k.kind === 'conv' ? CONV_BIAS_RELU : MATMUL_BIAS_RELU)).toBe(true);
        expect(fused.kernels.has(RELU_GRAD_SUM)).toBe(true);
        expect(fused.kernels.has('Relu')).toBe(false);
        expect(unfused.kernels.has(CONV_BIAS_RELU) || unfused.kernels.has(MATMUL_BIAS_RELU)).toBe(
          false,
        );
        fused.out.forEach((v, i) => {
          // the same kernels in the same order as tfjs-core's unfused path: bit for bit
          expect(bitwise(v, unfused.out[i]), `fma ${fma}, output ${i}`).toBe(true);
          expect(relErr(v, cpu.out[i]), `fma ${fma}, output ${i} vs cpu`).toBeLessThan(1e-4);
        });
      } finally {
        setWasmFma(true);
      }
    }
  });

  it("keeps tfjs-core's path elsewhere: outside the tape, other activations, no bias, O % 8, 'baseline'", async () => {
    const conv: Case = { kind: 'conv', c: convCases[2] };
    const baseline = await run('wasm', conv, { set: 'baseline' });
    expect(baseline.kernels.has(CONV_BIAS_RELU)).toBe(false);
    const cpu = await run('cpu', conv);
    baseline.out.forEach((v, i) => {
      expect(relErr(v, cpu.out[i])).toBeLessThan(1e-4);
    });

    const odd: Case = {
      kind: 'conv',
      c: { x: [2, 6, 6, 3], f: [3, 3, 3, 6], strides: 1, pad: 'same' },
    };
    const oddRun = await run('wasm', odd);
    expect(oddRun.kernels.has(CONV_BIAS_RELU)).toBe(false);
    const oddCpu = await run('cpu', odd);
    oddRun.out.forEach((v, i) => {
      expect(relErr(v, oddCpu.out[i])).toBeLessThan(1e-4);
    });

    const x = tf.tensor4d(values(2 * 5 * 5 * 3, 1), [2, 5, 5, 3]);
    const filter = tf.tensor4d(values(3 * 3 * 3 * 8, 2), [3, 3, 3, 8]);
    const bias = tf.tensor1d(values(8, 3));
    const names = async (f: () => unknown) =>
      new Set((await tf.profile(() => tf.tidy(f as () => void))).kernels.map((e) => e.name));
    // inference: FusedConv2D, as before
    const predict = await names(() =>
      tf.fused.conv2d({ x, filter, bias, activation: 'relu', pad: 'same', strides: 1 }),
    );
    expect(predict.has('FusedConv2D')).toBe(true);
    expect(predict.has(CONV_BIAS_RELU)).toBe(false);
    for (const op of [
      (t: tf.Tensor) =>
        tf.fused.conv2d({
          x: t as tf.Tensor4D,
          filter,
          bias,
          activation: 'elu',
          pad: 'same',
          strides: 1,
        }),
      (t: tf.Tensor) =>
        tf.fused.conv2d({
          x: t as tf.Tensor4D,
          filter,
          activation: 'relu',
          pad: 'same',
          strides: 1,
        }),
    ]) {
      const ran = await names(() => tf.grad((t: tf.Tensor) => op(t).sum())(x));
      expect(ran.has(CONV_BIAS_RELU)).toBe(false);
    }
    tf.dispose([x, filter, bias]);
  });

  it('computes no input gradient for a first layer, and frees what it allocates', async () => {
    const x = tf.tensor4d(values(2 * 6 * 6 * 1, 5), [2, 6, 6, 1]);
    const filter = tf.variable(tf.tensor4d(values(3 * 3 * 1 * 16, 6), [3, 3, 1, 16]));
    const bias = tf.variable(tf.tensor1d(values(16, 7)));
    const once = () =>
      tf.tidy(() => {
        const { grads, value } = tf.variableGrads(
          () =>
            tf.fused
              .conv2d({ x, filter, bias, activation: 'relu', pad: 'same', strides: 1 })
              .square()
              .sum() as tf.Scalar,
        );
        value.dataSync();
        return Object.values(grads).map((g) => g.dataSync());
      });
    const info = await tf.profile(() => {
      once();
    });
    const ran = info.kernels.map((e) => e.name);
    expect(ran).toContain(CONV_BIAS_RELU);
    expect(ran).toContain('Conv2DBackpropFilter');
    expect(ran).not.toContain('Conv2DBackpropInput');
    const ids = tf.engine().backend.numDataIds();
    const tensors = tf.memory().numTensors;
    once();
    expect(tf.engine().backend.numDataIds()).toBe(ids);
    expect(tf.memory().numTensors).toBe(tensors);
    tf.dispose([x, filter, bias]);
  });

  it("trains a layers CNN through the trainer's loop bit for bit as unfused, close to cpu", async () => {
    const build = () => {
      const m = tf.sequential();
      m.add(
        tf.layers.conv2d({
          filters: 8,
          kernelSize: 3,
          activation: 'relu',
          padding: 'same',
          inputShape: [9, 9, 1],
        }),
      );
      m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
      m.add(tf.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, activation: 'relu' }));
      m.add(tf.layers.flatten());
      m.add(tf.layers.dense({ units: 8, activation: 'relu' }));
      m.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
      m.setWeights(
        m.getWeights().map((w, i) => tf.tensor(values(w.size, 200 + i), w.shape).mul(0.5)),
      );
      m.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
      return m;
    };
    const train = async (backend: string, fused: boolean) => {
      await tf.setBackend(backend);
      setFusedLayers(fused);
      try {
        const model = build();
        const xs = tf.tensor4d(
          values(24 * 81, 9).map((v) => v + 1),
          [24, 9, 9, 1],
        );
        const ys = tf.oneHot(
          tf.tensor1d(
            Array.from({ length: 24 }, (_, i) => i % 3),
            'int32',
          ),
          3,
        );
        const data = { xTrain: xs, yTrain: ys, xVal: xs.slice(0, 8), yVal: ys.slice(0, 8) };
        const before = tf.memory().numTensors;
        let r: Awaited<ReturnType<typeof trainWithEarlyStopping>> | undefined;
        const info = await tf.profile(async () => {
          r = await trainWithEarlyStopping(tf, model, data, {
            epochs: 3,
            batchSize: 8,
            patience: 5,
            objective: 'val_loss',
          });
        });
        const kernels = new Set(info.kernels.map((e) => e.name));
        const kept = tf.memory().numTensors - before;
        const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
        model.dispose();
        tf.dispose([xs, ys, data.xVal, data.yVal]);
        const losses = (r as NonNullable<typeof r>).epochs.map((e) => e.loss);
        return { losses, weights, kept, kernels };
      } finally {
        setFusedLayers(true);
        await tf.setBackend('wasm');
      }
    };
    const fused = await train('wasm', true);
    const unfused = await train('wasm', false);
    const cpu = await train('cpu', true);
    for (const k of [CONV_BIAS_RELU, MATMUL_BIAS_RELU, RELU_GRAD_SUM]) {
      expect(fused.kernels.has(k), k).toBe(true);
      expect(unfused.kernels.has(k), k).toBe(false);
    }
    expect(fused.losses).toEqual(unfused.losses);
    fused.weights.forEach((w, i) => {
      expect(bitwise(w, unfused.weights[i]), `weight ${i}`).toBe(true);
    });
    fused.losses.forEach((l, i) => {
      expect(Math.abs(l - cpu.losses[i])).toBeLessThan(1e-4);
    });
    fused.weights.forEach((w, i) => {
      expect(relErr(w, cpu.weights[i])).toBeLessThan(1e-3);
    });
    expect(fused.kept).toBe(unfused.kept);
  });
});
