/**
 * What input sizes cost on CPU: one training epoch per 1,000 images of the Fashion-MNIST
 * example's base CNN (conv 16, pool, conv 32, pool, conv 64, GAP, dense 64, softmax) at
 * 28x28x1, 32x32x3 and 96x96x3, on the trainer's wasm backend (with trainer/wasm-kernels.ts).
 *
 *   npx tsx benchmarks/input-size-epoch.ts [--images 1000] [--epochs 2] [--out docs/benchmarks/input-size-epoch.md]
 *
 * Adam 1e-3, batch 32, random images (time does not depend on pixel values), 10 classes; one
 * warm-up epoch per size, then `--epochs` measured epochs; wall and process CPU time (user +
 * system) per epoch, the median reported per 1,000 images.
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../trainer/backend.js';
import {
  fashionCnn,
  fmt,
  loadAverage,
  machine,
  median,
  randomData,
  tensors,
  timedEpoch,
  WASM_WALL_NOTE,
  writeReport,
} from './common.js';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '1000' },
    epochs: { type: 'string', default: '2' },
    out: { type: 'string' },
  },
});
const IMAGES = Number(args.images);
const EPOCHS = Number(args.epochs);
const BATCH = 32;
const SHAPES: [number, number, number][] = [
  [28, 28, 1],
  [32, 32, 3],
  [96, 96, 3],
];

interface Row {
  shape: [number, number, number];
  params: number;
  wall: number[];
  cpu: number[];
}

async function main() {
  const backend = await selectBackend({ prefer: 'wasm' });
  const rows: Row[] = [];
  const loadBefore = loadAverage();
  for (const shape of SHAPES) {
    const { x, y } = tensors(randomData(IMAGES, shape, 10, 7));
    const model = fashionCnn(shape, 10);
    model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
    await timedEpoch(model, x, y, BATCH); // warm-up
    const row: Row = { shape, params: model.countParams(), wall: [], cpu: [] };
    for (let e = 0; e < EPOCHS; e++) {
      const t = await timedEpoch(model, x, y, BATCH);
      row.wall.push((t.wall * 1000) / IMAGES);
      row.cpu.push((t.cpu * 1000) / IMAGES);
    }
    process.stderr.write(
      `${shape.join('x')}: ${fmt(median(row.wall))} s wall, ${fmt(median(row.cpu))} s CPU per 1,000 images\n`,
    );
    rows.push(row);
    model.dispose();
    tf.dispose([x, y]);
  }
  const base = median(rows[0].cpu);
  // The package path at the end of the detail is this checkout's: no machine paths in docs.
  const detail = backend.detail.replace(/, [^,]*\)$/, ')');
  const lines = [
    '# Epoch time per 1,000 images by input size (wasm backend)',
    '',
    `\`npx tsx benchmarks/input-size-epoch.ts --images ${IMAGES} --epochs ${EPOCHS}\``,
    '',
    `- backend: ${detail}`,
    `- machine: ${machine()}`,
    `- load average before / after: ${loadBefore} / ${loadAverage()}`,
    `- model: the Fashion-MNIST example's base CNN (benchmarks/common.ts fashionCnn), 10 classes, Adam, batch ${BATCH}; ${IMAGES} random images, 1 warm-up epoch, median of ${EPOCHS}`,
    '',
    '| input | pixels x channels | parameters | epoch per 1,000 images (wall) | CPU time | CPU vs 28x28x1 |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.shape.join('x')} | ${r.shape[0] * r.shape[1] * r.shape[2]} | ${r.params} | ${fmt(median(r.wall))} s | ${fmt(median(r.cpu))} s | ${fmt(median(r.cpu) / base)}x |`,
    ),
    '',
    ...WASM_WALL_NOTE,
    '',
  ];
  writeReport(lines.join('\n'), args.out);
}

await main();
