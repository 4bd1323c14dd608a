/**
 * The 'fast' set's SIMD kernels (trainer/wasm-kernels/simd.wat) against the cpu backend:
 * MaxPoolGrad, Add/Sub/Multiply/RealDiv, Step, Sum, Identity/Cast, BatchMatMul, and the module
 * itself.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../trainer/backend.js';
import { relaxedWat } from '../../../trainer/wasm-kernels/relaxed.js';
import type { WasmBackend } from '../../../trainer/wasm-kernels/scope.js';
import {
  RELAXED_SIMD_FLAG,
  setWasmFma,
  simdFor,
  wasmSimdVariant,
} from '../../../trainer/wasm-kernels/simd.js';
import {
  SIMD_FMA_WASM_BASE64,
  SIMD_WASM_BASE64,
  SIMD_WAT_SHA256,
} from '../../../trainer/wasm-kernels/simd-module.js';
import { registerWasmGradientKernels } from '../../../trainer/wasm-kernels.js';

const KERNELS_DIR = path.resolve(import.meta.dirname, '../../../trainer/wasm-kernels');

// As in the trainer's processes (Node 20): both builds of simd.wat can run here.
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

/** Exact equality, NaN equal to NaN. */
function expectSame(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  expect(a.length, what).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(b[i])) expect(Number.isNaN(a[i]), `${what}[${i}]`).toBe(true);
    else expect(a[i], `${what}[${i}]`).toBe(b[i]);
  }
}

/** max |a - b| relative to the largest magnitude of the reference (at least 1). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

type Input = { data: Float32Array | number[]; shape: number[]; dtype?: 'float32' | 'bool' };

/** Runs a kernel through the engine on one backend; inputs given as data + shape. */
async function run(
  backend: string,
  kernel: string,
  inputs: Record<string, Input>,
  attrs: object = {},
): Promise<{ data: Float32Array; shape: number[]; dtype: string }> {
  await tf.setBackend(backend);
  const ins: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) {
    ins[k] = tf.tensor(v.data, v.shape, v.dtype ?? 'float32');
  }
  try {
    const out = tf.engine().runKernel(kernel, ins as tf.NamedTensorMap, attrs as tf.NamedAttrMap);
    const t = out as tf.Tensor;
    const data = Float32Array.from(t.dataSync() as ArrayLike<number>);
    t.dispose();
    return { data, shape: t.shape, dtype: t.dtype };
  } finally {
    tf.dispose(Object.values(ins));
  }
}

async function sameAsCpu(
  kernel: string,
  inputs: Record<string, Input>,
  attrs: object = {},
  tol = 0,
) {
  const w = await run('wasm', kernel, inputs, attrs);
  const c = await run('cpu', kernel, inputs, attrs);
  expect(w.shape).toEqual(c.shape);
  expect(w.dtype).toBe(c.dtype);
  if (tol === 0) expectSame(w.data, c.data, kernel);
  else expect(relErr(w.data, c.data)).toBeLessThan(tol);
  return w;
}

const input = (shape: number[], seed: number) => ({ data: values(size(shape), seed), shape });

beforeAll(async () => {
  const selected = await selectBackend({ prefer: 'wasm' });
  expect(selected.name).toBe('wasm');
  registerWasmGradientKernels({ set: 'fast' });
  await tf.setBackend('cpu');
  await tf.setBackend('wasm');
});

describe('the SIMD module', () => {
  it('is built from the committed simd.wat (rebuild: npx tsx trainer/wasm-kernels/build-simd.ts)', () => {
    const wat = readFileSync(path.join(KERNELS_DIR, 'simd.wat'));
    expect(createHash('sha256').update(wat).digest('hex')).toBe(SIMD_WAT_SHA256);
    // Needs wabt's wat2wasm (`apt-get install wabt`, done by .ci/run): fails loudly without it.
    const dir = mkdtempSync(path.join(tmpdir(), 'simd-test-'));
    try {
      const out = path.join(dir, 'simd.wasm');
      execFileSync('wat2wasm', [path.join(KERNELS_DIR, 'simd.wat'), '-o', out], {
        stdio: 'ignore',
      });
      expect(readFileSync(out).toString('base64')).toBe(SIMD_WASM_BASE64);
      const relaxed = relaxedWat(readFileSync(path.join(KERNELS_DIR, 'simd.wat'), 'utf8'));
      expect(relaxed.fused).toBe(50); // the convolution tiles and the depthwise 3x3 loops
      expect(relaxed.text.match(/f32x4\.relaxed_madd/g)).toHaveLength(50);
      writeFileSync(path.join(dir, 'fma.wat'), relaxed.text);
      const fma = path.join(dir, 'fma.wasm');
      execFileSync('wat2wasm', ['--enable-relaxed-simd', path.join(dir, 'fma.wat'), '-o', fma], {
        stdio: 'ignore',
      });
      expect(readFileSync(fma).toString('base64')).toBe(SIMD_FMA_WASM_BASE64);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('falls back to the plain build where relaxed SIMD does not validate (no flag)', () => {
    const simdTs = path.join(KERNELS_DIR, 'simd.ts');
    const script =
      `const s = await import(${JSON.stringify(simdTs)}); ` +
      'console.log(JSON.stringify([s.relaxedSimdSupported(), s.wasmSimdVariant()]));';
    const run = (extra: string[]) => {
      const r = spawnSync(
        process.execPath,
        ['--import', 'tsx', ...extra, '--input-type=module', '-e', script],
        { encoding: 'utf8', cwd: path.resolve(KERNELS_DIR, '../..') },
      );
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout.trim()) as unknown;
    };
    expect(run([])).toEqual([false, 'plain']);
    expect(run([RELAXED_SIMD_FLAG])).toEqual([true, 'fma']);
  });

  it("runs on the wasm backend's memory, and is refused a shared memory", () => {
    expect(simdFor(tf.backend() as unknown as WasmBackend)).toBeDefined();
    const Wasm = (
      globalThis as unknown as {
        WebAssembly: { Memory: new (d: object) => unknown };
      }
    ).WebAssembly;
    const shared = new Wasm.Memory({ initial: 1, maximum: 2, shared: true });
    const fake = { wasm: { asm: { memory: shared } } } as unknown as WasmBackend;
    expect(simdFor(fake)).toBeUndefined();
    expect(simdFor({} as WasmBackend)).toBeUndefined();
  });
});

describe('Conv2D (forward) like the cpu backend', () => {
  type Pad = 'valid' | 'same' | number | [[0, 0], [number, number], [number, number], [0, 0]];
  const cases: [number[], number[], number | [number, number], Pad, string?][] = [
    [[2, 9, 7, 3], [3, 3, 3, 16], 1, 'same'],
    [[2, 9, 8, 16], [3, 3, 16, 32], 1, 'same'],
    [[1, 10, 10, 5], [3, 3, 5, 24], 2, 'same'], // 16- and 8-wide tiles
    [[2, 8, 8, 32], [3, 3, 32, 64], 2, 'same'],
    [[1, 11, 13, 4], [5, 3, 4, 8], [2, 3], 'valid'],
    [[1, 7, 7, 1], [3, 3, 1, 8], 1, 'valid'],
    [[3, 5, 4, 2], [1, 1, 2, 8], 1, 'valid'],
    [[1, 6, 6, 2], [3, 3, 2, 8], 2, 1, 'ceil'],
    [
      [1, 7, 6, 3],
      [3, 2, 3, 8],
      1,
      [
        [0, 0],
        [1, 2],
        [0, 1],
        [0, 0],
      ],
    ],
    [[1, 6, 6, 3], [3, 3, 3, 6], 1, 'same'], // O % 8 != 0: wasm's own
  ];
  it.each(
    cases.flatMap((c) => [
      [`${JSON.stringify(c)} fma`, c, true] as const,
      [`${JSON.stringify(c)} plain`, c, false] as const,
    ]),
  )('%s', async (_label, c, fma) => {
    const [x, f, strides, pad, dimRoundingMode] = c;
    setWasmFma(fma);
    try {
      expect(wasmSimdVariant()).toBe(fma ? 'fma' : 'plain');
      await sameAsCpu(
        'Conv2D',
        { x: input(x, 1), filter: input(f, 2) },
        { strides, pad, dataFormat: 'NHWC', dilations: 1, dimRoundingMode },
        1e-5,
      );
    } finally {
      setWasmFma(true);
    }
  });

  it.each([
    [[2, 9, 7, 8], 1, 'same'],
    [[2, 9, 7, 8], 2, 'same'],
    [[1, 8, 8, 4], 2, 'valid'],
    [[1, 6, 7, 12], [1, 2], 1],
    [[1, 6, 6, 6], 1, 'same'], // C % 4 != 0: wasm's own
  ] as [number[], number | [number, number], 'same' | 'valid' | number][])(
    'DepthwiseConv2dNative 3x3 x=%j strides %j pad %j',
    async (x, strides, pad) => {
      for (const fma of [true, false]) {
        setWasmFma(fma);
        try {
          await sameAsCpu(
            'DepthwiseConv2dNative',
            { x: input(x, 1), filter: input([3, 3, x[3], 1], 2) },
            { strides, pad, dilations: 1 },
            1e-5,
          );
        } finally {
          setWasmFma(true);
        }
      }
    },
  );

  it('leaves dilated convolutions to wasm', async () => {
    await sameAsCpu(
      'Conv2D',
      { x: input([1, 9, 9, 2], 1), filter: input([3, 3, 2, 8], 2) },
      { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 2 },
      1e-5,
    );
  });
});

describe('MaxPoolGrad and MaxPool like the cpu backend', () => {
  interface PoolCase {
    x: [number, number, number, number];
    filter: number | [number, number];
    strides: number | [number, number];
    pad: 'valid' | 'same' | number;
  }
  const cases: PoolCase[] = [
    { x: [2, 8, 8, 16], filter: 2, strides: 2, pad: 'valid' }, // windows tile the input
    { x: [1, 4, 6, 4], filter: 2, strides: 2, pad: 'valid' }, // tiled, batch 1, 4 channels
    { x: [3, 2, 2, 12], filter: 2, strides: 2, pad: 'same' }, // tiled, one window per image
    { x: [2, 8, 8, 16], filter: 2, strides: 2, pad: 'same' },
    { x: [2, 7, 9, 5], filter: 2, strides: 2, pad: 'same' }, // odd sizes: padded windows
    { x: [2, 7, 9, 5], filter: 2, strides: 2, pad: 'valid' }, // last row/col not covered
    { x: [2, 7, 9, 8], filter: 2, strides: 2, pad: 'valid' },
    { x: [1, 9, 9, 6], filter: 3, strides: 2, pad: 'same' }, // overlapping windows
    { x: [1, 6, 6, 4], filter: 3, strides: 1, pad: 'same' },
    { x: [1, 6, 6, 1], filter: 2, strides: 2, pad: 'valid' },
    { x: [3, 6, 4, 3], filter: [3, 2], strides: [2, 1], pad: 'valid' },
    { x: [1, 8, 8, 17], filter: 2, strides: 3, pad: 'valid' }, // gaps between windows
    { x: [1, 7, 7, 8], filter: 3, strides: 2, pad: 1 },
  ];

  it.each(cases.map((c) => [JSON.stringify(c), c] as const))('%s', async (_label, c) => {
    const info = tf.backend_util.computePool2DInfo(c.x, c.filter, c.strides, 1, c.pad);
    // Few distinct values (many ties, like ReLU zeros), a few NaN and -Infinity.
    const x = values(size(c.x), 3).map((v) => Math.round(v * 2) / 2);
    x[1] = Number.NaN;
    x[5] = Number.NEGATIVE_INFINITY;
    x[x.length - 2] = Number.NaN;
    const attrs = { filterSize: c.filter, strides: c.strides, pad: c.pad };
    await tf.setBackend('cpu');
    const y = tf.maxPool(tf.tensor4d(x, c.x), c.filter, c.strides, c.pad);
    const yData = Float32Array.from(y.dataSync());
    y.dispose();
    await sameAsCpu(
      'MaxPoolGrad',
      {
        dy: input(info.outShape, 9),
        input: { data: x, shape: c.x },
        output: { data: yData, shape: info.outShape },
      },
      attrs,
      1e-6,
    );
    // MaxPool's own loop (2x2, stride 2, no padding, 4k channels); wasm's for the rest differs
    // from cpu on NaN windows and -0, which is not ours to test.
    if (c.filter === 2 && c.strides === 2 && c.x[3] % 4 === 0 && info.padInfo.top === 0) {
      await sameAsCpu('MaxPool', { x: { data: x, shape: c.x } }, attrs);
    }
  });

  it('sends all of a tied window to its first position, nothing from an all-NaN window', async () => {
    const attrs = { filterSize: 2, strides: 2, pad: 'valid' };
    const dy = { data: [5, 7], shape: [1, 1, 1, 2] };
    // One 2x2 window, 2 channels: channel 0 all zeros (a tie), channel 1 all ones.
    const ties = { data: [0, 1, 0, 1, 0, 1, 0, 1], shape: [1, 2, 2, 2] };
    const w = await sameAsCpu('MaxPoolGrad', { dy, input: ties, output: ties }, attrs);
    expect(Array.from(w.data)).toEqual([5, 7, 0, 0, 0, 0, 0, 0]);
    // Channel 0 all NaN: no gradient at all.
    const nan = {
      data: [Number.NaN, 1, Number.NaN, 1, Number.NaN, 1, Number.NaN, 1],
      shape: [1, 2, 2, 2],
    };
    const v = await sameAsCpu('MaxPoolGrad', { dy, input: nan, output: ties }, attrs);
    expect(Array.from(v.data)).toEqual([0, 7, 0, 0, 0, 0, 0, 0]);
  });
});

describe('elementwise kernels like the cpu backend', () => {
  const withSpecials = (shape: number[], seed: number) => {
    const d = values(size(shape), seed);
    if (d.length > 3) {
      d[0] = Number.NaN;
      d[1] = 0;
      d[2] = Number.POSITIVE_INFINITY;
    }
    return { data: d, shape };
  };

  it.each([
    ['same shape', [37], [37]],
    ['same shape, multiple of 4', [4, 16], [4, 16]],
    ['b scalar', [3, 5, 7], []],
    ['b [1]', [33], [1]],
    ['a scalar', [], [2, 9]],
    ['both scalars', [1], []],
    ['bias', [2, 3, 3, 12], [12]],
    ['bias [1,1,C]', [3, 2, 5], [1, 1, 5]],
    ['bias first', [7], [4, 7]],
    ['other broadcast (built-in)', [4, 1], [1, 5]],
    ['row broadcast (built-in)', [4, 5], [4, 1]],
  ])('Add / Sub / Multiply / RealDiv: %s', async (_label, aShape, bShape) => {
    for (const kernel of ['Add', 'Sub', 'Multiply', 'RealDiv']) {
      // Bias shapes only take the SIMD path for Add; the others fall back, and must still match.
      await sameAsCpu(kernel, { a: withSpecials(aShape, 1), b: withSpecials(bShape, 2) });
    }
  });

  it('Step with alpha, NaN kept', async () => {
    for (const alpha of [0, 0.25]) {
      await sameAsCpu('Step', { x: withSpecials([5, 7], 4) }, { alpha });
    }
  });

  it.each([
    ['[32, 64] x [64, 64] (a dense layer)', [32, 64], [64, 64], false, false],
    ['dy x Wᵀ', [32, 10], [64, 10], false, true],
    ['xᵀ x dy', [32, 64], [32, 16], true, false],
    ['both transposed, odd sizes', [7, 5], [8, 7], true, true],
    ['odd rows, batch 1 of rank 3', [1, 5, 9], [1, 9, 24], false, false],
    ['one row', [1, 3], [3, 8], false, false],
    ['columns not a multiple of 8 (built-in)', [6, 4], [4, 5], false, false],
    ['batch of 2 (built-in)', [2, 3, 4], [2, 4, 8], false, false],
  ])('BatchMatMul %s', async (_label, aShape, bShape, transposeA, transposeB) => {
    await sameAsCpu(
      'BatchMatMul',
      { a: input(aShape as number[], 1), b: input(bShape as number[], 2) },
      { transposeA, transposeB },
      1e-5,
    );
  });

  it.each([
    ['all but last', [4, 6, 6, 12], [0, 1, 2], false],
    ['all but last, negative axes, keepDims', [3, 5, 7], [-3, -2], true],
    ['all but last, odd channels', [50, 3], [0], false],
    ['last axis (built-in)', [4, 6], [1], false],
    ['the axis before the last, keepDims', [4, 6, 3], [1], true],
    ['spatial axes (global average pool)', [3, 5, 4, 8], [1, 2], false],
    ['spatial axes, odd channels, keepDims', [1, 3, 3, 5], [-3, -2], true],
    ['first axis of three (built-in)', [4, 6, 3], [0], false],
    ['everything (built-in)', [4, 6], [0, 1], false],
  ])('Sum %s', async (_label, shape, axis, keepDims) => {
    await sameAsCpu('Sum', { x: input(shape as number[], 5) }, { axis, keepDims }, 1e-6);
  });

  it.each([
    ['rows of images', [6, 4, 3, 2], [5, 0, 5, 2], 0],
    ['2-D indices', [7, 3], [2, 3, 4, 5, 6, 0], 0],
    ['inner axis', [3, 5, 2], [4, 0, 1], 1],
    ['last axis', [2, 3, 4], [3, 3, 0], 2],
    ['no indices', [4, 2], [], 0],
  ])('GatherV2 %s', async (_label, xShape, idx, axis) => {
    const indicesShape = _label === '2-D indices' ? [2, 3] : [idx.length];
    const gatherOn = async (backend: string, dtype: 'float32' | 'int32' | 'bool') => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const v = values(size(xShape), 3);
        // (wasm's own float-to-bool Cast does not clamp to 0/1: build each dtype directly)
        const x =
          dtype === 'bool'
            ? tf.tensor(
                Array.from(v, (e) => e > 0),
                xShape,
                'bool',
              )
            : tf.tensor(
                Array.from(v, (e) => Math.round(e * 10)),
                xShape,
                dtype,
              );
        const g = tf.gather(x, tf.tensor(idx, indicesShape, 'int32'), axis);
        return {
          data: Array.from(g.dataSync() as ArrayLike<number>),
          shape: g.shape,
          dtype: g.dtype,
        };
      });
    };
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      expect(await gatherOn('wasm', dtype)).toEqual(await gatherOn('cpu', dtype));
    }
  });

  it('GatherV2 refuses an index out of range like wasm and cpu', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    expect(() => tf.gather(x, tf.tensor1d([0, 2], 'int32'))).toThrow(
      /GatherV2: the index value 2 is not in \[0, 1\]/,
    );
    x.dispose();
  });

  it('Identity and same-dtype Cast share data; freeing either keeps the other intact', async () => {
    await tf.setBackend('wasm');
    const ids = tf.engine().backend.numDataIds();
    const x = tf.tensor([1, 2, 3, 4]);
    const a = tf.clone(x);
    const b = tf.cast(x, 'float32');
    expect(tf.engine().backend.numDataIds()).toBe(ids + 1);
    x.dispose();
    expect(Array.from(a.dataSync())).toEqual([1, 2, 3, 4]);
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3, 4]);
    b.dispose();
    expect(tf.engine().backend.numDataIds()).toBe(ids);
    // Other casts still convert (wasm's own kernel).
    await sameAsCpu('Cast', { x: { data: [1.7, -2.5, 3, 0], shape: [4] } }, { dtype: 'int32' });
    const s = tf.tensor(['a', 'b']);
    expect(tf.clone(s).dataSync()).toEqual(['a', 'b']);
    s.dispose();
  });

  it.each([
    ['all but last', [4, 6, 6, 12], [0, 1, 2], false],
    ['all but last, keepDims, odd channels', [3, 5, 7], [0, 1], true],
    ['spatial axes (global average pool)', [3, 5, 4, 8], [1, 2], false],
    ['spatial axes, batch 1, odd channels, keepDims', [1, 3, 3, 5], [1, 2], true],
    ['last axis (built-in)', [4, 6], [1], false],
  ])('Mean %s', async (_label, shape, axis, keepDims) => {
    await sameAsCpu('Mean', { x: input(shape as number[], 5) }, { axis, keepDims }, 1e-6);
  });

  it.each([
    ['a channel vector', [1, 1, 1, 12], [2, 3, 4, 1]],
    ['along its own axis too', [1, 1, 5], [3, 2, 3]],
    ['a vector', [7], [5]],
    ['a 2-D tensor (built-in)', [2, 3], [2, 2]],
  ])('Tile of %s', async (_label, shape, reps) => {
    await sameAsCpu('Tile', { x: input(shape, 3) }, { reps });
  });

  const bools = (shape: number[], seed: number): Input => ({
    data: Array.from(values(size(shape), seed), (v) => (v > 0 ? 1 : 0)),
    shape,
    dtype: 'bool',
  });

  it.each([
    ['x and a scalar', [3, 5, 7], []],
    ['x and [1]', [37], [1]],
    ['a scalar and x', [], [2, 9]],
    ['same shapes (built-in)', [4, 5], [4, 5]],
  ])('GreaterEqual / LessEqual / Greater / Less of %s, NaN false', async (_l, aShape, bShape) => {
    const a = withSpecials(aShape, 1);
    const b = bShape.length === 0 || size(bShape) === 1 ? { data: [0.25], shape: bShape } : null;
    const bIn = b ?? withSpecials(bShape, 2);
    const aIn = size(aShape) === 1 ? { data: [0], shape: aShape } : a;
    for (const kernel of ['GreaterEqual', 'LessEqual', 'Greater', 'Less']) {
      const w = await sameAsCpu(kernel, { a: aIn, b: bIn });
      expect(w.dtype).toBe('bool');
    }
  });

  it('LogicalAnd and Select like cpu', async () => {
    for (const n of [3, 16, 45]) {
      await sameAsCpu('LogicalAnd', { a: bools([n], 1), b: bools([n], 2) });
      await sameAsCpu('Select', {
        condition: bools([n], 3),
        t: withSpecials([n], 4),
        e: input([n], 5),
      });
    }
    // broadcasting condition: wasm's own
    await sameAsCpu('Select', { condition: bools([3], 6), t: input([3], 4), e: input([3], 5) });
  });

  it.each([
    ['every input per channel', [2, 5, 5, 12], true, true],
    ['no offset, no scale, odd channels', [4, 7], false, false],
  ])('FusedBatchNorm with %s', async (_label, shape, offset, scale) => {
    const c = shape[shape.length - 1];
    const variance = { data: Array.from(values(c, 7), (v) => v * v + 0.1), shape: [c] };
    const inputs: Record<string, Input> = {
      x: input(shape, 1),
      mean: input([c], 2),
      variance,
    };
    if (offset) inputs.offset = input([c], 3);
    if (scale) inputs.scale = input([c], 4);
    await sameAsCpu('FusedBatchNorm', inputs, { varianceEpsilon: 1e-3 }, 1e-5);
  });

  it('FusedConv2D: linear and relu, with and without a bias; relu6 by wasm', async () => {
    const x = input([2, 7, 6, 5], 1);
    const filter = input([3, 3, 5, 16], 2);
    const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1 };
    for (const fma of [true, false]) {
      setWasmFma(fma);
      try {
        await sameAsCpu('FusedConv2D', { x, filter }, { ...attrs, activation: 'linear' }, 1e-5);
        await sameAsCpu(
          'FusedConv2D',
          { x, filter, bias: input([16], 3) },
          { ...attrs, strides: 2, activation: 'linear' },
          1e-5,
        );
        await sameAsCpu(
          'FusedConv2D',
          { x, filter, bias: input([16], 3) },
          { ...attrs, activation: 'relu' },
          1e-5,
        );
        await sameAsCpu(
          'FusedConv2D',
          { x: input([1, 9, 7, 5], 4), filter },
          { ...attrs, strides: 2, pad: 'valid', activation: 'relu' },
          1e-5,
        );
        await sameAsCpu(
          'FusedConv2D',
          { x, filter: input([3, 3, 5, 8], 5), bias: input([8], 6) },
          { ...attrs, activation: 'relu6' },
          1e-5,
        );
      } finally {
        setWasmFma(true);
      }
    }
  });

  it('frees what it allocates', async () => {
    await tf.setBackend('wasm');
    const a = tf.tensor4d(values(2 * 4 * 4 * 8, 1), [2, 4, 4, 8]);
    const b = tf.tensor1d(values(8, 2));
    const once = () =>
      tf.tidy(() => {
        tf.sum(tf.add(a, b), [0, 1, 2]).dataSync();
        tf.step(tf.mul(a, 2)).dataSync();
        tf.div(tf.sub(a, a), 3).dataSync();
        tf.grad((t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid').sum())(a).dataSync();
        tf.moments(a, [0, 1, 2]).variance.dataSync();
        tf.batchNorm(a, tf.mean(a, [0, 1, 2]), b.square().add(1), b, b).dataSync();
        tf.grad((t: tf.Tensor) => tf.clipByValue(t, 0, 0.5).sum())(a).dataSync();
        tf.tile(b.reshape([1, 1, 1, 8]), [2, 4, 4, 1]).dataSync();
      });
    once();
    const ids = tf.engine().backend.numDataIds();
    once();
    once();
    expect(tf.engine().backend.numDataIds()).toBe(ids);
    tf.dispose([a, b]);
  });
});
