/**
 * What one fine-tuning epoch costs on the Fashion-MNIST example's base model: the base on
 * branch main (before the stronger pretraining) against the one in this checkout
 * (examples/fashion-mnist/base-model), side by side in one process on the wasm backend.
 *
 *   npx tsx benchmarks/base-model-epoch.ts [--images 1000] [--epochs 3] [--batch 16]
 *       [--old-ref df10467] [--out docs/benchmarks/pretrain-base.md]
 *
 * Each base gets the trainer's fine-tuning surgery (trainer/model.ts buildFineTuneModel: the old
 * softmax head replaced by a 5-class one, freezeDepth 0 so every layer trains, Adam at the demo's
 * 0.003) and is trained with model.fit on the first `--images` (seeded selection) training images
 * of classes 5-9 at the demo's batch size. One warm-up epoch each, then `--epochs` measured
 * epochs, old and new alternating so both see the same machine load; wall and process CPU time
 * (user + system) per epoch, the median reported.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FsObjectStore } from '../shared/adapters/local/fs-object-store.js';
import { readIdxDataset } from '../shared/data/idx.js';
import { selectSubset } from '../shared/data/subset.js';
import { selectBackend } from '../trainer/backend.js';
import { toTensors } from '../trainer/data.js';
import { buildFineTuneModel } from '../trainer/model.js';
import { loadModelFromStore } from '../trainer/model-io.js';
import {
  FASHION_DIR,
  fmt,
  loadAverage,
  machine,
  median,
  timedEpoch,
  WASM_WALL_NOTE,
  writeReport,
} from './common.js';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '1000' },
    epochs: { type: 'string', default: '3' },
    batch: { type: 'string', default: '16' },
    'old-ref': { type: 'string', default: 'df10467' },
    out: { type: 'string' },
  },
});
const IMAGES = Number(args.images);
const EPOCHS = Number(args.epochs);
const BATCH = Number(args.batch);
const OLD_REF = args['old-ref'] as string;
const BASE_DIR = 'examples/fashion-mnist/base-model';
const TARGET_CLASSES = [5, 6, 7, 8, 9];

interface PretrainInfo {
  trainImages: number;
  epochs: number;
  seconds: number;
  testAccuracyOnClasses0to4: number;
  command: string;
}

/** The old base's three files from git (`OLD_REF`), written to a temp folder. */
function oldBaseFolder(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'foldsweep-old-base-'));
  mkdirSync(path.join(dir, 'base-model'));
  for (const file of ['model.json', 'weights.bin', 'pretrain-info.json']) {
    const body = execFileSync('git', ['show', `${OLD_REF}:${BASE_DIR}/${file}`], {
      maxBuffer: 64 * 2 ** 20,
    });
    writeFileSync(path.join(dir, 'base-model', file), body);
  }
  return dir;
}

async function main() {
  const backend = await selectBackend({ prefer: 'wasm' });
  const { tf } = backend;
  const oldRoot = oldBaseFolder();
  const bases = [
    { label: `old (${OLD_REF})`, root: oldRoot },
    { label: 'new (this checkout)', root: path.dirname(BASE_DIR) },
  ];
  try {
    const data = await readIdxDataset(
      path.join(FASHION_DIR, 'train-images-idx3-ubyte.gz'),
      undefined,
      'benchmark',
    );
    const sel = selectSubset(
      data.labels,
      [...Array(10).keys()].map(String),
      { classes: TARGET_CLASSES, perClass: IMAGES / TARGET_CLASSES.length, seed: 1 },
      'benchmark',
    );
    const labels = new Uint8Array(data.labels.length);
    sel.indices.forEach((idx, i) => {
      labels[idx] = sel.labels[i];
    });
    const { xs, ys } = toTensors(tf, data.pixels, labels, [28, 28, 1], 5, sel.indices);

    const loadBefore = loadAverage();
    const runs = [];
    for (const b of bases) {
      const base = await loadModelFromStore(tf, new FsObjectStore(b.root), 'base-model');
      // conv1/conv2/conv3 filters and fc1 units, e.g. '16/32/64, 64'
      const width = (name: string) => {
        const c = base.getLayer(name).getConfig() as { filters?: number; units?: number };
        return c.filters ?? c.units;
      };
      const widths = `${['conv1', 'conv2', 'conv3'].map(width).join('/')}, ${width('fc1')}`;
      const model = buildFineTuneModel(tf, base, {
        strategy: 'finetune',
        freezeDepth: 0,
        learningRate: 0.003,
        numClasses: 5,
      });
      const info = JSON.parse(
        readFileSync(path.join(b.root, 'base-model', 'pretrain-info.json'), 'utf8'),
      ) as PretrainInfo;
      await timedEpoch(model, xs, ys, BATCH); // warm-up
      runs.push({
        ...b,
        model,
        info,
        widths,
        params: model.countParams(),
        wall: [] as number[],
        cpu: [] as number[],
      });
    }
    for (let e = 0; e < EPOCHS; e++) {
      for (const r of runs) {
        const t = await timedEpoch(r.model, xs, ys, BATCH);
        r.wall.push(t.wall);
        r.cpu.push(t.cpu);
        process.stderr.write(
          `${r.label} epoch ${e + 1}: ${fmt(t.cpu)} s CPU, ${fmt(t.wall)} s wall\n`,
        );
      }
    }
    const loadAfter = loadAverage();
    const oldCpu = median(runs[0].cpu);
    const detail = backend.detail.replace(/, [^,]*\)$/, ')');
    const lines = [
      '# Fine-tuning epoch cost: old vs new example base model',
      '',
      `\`npx tsx benchmarks/base-model-epoch.ts --images ${IMAGES} --epochs ${EPOCHS} --batch ${BATCH} --old-ref ${OLD_REF}\``,
      '',
      `- date: ${new Date().toISOString()}`,
      `- backend: ${detail}`,
      `- machine: ${machine()}`,
      `- load average (1, 5, 15 min) before / after: ${loadBefore} / ${loadAfter}`,
      `- setting: ${sel.indices.length} Fashion-MNIST training images of classes 5-9 (seed 1), buildFineTuneModel with a new 5-class softmax head, freezeDepth 0 (every layer trains), Adam 0.003, batch ${BATCH}, model.fit; 1 warm-up epoch per base, then the median of ${EPOCHS} epochs, old and new alternating`,
      '',
      '| base | conv1/conv2/conv3 filters, fc1 units | parameters (fine-tune model) | epoch CPU time | epoch wall time | CPU vs old |',
      '|---|---|---:|---:|---:|---:|',
      ...runs.map(
        (r) =>
          `| ${r.label} | ${r.widths} | ${r.params} | ${fmt(median(r.cpu))} s | ${fmt(median(r.wall))} s | ${fmt(median(r.cpu) / oldCpu)}x |`,
      ),
      '',
      '## How each base was pretrained (its pretrain-info.json)',
      '',
      '| base | train images (classes 0-4) | epochs | seconds | test accuracy, classes 0-4 (5,000 images) | command |',
      '|---|---:|---:|---:|---:|---|',
      ...runs.map(
        (r) =>
          `| ${r.label} | ${r.info.trainImages} | ${r.info.epochs} | ${r.info.seconds} | ${(r.info.testAccuracyOnClasses0to4 * 100).toFixed(2)}% | \`${r.info.command}\` |`,
      ),
      '',
      ...WASM_WALL_NOTE,
      '',
    ];
    writeReport(lines.join('\n'), args.out);
  } finally {
    rmSync(oldRoot, { recursive: true, force: true });
  }
}

await main();
