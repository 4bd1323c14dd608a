/**
 * Trainer speed on CPU against PyTorch on the same CPU, side by side in one run (issue 7).
 *
 *   npm run bench:cpu                    (writes docs/benchmarks/cpu-vs-pytorch.md)
 *   npx tsx benchmarks/cpu-vs-pytorch.ts [--epochs 5] [--sets fast,baseline] [--backend auto]
 *                                        [--profile-steps 8] [--no-torch] [--out FILE]
 *
 * Two CNNs, each trained one epoch at a time (Adam 1e-3, batch 32, shuffled; tfjs through the
 * trainer's own loop, trainer/train.ts trainWithEarlyStopping), one warm-up epoch
 * per configuration and then `--epochs` measured epochs, the configurations interleaved (each
 * round runs every configuration once, in a rotating order) so that load from other processes
 * hits them alike:
 *  - the issue's small CNN on 512 random 32x32x3 images, 10 classes;
 *  - the Fashion-MNIST example's base CNN on 1024 real Fashion-MNIST images of classes 0-4.
 * Configurations: the trainer's backend (selectBackend, as the trainer picks it); on wasm, once
 * per kernel set of trainer/wasm-kernels.ts (`--sets`, default 'fast' and 'baseline'); and
 * PyTorch on one thread (benchmarks/torch_epoch.py in a child process, fed the same data) when
 * Debian's python3-torch is installed (`$FOLDSWEEP_PYTHON`, /usr/bin/python3, python3 are tried).
 *
 * Then, for every set, a per-kernel profile of the training step (tf.profile, medians over
 * `--profile-steps` steps) and the time outside kernels (engine, tape, layers, optimizer JS),
 * plus the cost of dispatching one tiny kernel.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { type BackendPreference, selectBackend } from '../trainer/backend.js';
import { trainWithEarlyStopping } from '../trainer/train.js';
import {
  RELAXED_SIMD_FLAG,
  relaxedSimdSupported,
  setWasmFma,
  wasmSimdVariant,
} from '../trainer/wasm-kernels/simd.js';
import {
  registerWasmGradientKernels,
  WASM_KERNEL_SETS,
  type WasmKernelSet,
} from '../trainer/wasm-kernels.js';
import {
  cpuSeconds,
  type Dataset,
  fashionCnn,
  fashionMnist,
  findPython,
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
    sets: { type: 'string', default: 'fast,fast-plain' },
    backend: { type: 'string', default: 'auto' },
    'profile-steps': { type: 'string', default: '9' },
    'no-torch': { type: 'boolean', default: false },
    models: { type: 'string', default: 'issue,fashion,mobilenet' },
    out: { type: 'string' },
  },
});
const MODEL_KEYS = (args.models ?? '').split(',').map((s) => s.trim());
const EPOCHS = Number(args.epochs);

/**
 * A wasm kernel set of trainer/wasm-kernels.ts, or 'fast-plain': the 'fast' set on the plain SIMD
 * build of simd.wat (no fused multiply-add), i.e. the 'fast' set before relaxed SIMD.
 */
type BenchSet = WasmKernelSet | 'fast-plain';
const BENCH_SETS: readonly string[] = [...WASM_KERNEL_SETS, 'fast-plain'];

function applySet(set: BenchSet | undefined): void {
  if (!set) return;
  registerWasmGradientKernels({ set: set === 'fast-plain' ? 'fast' : set });
  setWasmFma(set !== 'fast-plain');
}

/** Restores what the trainer runs: its default kernel set, FMA where supported. */
function defaultSet(): void {
  registerWasmGradientKernels();
  setWasmFma(true);
}

const PROFILE_STEPS = Number(args['profile-steps']);
const BATCH = 32;

interface ModelSpec {
  key: 'issue' | 'fashion' | 'mobilenet';
  title: string;
  data: Dataset;
  build(): tf.LayersModel;
}

/** Keras' _make_divisible: channels rounded to a multiple of 8, never more than 10% down. */
function divisible(v: number, by = 8): number {
  const n = Math.max(by, Math.floor((v + by / 2) / by) * by);
  return n < 0.9 * v ? n + by : n;
}

/**
 * MobileNetV2 (Sandler et al. 2018, as keras.applications builds it) at width `alpha`, random
 * weights: conv 3x3/2, then inverted residual blocks (1x1 expand x6, BN, ReLU6; depthwise 3x3,
 * BN, ReLU6; 1x1 project, BN; identity shortcut where shapes allow), conv 1x1 to 1280, BN, ReLU6,
 * global average pool, dense softmax. Padding 'same' throughout (Keras pads stride-2 depthwise
 * convolutions explicitly; same FLOPs). benchmarks/torch_epoch.py builds the same network.
 */
export function mobileNetV2(
  shape: [number, number, number],
  classes: number,
  alpha = 0.35,
): tf.LayersModel {
  const bn = () => tf.layers.batchNormalization({ momentum: 0.999, epsilon: 1e-3 });
  const relu6 = () => tf.layers.reLU({ maxValue: 6 });
  const input = tf.input({ shape });
  const first = divisible(32 * alpha);
  let x = tf.layers
    .conv2d({ filters: first, kernelSize: 3, strides: 2, padding: 'same', useBias: false })
    .apply(input) as tf.SymbolicTensor;
  x = relu6().apply(bn().apply(x)) as tf.SymbolicTensor;
  let inC = first;
  const settings: [number, number, number, number][] = [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
  ];
  for (const [t, c, n, s] of settings) {
    const outC = divisible(c * alpha);
    for (let i = 0; i < n; i++) {
      const strides = i === 0 ? s : 1;
      let h = x;
      if (t !== 1) {
        h = tf.layers
          .conv2d({ filters: inC * t, kernelSize: 1, padding: 'same', useBias: false })
          .apply(h) as tf.SymbolicTensor;
        h = relu6().apply(bn().apply(h)) as tf.SymbolicTensor;
      }
      h = tf.layers
        .depthwiseConv2d({ kernelSize: 3, strides, padding: 'same', useBias: false })
        .apply(h) as tf.SymbolicTensor;
      h = relu6().apply(bn().apply(h)) as tf.SymbolicTensor;
      h = tf.layers
        .conv2d({ filters: outC, kernelSize: 1, padding: 'same', useBias: false })
        .apply(h) as tf.SymbolicTensor;
      h = bn().apply(h) as tf.SymbolicTensor;
      x = strides === 1 && inC === outC ? (tf.layers.add().apply([x, h]) as tf.SymbolicTensor) : h;
      inC = outC;
    }
  }
  x = tf.layers
    .conv2d({ filters: 1280, kernelSize: 1, padding: 'same', useBias: false })
    .apply(x) as tf.SymbolicTensor;
  x = relu6().apply(bn().apply(x)) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: classes, activation: 'softmax' }).apply(x);
  return tf.model({ inputs: input, outputs: out as tf.SymbolicTensor });
}

const issueData = randomData(512, [32, 32, 3], 10, 42);
const fashionData = fashionMnist(1024);
const mobileData = randomData(256, [96, 96, 3], 10, 7);
const MODELS: ModelSpec[] = [
  {
    key: 'issue',
    title: 'issue CNN, 512 x 32x32x3 random, 10 classes',
    data: issueData,
    build: () => issueCnn(issueData.shape, issueData.classes),
  },
  {
    key: 'fashion',
    title: 'Fashion-MNIST example CNN, 1024 x 28x28x1, 5 classes',
    data: fashionData,
    build: () => fashionCnn(fashionData.shape, fashionData.classes),
  },
  {
    key: 'mobilenet',
    title: 'MobileNetV2-style CNN (width 0.35), 256 x 96x96x3 random, 10 classes',
    data: mobileData,
    build: () => mobileNetV2(mobileData.shape, mobileData.classes),
  },
].filter((m) => MODEL_KEYS.includes(m.key)) as ModelSpec[];

interface Timing {
  wall: number;
  cpu: number;
  loss: number;
}

interface Config {
  label: string;
  model: ModelSpec;
  /** 'torch' or a wasm kernel set; undefined = the backend as selected */
  kind: 'tfjs' | 'torch';
  set?: BenchSet;
  epoch(): Promise<Timing>;
  timings: Timing[];
}

// ---------------------------------------------------------------------------------------------
// PyTorch child process

interface Torch {
  python: string;
  version: string;
  send(cmd: object): Promise<Record<string, unknown>>;
  close(): void;
}

function startTorch(python: string, version: string): Torch {
  const script = path.join(import.meta.dirname, 'torch_epoch.py');
  const child: ChildProcessWithoutNullStreams = spawn(python, [script], {
    env: { ...process.env, OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
  });
  child.stderr.on('data', (d) => process.stderr.write(`[torch] ${d}`));
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  return {
    python,
    version,
    send(cmd) {
      return new Promise((resolve, reject) => {
        waiting.push((line) => {
          const out = JSON.parse(line) as Record<string, unknown>;
          if (out.error) reject(new Error(`torch_epoch.py: ${out.error}`));
          else resolve(out);
        });
        child.stdin.write(`${JSON.stringify(cmd)}\n`);
      });
    },
    close() {
      child.stdin.end(`${JSON.stringify({ cmd: 'quit' })}\n`);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// tfjs

function tfjsConfig(spec: ModelSpec, label: string, set?: BenchSet): Config {
  const { x, y } = tensors(spec.data);
  // The trainer evaluates a validation split after every epoch; keep it tiny (32 images).
  const xVal = x.slice(0, BATCH);
  const yVal = y.slice(0, BATCH);
  const model = spec.build();
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  let seed = 0;
  return {
    label,
    model: spec,
    kind: 'tfjs',
    set,
    timings: [],
    async epoch() {
      applySet(set);
      const c0 = cpuSeconds();
      const t0 = performance.now();
      const r = await trainWithEarlyStopping(
        tf,
        model,
        { xTrain: x, yTrain: y, xVal, yVal },
        { epochs: 1, batchSize: BATCH, patience: 1, objective: 'val_loss', seed: seed++ },
      );
      const wall = (performance.now() - t0) / 1000;
      return { wall, cpu: cpuSeconds() - c0, loss: r.epochs[0].loss };
    },
  };
}

interface KernelRow {
  name: string;
  calls: number;
  ms: number;
  worst: string;
  worstMs: number;
}

/**
 * Where a training step's time goes: each of PROFILE_STEPS steps profiled on its own (tf.profile),
 * per kernel the median over the steps of its time in a step (so that a step preempted by another
 * process does not skew it), and the median wall time of unprofiled steps.
 */
async function profileSteps(spec: ModelSpec, set: BenchSet | undefined) {
  applySet(set);
  const { x, y } = tensors(spec.data, BATCH);
  const model = spec.build();
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  for (let i = 0; i < 3; i++) await model.trainOnBatch(x, y);
  const stepTimes: number[] = [];
  const perStep: Map<string, KernelRow>[] = [];
  // Unprofiled and profiled steps alternate, so that both medians see the same load.
  for (let i = 0; i < PROFILE_STEPS; i++) {
    const t0 = performance.now();
    await model.trainOnBatch(x, y);
    stepTimes.push(performance.now() - t0);
    const info = await tf.profile(async () => {
      await model.trainOnBatch(x, y);
    });
    const byName = new Map<string, KernelRow>();
    for (const k of info.kernels) {
      const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      const row = byName.get(k.name) ?? { name: k.name, calls: 0, ms: 0, worst: '', worstMs: -1 };
      row.calls++;
      row.ms += ms;
      if (ms > row.worstMs) {
        row.worstMs = ms;
        row.worst = k.inputShapes.map((s) => `[${s ?? ''}]`).join(' ');
      }
      byName.set(k.name, row);
    }
    perStep.push(byName);
  }
  model.dispose();
  tf.dispose([x, y]);
  const names = new Set(perStep.flatMap((m) => [...m.keys()]));
  const rows = [...names].map((name) => {
    const seen = perStep.map((m) => m.get(name));
    const slowest = seen.reduce((a, b) => (b && (!a || b.worstMs < a.worstMs) ? b : a));
    return {
      name,
      calls: median(seen.map((r) => r?.calls ?? 0)),
      ms: median(seen.map((r) => r?.ms ?? 0)),
      // the slowest call of the least preempted step
      worst: slowest?.worst ?? '',
      worstMs: slowest?.worstMs ?? 0,
    };
  });
  rows.sort((a, b) => b.ms - a.ms);
  const kernelMs = rows.reduce((sum, r) => sum + r.ms, 0);
  const calls = rows.reduce((sum, r) => sum + r.calls, 0);
  return { stepMs: median(stepTimes), kernelMs, calls, rows };
}

/** Microseconds per call of a kernel on tiny tensors: the engine's fixed cost per kernel. */
function dispatchMicros(): number {
  const a = tf.tensor1d([1, 2, 3, 4]);
  const b = tf.tensor1d([5, 6, 7, 8]);
  for (let i = 0; i < 2000; i++) tf.add(a, b).dispose();
  const n = 20000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) tf.add(a, b).dispose();
  const us = ((performance.now() - t0) / n) * 1000;
  tf.dispose([a, b]);
  return us;
}

// ---------------------------------------------------------------------------------------------

/**
 * The trainer's processes run with Node 20's relaxed-SIMD flag (the local pool passes it); so
 * does this benchmark: without it, it re-runs itself with the flag.
 */
function rerunWithRelaxedSimd(): boolean {
  const wanted = process.versions.node.startsWith('20.');
  if (!wanted || process.execArgv.includes(RELAXED_SIMD_FLAG)) return false;
  const argv = [...process.execArgv, RELAXED_SIMD_FLAG, ...process.argv.slice(1)];
  const r = spawnSync(process.execPath, argv, { stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
  return true;
}

async function main(): Promise<void> {
  if (rerunWithRelaxedSimd()) return;
  const lines: string[] = [];
  const out = (s = '') => {
    lines.push(s);
    console.log(s);
  };
  const selected = await selectBackend({ prefer: args.backend as BackendPreference });
  const onWasm = selected.name === 'wasm';
  const sets = (args.sets ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean) as BenchSet[];
  for (const s of sets) {
    if (!BENCH_SETS.includes(s)) throw new Error(`unknown --sets entry '${s}'`);
  }
  const tfjsVariants: (BenchSet | undefined)[] = onWasm ? sets : [undefined];

  const found = args['no-torch'] ? { missing: '--no-torch given' } : findPython(['torch', 'numpy']);
  const torch = 'python' in found ? startTorch(found.python, found.version) : undefined;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-cpu-'));

  const configs: Config[] = [];
  try {
    for (const spec of MODELS) {
      for (const set of tfjsVariants) {
        const label = set ? `tfjs ${selected.name}, '${set}' kernels` : `tfjs ${selected.name}`;
        configs.push(tfjsConfig(spec, label, set));
      }
      if (torch) {
        const xFile = path.join(dataDir, `${spec.key}.x.f32`);
        const yFile = path.join(dataDir, `${spec.key}.y.i32`);
        writeFileSync(xFile, spec.data.x);
        writeFileSync(yFile, spec.data.y);
        await torch.send({
          cmd: 'load',
          model: spec.key,
          data: xFile,
          labels: yFile,
          shape: [spec.data.y.length, ...spec.data.shape],
          classes: spec.data.classes,
        });
        configs.push({
          label: 'PyTorch, 1 thread',
          model: spec,
          kind: 'torch',
          timings: [],
          async epoch() {
            const r = await torch.send({ cmd: 'epoch', model: spec.key, batch: BATCH });
            return { wall: r.wall as number, cpu: r.cpu as number, loss: r.loss as number };
          },
        });
      }
    }

    const loadStart = loadAverage();
    const t0 = performance.now();
    for (const c of configs) {
      console.error(`warm-up: ${c.model.key} / ${c.label}`);
      await c.epoch();
    }
    for (let round = 0; round < EPOCHS; round++) {
      console.error(`round ${round + 1}/${EPOCHS}`);
      for (let i = 0; i < configs.length; i++) {
        const c = configs[(i + round) % configs.length];
        c.timings.push(await c.epoch());
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const loadEnd = loadAverage();
    if (onWasm) defaultSet();

    out('# Trainer epoch time on CPU vs PyTorch, one thread each');
    out();
    const command = ['npx tsx benchmarks/cpu-vs-pytorch.ts', ...process.argv.slice(2)].join(' ');
    out(`- command: \`${command}\` (\`npm run bench:cpu\`)`);
    out(`- date: ${new Date().toISOString()}`);
    out(`- machine: ${machine()}`);
    out(`- tfjs ${tf.version_core}, trainer backend: ${selected.name} — ${selected.detail}`);
    if (onWasm) {
      out(
        `- simd.wat build: relaxed SIMD ${relaxedSimdSupported() ? 'supported' : 'NOT supported'} ` +
          `(node ${process.execArgv.includes(RELAXED_SIMD_FLAG) ? RELAXED_SIMD_FLAG : 'without the flag'}); ` +
          `'fast' runs the ${wasmSimdVariant()} build (fused multiply-adds), 'fast-plain' the plain SIMD one`,
      );
    }
    out(
      torch
        ? `- PyTorch ${torch.version} (${torch.python}, torch.set_num_threads(1)), benchmarks/torch_epoch.py`
        : `- PyTorch: not found (${'missing' in found ? found.missing : ''}); install Debian's python3-torch to compare`,
    );
    out(
      `- each epoch: Adam(1e-3), batch ${BATCH}, shuffled; tfjs through the trainer's own loop ` +
        `(trainer/train.ts trainWithEarlyStopping, one epoch per call, validation on ${BATCH} ` +
        'images); ' +
        `1 warm-up epoch per configuration, then ${EPOCHS} rounds running every configuration ` +
        `once (rotating order), ${fmt(seconds)} s in all`,
    );
    for (const spec of MODELS) out(`- ${spec.title}: data ${spec.data.source}`);
    out(`- load average (1, 5, 15 min) before: ${loadStart}; after: ${loadEnd}`);
    out();
    out('## Epoch seconds');
    out();
    out(
      '| model | trainer | median | min | max | ms per step | ratio to PyTorch | CPU s median | CPU-time ratio | last loss |',
    );
    out('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    const summary: string[] = [];
    for (const spec of MODELS) {
      const rows = configs.filter((c) => c.model === spec);
      const ref = rows.find((c) => c.kind === 'torch');
      const refMedian = ref ? median(ref.timings.map((t) => t.wall)) : undefined;
      const refCpu = ref ? median(ref.timings.map((t) => t.cpu)) : undefined;
      const steps = Math.ceil(spec.data.y.length / BATCH);
      for (const c of rows) {
        const wall = c.timings.map((t) => t.wall);
        const med = median(wall);
        const cpu = median(c.timings.map((t) => t.cpu));
        const ratio = refMedian ? `${(med / refMedian).toFixed(2)}x` : 'n/a';
        const cpuRatio = refCpu ? `${(cpu / refCpu).toFixed(2)}x` : 'n/a';
        out(
          `| ${spec.title} | ${c.label} | ${fmt(med)} | ${fmt(Math.min(...wall))} | ${fmt(Math.max(...wall))} | ${fmt((med / steps) * 1000)} | ${ratio} | ${fmt(cpu)} | ${cpuRatio} | ${c.timings[c.timings.length - 1].loss.toFixed(3)} |`,
        );
        if (refMedian && refCpu && c.kind === 'tfjs') {
          summary.push(
            `${spec.key} CNN, ${c.label}: ${(med / refMedian).toFixed(2)}x PyTorch's epoch time (${(cpu / refCpu).toFixed(2)}x its CPU time)`,
          );
        }
      }
    }
    out();
    out(
      'Wall-clock seconds per epoch (median, min, max over the measured epochs); CPU s is the ' +
        "training process's user+system time over the same epochs (the PyTorch process's own), " +
        'less sensitive to other load on the machine. Ratio = median epoch / PyTorch median ' +
        'epoch; CPU-time ratio likewise with CPU s. A load average above nproc means other work ' +
        'shared the cores during the run.',
    );
    if (summary.length) {
      out();
      for (const s of summary) out(`- ${s}`);
    }

    {
      const names = tfjsVariants.map((set) => (set ? `'${set}'` : selected.name));
      out();
      out(
        `## Where a training step goes (tf.profile, batch ${BATCH}, model.trainOnBatch, medians of ${PROFILE_STEPS} steps)`,
      );
      for (const spec of MODELS) {
        const profiles = [];
        for (const set of tfjsVariants) profiles.push(await profileSteps(spec, set));
        out();
        out(`### ${spec.title}`);
        out();
        out(`| | ${names.join(' | ')} |`);
        out(`|---|${names.map(() => '---:').join('|')}|`);
        out(`| step, unprofiled (ms) | ${profiles.map((p) => fmt(p.stepMs)).join(' | ')} |`);
        out(`| in kernels (ms) | ${profiles.map((p) => fmt(p.kernelMs)).join(' | ')} |`);
        out(
          `| outside kernels, ~ (ms) | ${profiles.map((p) => fmt(Math.max(0, p.stepMs - p.kernelMs))).join(' | ')} |`,
        );
        out(`| kernel calls | ${profiles.map((p) => Math.round(p.calls)).join(' | ')} |`);
        out();
        const kernels = new Map<string, number>();
        for (const p of profiles) {
          for (const r of p.rows) kernels.set(r.name, Math.max(kernels.get(r.name) ?? 0, r.ms));
        }
        const top = [...kernels].sort((a, b) => b[1] - a[1]).slice(0, 14);
        out(
          `| kernel | calls | ${names.map((n) => `${n} ms per step`).join(' | ')} | slowest call in ${names[0]} (ms, inputs) |`,
        );
        out(`|---|---:|${names.map(() => '---:').join('|')}|---|`);
        for (const [name] of top) {
          const rows = profiles.map((p) => p.rows.find((r) => r.name === name));
          const first = rows[0];
          const worst = first ? `${fmt(first.worstMs)} ${first.worst}` : '';
          out(
            `| ${name} | ${fmt(rows.find((r) => r)?.calls ?? 0)} | ${rows.map((r) => (r ? fmt(r.ms) : '-')).join(' | ')} | ${worst} |`,
          );
        }
      }
      const us = dispatchMicros();
      out();
      out(
        `Dispatch: one tf.add of two 4-element tensors costs ${us.toFixed(1)} µs end to end ` +
          '(engine bookkeeping plus the kernel call), so the fixed cost of a step is roughly ' +
          'its kernel calls x that; "outside kernels" above also counts tfjs-layers, the gradient ' +
          'tape and the optimizer in JavaScript.',
      );
      if (onWasm) defaultSet();
    }
  } finally {
    torch?.close();
    rmSync(dataDir, { recursive: true, force: true });
  }

  if (args.out) {
    mkdirSync(path.dirname(args.out), { recursive: true });
    writeFileSync(args.out, `${lines.join('\n')}\n`);
    console.error(`wrote ${args.out}`);
  }
}

await main();
