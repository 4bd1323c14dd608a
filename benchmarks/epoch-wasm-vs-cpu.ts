/**
 * One training epoch of two small CNNs on the wasm backend (with trainer/wasm-kernels.ts) and on
 * the pure-JS cpu backend, side by side, plus a per-kernel profile of one wasm training step.
 *
 *   npx tsx benchmarks/epoch-wasm-vs-cpu.ts [--epochs 5] [--cpu-batches 4] [--cpu-runs 1]
 *                                           [--skip-cpu] [--out docs/benchmarks/epoch-wasm-vs-cpu.md]
 *
 * Models:
 *  (a) Fashion-MNIST example CNN on 1024 real Fashion-MNIST images of classes 0-4, batch 32.
 *  (b) the small CNN on 512 random 32x32x3 images, batch 32.
 * Both train with Adam and categorical cross-entropy. wasm epochs are timed whole, N times after
 * one warm-up epoch. The cpu backend is far too slow for that: it is timed on `--cpu-batches`
 * batches (after one warm-up batch) and extrapolated to a full epoch, and marked as such.
 */
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../trainer/backend.js';
import { registerWasmGradientKernels } from '../trainer/wasm-kernels.js';

const { values: args } = parseArgs({
  options: {
    epochs: { type: 'string', default: '5' },
    'cpu-batches': { type: 'string', default: '4' },
    'cpu-runs': { type: 'string', default: '1' },
    'skip-cpu': { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const EPOCHS = Number(args.epochs);
const CPU_BATCHES = Number(args['cpu-batches']);
const CPU_RUNS = Number(args['cpu-runs']);
const BATCH = 32;
const FASHION_DIR = '/usr/share/datasets/fashion-mnist';

interface Dataset {
  x: Float32Array;
  /** class ids */
  y: Int32Array;
  shape: [number, number, number];
  classes: number;
  source: string;
}

interface ModelSpec {
  key: string;
  title: string;
  build(): tf.LayersModel;
  data: Dataset;
}

function readIdx(file: string): { dims: number[]; data: Uint8Array } {
  const buf = gunzipSync(readFileSync(file));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const ndim = view.getUint8(3);
  const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i, false));
  return { dims, data: buf.subarray(4 + 4 * ndim) };
}

/** The first n Fashion-MNIST training images of classes 0-4, scaled to [0, 1]. */
function fashionMnist(n: number): Dataset {
  const shape: [number, number, number] = [28, 28, 1];
  try {
    const images = readIdx(path.join(FASHION_DIR, 'train-images-idx3-ubyte.gz'));
    const labels = readIdx(path.join(FASHION_DIR, 'train-labels-idx1-ubyte.gz'));
    const px = 28 * 28;
    const x = new Float32Array(n * px);
    const y = new Int32Array(n);
    let k = 0;
    for (let i = 0; i < labels.dims[0] && k < n; i++) {
      const label = labels.data[i];
      if (label >= 5) continue;
      for (let p = 0; p < px; p++) x[k * px + p] = images.data[i * px + p] / 255;
      y[k++] = label;
    }
    if (k < n) throw new Error(`only ${k} images of classes 0-4`);
    return { x, y, shape, classes: 5, source: `real Fashion-MNIST (${FASHION_DIR})` };
  } catch (err) {
    console.error(`Fashion-MNIST unavailable (${(err as Error).message}); using random data`);
    return { ...randomData(n, shape, 5, 1), source: 'random (Fashion-MNIST not found)' };
  }
}

function randomData(
  n: number,
  shape: [number, number, number],
  classes: number,
  seed: number,
): Dataset {
  let s = seed;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const x = new Float32Array(n * shape[0] * shape[1] * shape[2]);
  for (let i = 0; i < x.length; i++) x[i] = next();
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = Math.floor(next() * classes);
  return { x, y, shape, classes, source: 'random uniform [0,1)' };
}

const conv = (filters: number, extra: Partial<Parameters<typeof tf.layers.conv2d>[0]> = {}) =>
  tf.layers.conv2d({ filters, kernelSize: 3, activation: 'relu', padding: 'same', ...extra });

const MODELS: ModelSpec[] = [
  {
    key: 'a',
    title: '(a) Fashion-MNIST CNN, 1024 x 28x28x1, batch 32',
    data: fashionMnist(1024),
    build() {
      const m = tf.sequential();
      m.add(conv(16, { inputShape: [28, 28, 1] }));
      m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
      m.add(conv(32));
      m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
      m.add(conv(64));
      m.add(tf.layers.globalAveragePooling2d({}));
      m.add(tf.layers.dense({ units: 64, activation: 'relu' }));
      m.add(tf.layers.dense({ units: 5, activation: 'softmax' }));
      return m;
    },
  },
  {
    key: 'b',
    title: '(b) issue CNN, 512 x 32x32x3 random, batch 32',
    data: randomData(512, [32, 32, 3], 10, 42),
    build() {
      const m = tf.sequential();
      m.add(conv(16, { inputShape: [32, 32, 3] }));
      m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
      m.add(conv(32));
      m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
      m.add(conv(64, { strides: 2 }));
      m.add(tf.layers.globalAveragePooling2d({}));
      m.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
      return m;
    },
  },
];

interface Variant {
  label: string;
  backend: 'wasm' | 'cpu';
  fastInput?: boolean;
}

const VARIANTS: Variant[] = [
  { label: 'wasm + added kernels, XNNPACK Conv2DBackpropInput', backend: 'wasm', fastInput: true },
  {
    label: "wasm + added kernels, wasm's built-in Conv2DBackpropInput",
    backend: 'wasm',
    fastInput: false,
  },
  { label: 'cpu (pure JS)', backend: 'cpu' },
];

interface Result {
  model: string;
  variant: Variant;
  epochSeconds: number[];
  /** process CPU time (user + system) per epoch: less sensitive to other load on the machine */
  cpuSeconds: number[];
  extrapolated: boolean;
  note: string;
  finalLoss: number;
}

function tensors(d: Dataset, n = d.y.length) {
  const px = d.shape[0] * d.shape[1] * d.shape[2];
  return tf.tidy(() => ({
    x: tf.tensor4d(d.x.subarray(0, n * px), [n, ...d.shape]),
    y: tf.oneHot(tf.tensor1d(d.y.subarray(0, n), 'int32'), d.classes).toFloat(),
  }));
}

function compiled(spec: ModelSpec): tf.LayersModel {
  const model = spec.build();
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  return model;
}

async function activate(v: Variant): Promise<void> {
  if (v.backend === 'wasm') {
    await selectBackend({ prefer: 'wasm' });
    registerWasmGradientKernels({ fastConv2DBackpropInput: v.fastInput ?? true });
  } else {
    await selectBackend({ prefer: 'cpu' });
  }
}

interface Timing {
  wall: number;
  cpu: number;
  loss: number;
}

async function timeFit(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor): Promise<Timing> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const h = await model.fit(x, y, { epochs: 1, batchSize: BATCH, shuffle: true, verbose: 0 });
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1e6, loss: (h.history.loss as number[])[0] };
}

async function benchWasm(spec: ModelSpec, v: Variant): Promise<Result> {
  await activate(v);
  const { x, y } = tensors(spec.data);
  const model = compiled(spec);
  await timeFit(model, x, y); // warm-up epoch
  const epochSeconds: number[] = [];
  const cpuSeconds: number[] = [];
  let finalLoss = Number.NaN;
  for (let e = 0; e < EPOCHS; e++) {
    const t = await timeFit(model, x, y);
    epochSeconds.push(t.wall);
    cpuSeconds.push(t.cpu);
    finalLoss = t.loss;
  }
  model.dispose();
  tf.dispose([x, y]);
  return {
    model: spec.key,
    variant: v,
    epochSeconds,
    cpuSeconds,
    extrapolated: false,
    note: `${EPOCHS} epochs after 1 warm-up`,
    finalLoss,
  };
}

async function benchCpu(spec: ModelSpec, v: Variant): Promise<Result> {
  await activate(v);
  const n = CPU_BATCHES * BATCH;
  const batchesPerEpoch = Math.ceil(spec.data.y.length / BATCH);
  const warm = tensors(spec.data, BATCH);
  const { x, y } = tensors(spec.data, n);
  const model = compiled(spec);
  await timeFit(model, warm.x, warm.y); // warm-up: one batch
  const epochSeconds: number[] = [];
  const cpuSeconds: number[] = [];
  let finalLoss = Number.NaN;
  const scale = batchesPerEpoch / CPU_BATCHES;
  for (let r = 0; r < CPU_RUNS; r++) {
    const t = await timeFit(model, x, y);
    epochSeconds.push(t.wall * scale);
    cpuSeconds.push(t.cpu * scale);
    finalLoss = t.loss;
  }
  model.dispose();
  tf.dispose([x, y, warm.x, warm.y]);
  return {
    model: spec.key,
    variant: v,
    epochSeconds,
    cpuSeconds,
    extrapolated: true,
    note: `EXTRAPOLATED: ${CPU_RUNS} x ${CPU_BATCHES} batches after 1 warm-up batch, x${batchesPerEpoch / CPU_BATCHES}`,
    finalLoss,
  };
}

interface KernelRow {
  name: string;
  calls: number;
  ms: number;
  worst: string;
  worstMs: number;
}

async function profileStep(
  spec: ModelSpec,
  v: Variant,
): Promise<{ total: number; rows: KernelRow[] }> {
  await activate(v);
  const { x, y } = tensors(spec.data, BATCH);
  const model = compiled(spec);
  await model.trainOnBatch(x, y); // create optimizer state, compile XNNPACK operators
  await model.trainOnBatch(x, y);
  const info = await tf.profile(async () => {
    await model.trainOnBatch(x, y);
  });
  const byName = new Map<string, KernelRow>();
  let total = 0;
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    total += ms;
    const row = byName.get(k.name) ?? { name: k.name, calls: 0, ms: 0, worst: '', worstMs: -1 };
    row.calls++;
    row.ms += ms;
    if (ms > row.worstMs) {
      row.worstMs = ms;
      row.worst = k.inputShapes.map((s) => `[${s ?? ''}]`).join(' ');
    }
    byName.set(k.name, row);
  }
  model.dispose();
  tf.dispose([x, y]);
  return { total, rows: [...byName.values()].sort((a, b) => b.ms - a.ms).slice(0, 10) };
}

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function machine(): string {
  let cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  cpu = cpu.replace(/\s+/g, ' ').trim();
  let nproc = String(os.availableParallelism?.() ?? os.cpus().length);
  try {
    nproc = execSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    // keep os value
  }
  return `${cpu}, nproc ${nproc}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

async function main(): Promise<void> {
  const lines: string[] = [];
  const out = (s = '') => {
    lines.push(s);
    console.log(s);
  };
  const wasm = await selectBackend({ prefer: 'wasm' });
  out('# Epoch time: wasm (with added gradient kernels) vs pure-JS cpu');
  out();
  const command = ['npx tsx benchmarks/epoch-wasm-vs-cpu.ts', ...process.argv.slice(2)].join(' ');
  out(`- command: \`${command}\``);
  out(`- date: ${new Date().toISOString()}`);
  out(`- machine: ${machine()}`);
  out(`- tfjs ${tf.version_core}; wasm: ${wasm.detail}`);
  out(
    '- one process, one thread (wasm threads are off in Node; the cpu backend is single-threaded)',
  );
  out(
    `- load average at start: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  for (const spec of MODELS) out(`- ${spec.title}: data ${spec.data.source}`);
  out(
    '- model (a) uses globalAveragePooling2d (its gradient works on wasm); both use Adam(1e-3) ' +
      'and categorical cross-entropy, shuffle on',
  );
  out();

  const results: Result[] = [];
  for (const spec of MODELS) {
    for (const v of VARIANTS) {
      if (v.backend === 'cpu' && args['skip-cpu']) continue;
      console.error(`… ${spec.key} on ${v.label}`);
      results.push(v.backend === 'cpu' ? await benchCpu(spec, v) : await benchWasm(spec, v));
    }
  }

  out('## Epoch seconds');
  out();
  out(
    '| model | backend | epoch s median | min | max | CPU-time s median | speedup vs cpu | how measured |',
  );
  out('|---|---|---:|---:|---:|---:|---:|---|');
  for (const spec of MODELS) {
    const rows = results.filter((r) => r.model === spec.key);
    const cpu = rows.find((r) => r.variant.backend === 'cpu');
    for (const r of rows) {
      const med = median(r.epochSeconds);
      const speed = cpu ? `${fmt(median(cpu.epochSeconds) / med)}x` : 'n/a';
      const star = r.extrapolated ? ' (extrapolated)' : '';
      out(
        `| ${spec.title} | ${r.variant.label} | ${fmt(med)}${star} | ${fmt(Math.min(...r.epochSeconds))} | ${fmt(Math.max(...r.epochSeconds))} | ${fmt(median(r.cpuSeconds))} | ${speed} | ${r.note} |`,
      );
    }
  }
  out();
  out(
    `cpu rows are EXTRAPOLATED from ${CPU_BATCHES} timed batches to a full epoch (batches per ` +
      'epoch / timed batches); everything else is a whole measured epoch. Epoch seconds are wall ' +
      'clock; CPU-time is user+system time of this process over the same span (it is less ' +
      'affected by other processes competing for the cores). A load average above nproc means ' +
      'other work shared the cores during the run: then trust CPU-time over wall clock.',
  );
  out(
    `- load average after the timings: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  out();

  out('## Per-kernel profile of one training step on wasm (tf.profile, batch 32)');
  for (const spec of MODELS) {
    for (const v of VARIANTS.filter((x) => x.backend === 'wasm')) {
      const p = await profileStep(spec, v);
      out();
      out(`### ${spec.title} — ${v.label}: ${fmt(p.total)} ms of kernels in the step`);
      out();
      out('| kernel | calls | total ms | share | slowest call ms | its input shapes |');
      out('|---|---:|---:|---:|---:|---|');
      for (const r of p.rows) {
        out(
          `| ${r.name} | ${r.calls} | ${fmt(r.ms)} | ${((100 * r.ms) / p.total).toFixed(1)}% | ${fmt(r.worstMs)} | ${r.worst} |`,
        );
      }
    }
  }
  registerWasmGradientKernels();

  if (args.out) {
    mkdirSync(path.dirname(args.out), { recursive: true });
    writeFileSync(args.out, `${lines.join('\n')}\n`);
    try {
      // The repo's `biome check .` also formats markdown (aligned table columns).
      execSync(`npx biome format --write ${JSON.stringify(args.out)}`, { stdio: 'ignore' });
    } catch {
      console.error(`could not run biome format on ${args.out}`);
    }
    console.error(`wrote ${args.out}`);
  }
}

await main();
