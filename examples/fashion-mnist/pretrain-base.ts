/**
 * Trains the example's base model: a small CNN on Fashion-MNIST classes 0-4 (T-shirt/top,
 * Trouser, Pullover, Dress, Coat), saved in tfjs layers format to ./base-model/. The sweep then
 * fine-tunes it on classes 5-9, which it has never seen: a transfer task.
 *
 *   npm run pretrain [-- --per-class all --epochs 20 --lr 0.002 --lr-final 0.0001 --shift 0
 *                        --seed 1 --out examples/fashion-mnist/base-model]
 *
 * Defaults: every training image of classes 0-4 (6,000 per class), Adam whose learning rate
 * decays along a cosine from --lr to --lr-final over the epochs (set per epoch), batch 64.
 * --shift N > 0 adds light augmentation: each epoch every training image is shifted by up to N
 * pixels (and mirrored half the time) with trainer/augment.ts.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readIdxDataset } from '../../shared/data/idx.js';
import { selectSubset } from '../../shared/data/subset.js';
import { mulberry32 } from '../../shared/random.js';
import { augmentBatch } from '../../trainer/augment.js';
import { selectBackend } from '../../trainer/backend.js';
import { toTensors } from '../../trainer/data.js';
import { serializeModel } from '../../trainer/model-io.js';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR } from './classes.js';

const { values } = parseArgs({
  options: {
    'per-class': { type: 'string', default: 'all' },
    epochs: { type: 'string', default: '20' },
    lr: { type: 'string', default: '0.002' },
    'lr-final': { type: 'string', default: '0.0001' },
    shift: { type: 'string', default: '0' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: 'examples/fashion-mnist/base-model' },
  },
});
const perClass = values['per-class'] === 'all' ? undefined : Number(values['per-class']);
const epochs = Number(values.epochs);
const lr = Number(values.lr);
const lrFinal = Number(values['lr-final']);
const shift = Number(values.shift);
const SOURCE_CLASSES = [0, 1, 2, 3, 4];

const { tf, name: backend } = await selectBackend();
console.log(`backend: ${backend}`);

/** The base CNN. Input [batch, 28, 28, 1] float32 in [0, 1]; output [batch, 5] softmax. */
function baseCnn() {
  const model = tf.sequential({ name: 'fashion_base_cnn' });
  model.add(
    tf.layers.conv2d({
      inputShape: [28, 28, 1],
      filters: 16,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'conv1',
    }),
  );
  model.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }));
  model.add(
    tf.layers.conv2d({
      filters: 32,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'conv2',
    }),
  );
  model.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }));
  model.add(
    tf.layers.conv2d({
      filters: 128,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'conv3',
    }),
  );
  model.add(tf.layers.globalAveragePooling2d({ name: 'gap' }));
  model.add(tf.layers.dense({ units: 64, activation: 'relu', name: 'fc1' }));
  model.add(
    tf.layers.dense({ units: SOURCE_CLASSES.length, activation: 'softmax', name: 'predictions' }),
  );
  model.compile({
    optimizer: tf.train.adam(lr),
    loss: 'categoricalCrossentropy',
    metrics: ['accuracy'],
  });
  return model;
}

async function load(split: 'train' | 't10k', per?: number) {
  const data = await readIdxDataset(
    join(FASHION_MNIST_DIR, `${split}-images-idx3-ubyte.gz`),
    undefined,
    'pretrain',
  );
  const sel = selectSubset(
    data.labels,
    FASHION_MNIST_CLASSES,
    { classes: SOURCE_CLASSES, perClass: per, seed: Number(values.seed) },
    'pretrain',
  );
  return { pixels: data.pixels, labels: sel.labels, indices: sel.indices };
}

const started = performance.now();
const train = await load('train', perClass);
const test = await load('t10k');
const pick = (d: Awaited<ReturnType<typeof load>>) => {
  const labels = new Uint8Array(d.pixels.length / 784);
  d.indices.forEach((idx, i) => {
    labels[idx] = d.labels[i];
  });
  return toTensors(tf, d.pixels, labels, [28, 28, 1], SOURCE_CLASSES.length, d.indices);
};
const tr = pick(train);
const te = pick(test);
const model = baseCnn();
/** Cosine decay from --lr (first epoch) to --lr-final (last epoch). */
const rateAt = (epoch: number) =>
  epochs > 1
    ? lrFinal + ((lr - lrFinal) * (1 + Math.cos((Math.PI * epoch) / (epochs - 1)))) / 2
    : lr;
const augmentation = {
  flip: true,
  rotationDegrees: 0,
  translateFraction: shift / 28,
  zoomFraction: 0,
};
const random = mulberry32(Number(values.seed));
/** This epoch's training images: the originals, or each shifted/mirrored anew (in chunks). */
function epochImages() {
  if (shift <= 0) return tr.xs;
  const n = tr.xs.shape[0];
  const chunks = [];
  for (let i = 0; i < n; i += 1000) {
    const part = tr.xs.slice([i, 0, 0, 0], [Math.min(1000, n - i), 28, 28, 1]);
    chunks.push(augmentBatch(tf, part, augmentation, random));
    part.dispose();
  }
  const xs = tf.concat(chunks);
  tf.dispose(chunks);
  return xs;
}
// Adam keeps its moment estimates across epochs; only its step size changes.
const optimizer = model.optimizer as unknown as { learningRate: number };
for (let epoch = 0; epoch < epochs; epoch++) {
  optimizer.learningRate = rateAt(epoch);
  const xs = epochImages();
  const h = await model.fit(xs, tr.ys, {
    epochs: 1,
    batchSize: 64,
    shuffle: true,
    validationData: [te.xs, te.ys],
    verbose: 0,
  });
  if (xs !== tr.xs) xs.dispose();
  const at = (k: string) => (h.history[k]?.[0] as number | undefined)?.toFixed(4);
  console.log(
    `epoch ${epoch + 1}/${epochs} (lr ${optimizer.learningRate.toPrecision(3)}, ${((performance.now() - started) / 1000).toFixed(0)} s): loss ${at('loss')} acc ${at('acc')} test acc ${at('val_acc')}`,
  );
}
const [, acc] = model.evaluate(te.xs, te.ys) as import('@tensorflow/tfjs').Scalar[];
const testAccuracy = (await acc.data())[0];
const out = resolve(values.out);
await mkdir(out, { recursive: true });
const { modelJson, weights } = await serializeModel(tf, model);
await writeFile(join(out, 'weights.bin'), weights);
await writeFile(join(out, 'model.json'), modelJson);
const info = {
  classes: SOURCE_CLASSES.map((c) => FASHION_MNIST_CLASSES[c]),
  trainImages: train.indices.length,
  epochs,
  learningRate: { schedule: 'cosine per epoch', from: lr, to: lrFinal },
  augmentation: shift > 0 ? { shiftPixels: shift, flip: true } : 'none',
  seed: Number(values.seed),
  backend,
  testAccuracyOnClasses0to4: Number(testAccuracy.toFixed(4)),
  seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
  command: `npm run pretrain -- --per-class ${values['per-class']} --epochs ${epochs} --lr ${lr} --lr-final ${lrFinal} --shift ${shift} --seed ${values.seed}`,
};
await writeFile(join(out, 'pretrain-info.json'), `${JSON.stringify(info, null, 2)}\n`);
console.log(info);
