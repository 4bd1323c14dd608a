/**
 * A/B in one process: the trainer's epoch with the fused conv / dense + bias + ReLU layers
 * (trainer/wasm-kernels/fused-layers.ts) on and off, on the wasm backend with the 'fast' set.
 *
 *   node --experimental-wasm-relaxed-simd --import tsx benchmarks/fused-layers-ab.ts \
 *     [--model fashion|issue] [--rounds 21]
 *
 * Two copies of the model from the same initial weights, one epoch each per round (1024
 * Fashion-MNIST images, or 512 random 32x32x3 for the issue CNN; batch 32, Adam 1e-3, through
 * trainWithEarlyStopping with validation on 32 images), alternating which goes first; after a
 * warm-up round, the process CPU time of every epoch. Prints the median of the paired on/off
 * ratios (robust to load from other processes that hits both alike) and the medians per side.
 * First checks that two epochs from the same weights end with bit-identical weights either way.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../trainer/backend.js';
import { trainWithEarlyStopping } from '../trainer/train.js';
import { setFusedLayers } from '../trainer/wasm-kernels/fused-layers.js';
import { registerWasmGradientKernels } from '../trainer/wasm-kernels.js';
import {
  cpuSeconds,
  fashionCnn,
  fashionMnist,
  issueCnn,
  median,
  randomData,
  tensors,
} from './common.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'fashion' },
    rounds: { type: 'string', default: '21' },
  },
});
const fashion = args.model !== 'issue';
const rounds = Number(args.rounds);
const BATCH = 32;

const selected = await selectBackend({ prefer: 'wasm' });
if (selected.name !== 'wasm') throw new Error(`needs the wasm backend, got ${selected.name}`);
registerWasmGradientKernels({ set: 'fast' });
const data = fashion ? fashionMnist(1024) : randomData(512, [32, 32, 3], 10, 1);
const build = () => (fashion ? fashionCnn([28, 28, 1], 5) : issueCnn([32, 32, 3], 10));
const { x, y } = tensors(data);
const split = { xTrain: x, yTrain: y, xVal: x.slice(0, BATCH), yVal: y.slice(0, BATCH) };
const initial = build().getWeights();
const make = () => {
  const m = build();
  m.setWeights(initial);
  m.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  return m;
};
const epoch = (m: tf.LayersModel, seed: number) =>
  trainWithEarlyStopping(tf, m, split, {
    epochs: 1,
    batchSize: BATCH,
    patience: 1,
    objective: 'val_loss',
    seed,
  });

const finals: Float32Array[][] = [];
for (const on of [false, true]) {
  setFusedLayers(on);
  const m = make();
  for (let e = 0; e < 2; e++) await epoch(m, e);
  finals.push(m.getWeights().map((w) => w.dataSync() as Float32Array));
}
const differing = finals[0].reduce(
  (n, w, i) => n + w.filter((v, j) => !Object.is(v, finals[1][i][j])).length,
  0,
);
console.log(`weights differing after 2 epochs, off vs on: ${differing}`);

const models = { off: make(), on: make() };
const cpu: Record<'off' | 'on', number[]> = { off: [], on: [] };
for (let r = 0; r <= rounds; r++) {
  for (const side of (r % 2 ? ['on', 'off'] : ['off', 'on']) as ('on' | 'off')[]) {
    setFusedLayers(side === 'on');
    const c0 = cpuSeconds();
    await epoch(models[side], r);
    if (r > 0) cpu[side].push(cpuSeconds() - c0);
  }
}
setFusedLayers(true);
const steps = Math.ceil(y.shape[0] / BATCH);
const ratios = cpu.on.map((v, i) => v / cpu.off[i]);
console.log(`${fashion ? 'Fashion-MNIST' : 'issue'} CNN, ${rounds} rounds`);
console.log(`paired on/off CPU ratio: median ${median(ratios).toFixed(3)}`);
for (const side of ['off', 'on'] as const) {
  const m = median(cpu[side]);
  console.log(
    `${side}: CPU ${m.toFixed(3)} s per epoch, ${((m * 1000) / steps).toFixed(2)} ms per step`,
  );
}
console.log(
  `load average: ${os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ')}`,
);
