/**
 * One training epoch of two small CNNs on the wasm backend (with trainer/wasm-kernels.ts) and on
 * the pure-JS cpu backend, side by side, plus a per-kernel profile of one wasm training step.
 *
 *   npx tsx benchmarks/epoch-wasm-vs-cpu.ts [--epochs 5] [--cpu-batches 4] [--cpu-runs 1]
 *                                           [--skip-cpu] [--out docs/benchmarks/epoch-wasm-vs-cpu.md]
 *
 * Models:
 *  (a) Fashion-MNIST example CNN on 1024 real Fashion-MNIST images of classes 0-4, batch 32.
 *  (b) the issue's small CNN on 512 random 32x32x3 images, batch 32.
 * Both train with Adam and categorical cross-entropy. wasm epochs are timed whole, N times after
 * one warm-up epoch. The cpu backend is far too slow for that: it is timed on `--cpu-batches`
 * batches (after one warm-up batch) and extrapolated to a full epoch, and marked as such.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../trainer/backend.js';
import { registerWasmGradientKernels, type WasmKernelSet } from '../trainer/wasm-kernels.js';
import {
  type Dataset,
  fashionCnn,
  fashionMnist,
  fmt,
  issueCnn,
  loadAverage,
  machine,
  median,
  randomData,
  tensors,
} from './common.js';

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
interface ModelSpec {
  key: string;
  title: string;
  build(): tf.LayersModel;
  data: Dataset;
}

const MODELS: ModelSpec[] = [
  {
    key: 'a',
    title: '(a) Fashion-MNIST CNN, 1024 x 28x28x1, batch 32',
    data: fashionMnist(1024),
    build: () => fashionCnn([28, 28, 1], 5),
  },
  {
    key: 'b',
    title: '(b) issue CNN, 512 x 32x32x3 random, batch 32',
    data: randomData(512, [32, 32, 3], 10, 42),
    build: () => issueCnn([32, 32, 3], 10),
  },
];

interface Variant {
  label: string;
  backend: 'wasm' | 'cpu';
  set?: WasmKernelSet;
}

const VARIANTS: Variant[] = [
  { label: "wasm, 'fast' kernels", backend: 'wasm', set: 'fast' },
  {
    label: "wasm, 'baseline' kernels (XNNPACK Conv2DBackpropInput)",
    backend: 'wasm',
    set: 'baseline',
  },
  {
    label: "wasm, 'minimal' kernels (wasm's own Conv2DBackpropInput)",
    backend: 'wasm',
    set: 'minimal',
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

function compiled(spec: ModelSpec): tf.LayersModel {
  const model = spec.build();
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  return model;
}

async function activate(v: Variant): Promise<void> {
  if (v.backend === 'wasm') {
    await selectBackend({ prefer: 'wasm' });
    registerWasmGradientKernels({ set: v.set ?? 'fast' });
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
  out(`- load average at start: ${loadAverage()}`);
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
  out(`- load average after the timings: ${loadAverage()}`);
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
    console.error(`wrote ${args.out}`);
  }
}

await main();
