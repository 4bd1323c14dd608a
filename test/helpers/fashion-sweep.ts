/**
 * A small real sweep of the Fashion-MNIST example (Debian's dataset-fashion-mnist, the committed
 * base CNN) through a real HTTP server on the local deps: 40 images per class of classes 5-9,
 * finetune freeze=3 and bottleneck-linear at two C values, 2 folds, 2 epochs, the official test
 * split of classes 5-9 as the test set. A few seconds of training on two cores.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR } from '../../examples/fashion-mnist/classes.js';
import { startServer } from '../../functions/api/node.js';
import { type LocalDeps, localDeps } from '../../functions/deps/local.js';
import { makeTempDir, recordingLogger } from './images.js';

export const EXAMPLE = fileURLToPath(new URL('../../examples/fashion-mnist/', import.meta.url));

/** The example spec, cut down (its searchSpace, training and subset overridable). */
export async function smallExampleSpec(overrides: Record<string, unknown> = {}) {
  const example = JSON.parse(await readFile(join(EXAMPLE, 'sweep.json'), 'utf8'));
  return {
    ...example,
    name: 'report-e2e',
    baseModel: join(EXAMPLE, 'base-model/model.json'),
    dataset: { ...example.dataset, subset: { classes: [5, 6, 7, 8, 9], perClass: 40, seed: 3 } },
    folds: 2,
    holdoutFraction: 0.2,
    searchSpace: {
      strategy: ['finetune', 'bottleneck-linear'],
      freezeDepth: [3],
      lrMultiplier: [1],
      svmC: [0.1, 1],
    },
    training: { learningRate: 0.003, epochs: 2, batchSize: 16, patience: 2 },
    ...overrides,
  };
}

/** Local deps on a temp home and a real server on a free loopback port. */
export async function startLocalServer(options: { concurrency?: number; home?: string } = {}) {
  const tmp = await makeTempDir('foldsweep-report-e2e-');
  const deps: LocalDeps = localDeps({
    home: options.home ?? join(tmp.path, 'home'),
    concurrency: options.concurrency ?? 2,
    logger: recordingLogger().logger,
  });
  const server = await startServer(deps, { port: 0 });
  return {
    deps,
    base: `http://127.0.0.1:${server.port}`,
    async close() {
      await server.close();
      await deps.close();
      await tmp.cleanup();
    },
  };
}

/** POSTs a spec (202: accepted, prepared in the background; 201 from older servers); returns the sweep id. */
export async function postSweep(base: string, spec: unknown): Promise<string> {
  const res = await fetch(`${base}/sweeps`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(spec),
  });
  if (res.status !== 202 && res.status !== 201)
    throw new Error(`POST /sweeps: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { sweep: { id: string } }).sweep.id;
}

/** Polls GET /sweeps/:id until a terminal status; calls `onPoll` with each view. */
export async function waitForSweep(
  base: string,
  id: string,
  options: { timeoutMs?: number; onPoll?: (status: string) => Promise<void> | void } = {},
): Promise<string> {
  const deadline = Date.now() + (options.timeoutMs ?? 240_000);
  for (;;) {
    const view = (await (await fetch(`${base}/sweeps/${id}`)).json()) as { status: string };
    await options.onPoll?.(view.status);
    if (['completed', 'failed', 'cancelled'].includes(view.status)) return view.status;
    if (Date.now() > deadline) throw new Error(`sweep ${id} still ${view.status} at the deadline`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * The official Fashion-MNIST test images whose class is among `classNames` (read here with
 * node:zlib, not through foldsweep), as float pixels x scale + offset and output indices.
 */
export async function fashionTestSet(
  classNames: readonly string[],
  preprocessing: { scale: number; offset: number },
) {
  const images = gunzipSync(await readFile(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz')));
  const labels = gunzipSync(await readFile(join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz')));
  const outputOf = new Map<number, number>();
  FASHION_MNIST_CLASSES.forEach((name, label) => {
    const out = classNames.indexOf(name);
    if (out >= 0) outputOf.set(label, out);
  });
  const rows: number[] = [];
  for (let i = 0; i < labels.length - 8; i++) if (outputOf.has(labels[8 + i])) rows.push(i);
  const size = 28 * 28;
  const x = new Float32Array(rows.length * size);
  const y = new Int32Array(rows.length);
  rows.forEach((row, j) => {
    for (let p = 0; p < size; p++) {
      x[j * size + p] = images[16 + row * size + p] * preprocessing.scale + preprocessing.offset;
    }
    y[j] = outputOf.get(labels[8 + row]) ?? -1;
  });
  return { x, y, count: rows.length };
}
