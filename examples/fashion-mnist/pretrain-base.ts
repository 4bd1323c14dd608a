/**
 * Trains the example's base model: a small CNN on Fashion-MNIST classes 0-4 (T-shirt/top,
 * Trouser, Pullover, Dress, Coat), saved in tfjs layers format to ./base-model/. The sweep then
 * fine-tunes it on classes 5-9, which it has never seen: a transfer task.
 *
 *   npm run pretrain [-- --per-class 2400 --epochs 4 --out examples/fashion-mnist/base-model]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readIdxDataset } from '../../shared/data/idx.js';
import { selectSubset } from '../../shared/data/subset.js';
import { selectBackend } from '../../trainer/backend.js';
import { toTensors } from '../../trainer/data.js';
import { serializeModel } from '../../trainer/model-io.js';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR } from './classes.js';

const { values } = parseArgs({
  options: {
    'per-class': { type: 'string', default: '2400' },
    epochs: { type: 'string', default: '4' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: 'examples/fashion-mnist/base-model' },
  },
});
const perClass = Number(values['per-class']);
const epochs = Number(values.epochs);
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
      filters: 64,
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
    optimizer: tf.train.adam(0.002),
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
await model.fit(tr.xs, tr.ys, {
  epochs,
  batchSize: 64,
  shuffle: true,
  validationData: [te.xs, te.ys],
  callbacks: {
    onEpochEnd: (epoch, logs) =>
      console.log(
        `epoch ${epoch + 1}/${epochs}: loss ${logs?.loss?.toFixed(4)} acc ${logs?.acc?.toFixed(4)} test acc ${logs?.val_acc?.toFixed(4)}`,
      ),
  },
});
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
  seed: Number(values.seed),
  backend,
  testAccuracyOnClasses0to4: Number(testAccuracy.toFixed(4)),
  seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
  command: `npm run pretrain -- --per-class ${perClass} --epochs ${epochs} --seed ${values.seed}`,
};
await writeFile(join(out, 'pretrain-info.json'), `${JSON.stringify(info, null, 2)}\n`);
console.log(info);
