/** Data, models and formatting shared by the epoch benchmarks in this folder. */
import { execSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { gunzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';

export const FASHION_DIR = '/usr/share/datasets/fashion-mnist';

export interface Dataset {
  /** images, NHWC float32 in [0, 1] */
  x: Float32Array;
  /** class ids */
  y: Int32Array;
  shape: [number, number, number];
  classes: number;
  source: string;
}

function readIdx(file: string): { dims: number[]; data: Uint8Array } {
  const buf = gunzipSync(readFileSync(file));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const ndim = view.getUint8(3);
  const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i, false));
  return { dims, data: buf.subarray(4 + 4 * ndim) };
}

/** n uniform [0, 1) images with uniform labels, from a fixed seed (an LCG). */
export function randomData(
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

/** The first n Fashion-MNIST training images of classes 0-4, scaled to [0, 1]. */
export function fashionMnist(n: number): Dataset {
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

const conv = (filters: number, extra: Partial<Parameters<typeof tf.layers.conv2d>[0]> = {}) =>
  tf.layers.conv2d({ filters, kernelSize: 3, activation: 'relu', padding: 'same', ...extra });

/**
 * The issue's small CNN: conv 16 3x3 relu same, maxpool 2, conv 32 3x3 relu same, maxpool 2,
 * conv 64 3x3 relu same stride 2, global average pool, dense softmax.
 */
export function issueCnn(shape: [number, number, number], classes: number): tf.Sequential {
  const m = tf.sequential();
  m.add(conv(16, { inputShape: shape }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(conv(32));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(conv(64, { strides: 2 }));
  m.add(tf.layers.globalAveragePooling2d({}));
  m.add(tf.layers.dense({ units: classes, activation: 'softmax' }));
  return m;
}

/**
 * The Fashion-MNIST example's base CNN as it was when input-size-epoch.ts was measured (conv3 64
 * filters; examples/fashion-mnist/pretrain-base.ts now gives conv3 128, see
 * docs/benchmarks/pretrain-base.md).
 */
export function fashionCnn(shape: [number, number, number], classes: number): tf.Sequential {
  const m = tf.sequential();
  m.add(conv(16, { inputShape: shape }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(conv(32));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(conv(64));
  m.add(tf.layers.globalAveragePooling2d({}));
  m.add(tf.layers.dense({ units: 64, activation: 'relu' }));
  m.add(tf.layers.dense({ units: classes, activation: 'softmax' }));
  return m;
}

/** The first n samples as tensors: x [n, H, W, C], y one-hot [n, classes]. */
export function tensors(d: Dataset, n = d.y.length) {
  const px = d.shape[0] * d.shape[1] * d.shape[2];
  return tf.tidy(() => ({
    x: tf.tensor4d(d.x.subarray(0, n * px), [n, ...d.shape]),
    y: tf.oneHot(tf.tensor1d(d.y.subarray(0, n), 'int32'), d.classes).toFloat(),
  }));
}

/**
 * One training epoch of `model` (compiled) on x, y with model.fit, shuffled.
 * @returns wall seconds and process CPU seconds (user + system) it took
 */
export async function timedEpoch(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor, batch: number) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await model.fit(x, y, { epochs: 1, batchSize: batch, shuffle: true, verbose: 0 });
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

/** Process CPU time (user + system) in seconds. */
export function cpuSeconds(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const fmt = (n: number) =>
  n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n >= 1 ? n.toFixed(2) : n.toFixed(3);

export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

export function machine(): string {
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

/**
 * The note every epoch benchmark ends with, and the report written: to stdout, and to `out`
 * (its folder created) when given.
 */
export const WASM_WALL_NOTE = [
  'wasm trains on one thread: on a quiet machine an epoch takes about its CPU time; wall time',
  'above that is other load on the machine (see the load average).',
];
export function writeReport(text: string, out: string | undefined): void {
  process.stdout.write(`${text}\n`);
  if (out) {
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, text);
  }
}

/**
 * A Python that imports `modules` (`$FOLDSWEEP_PYTHON`, /usr/bin/python3, python3 are tried: Debian's
 * python3-torch and python3-sklearn install for /usr/bin/python3), with the first module's
 * version; or what each candidate said.
 */
export function findPython(
  modules: readonly string[],
): { python: string; version: string } | { missing: string } {
  const candidates = [process.env.FOLDSWEEP_PYTHON, '/usr/bin/python3', 'python3'].filter(
    (p): p is string => !!p,
  );
  const tried: string[] = [];
  for (const python of candidates) {
    const r = spawnSync(
      python,
      ['-c', `import ${modules.join(', ')}; print(${modules[0]}.__version__)`],
      { encoding: 'utf8' },
    );
    if (r.status === 0) return { python, version: r.stdout.trim() };
    tried.push(`${python}: ${(r.stderr || String(r.error ?? '')).trim().split('\n').pop()}`);
  }
  return { missing: tried.join('; ') };
}
