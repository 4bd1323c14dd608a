/**
 * Bad inputs made by code for the hostile-inputs catalog (test/e2e/hostile-inputs.test.ts): a
 * hand-written tiny layers model (no TensorFlow needed) and broken copies of it, IDX files and
 * image folders, each small.
 */
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { solidPixels, writeIdxPair, writeImage } from './images.js';

type Json = Record<string, unknown>;

const WEIGHTS: [string, number[]][] = [
  ['conv1/kernel', [3, 3, 1, 2]],
  ['conv1/bias', [2]],
  ['fc1/kernel', [128, 4]],
  ['fc1/bias', [4]],
  ['predictions/kernel', [4, 3]],
  ['predictions/bias', [3]],
];
/** Bytes of the tiny model's float32 weights. */
export const TINY_WEIGHT_BYTES =
  WEIGHTS.reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0) * 4;

/** model.json of a tiny Sequential CNN: conv1, flatten, fc1 and a 3-way softmax head. */
export function tinyModelJson(
  options: { inputShape?: number[]; lastActivation?: string; extra?: Json; dtype?: string } = {},
): Json {
  const layer = (class_name: string, config: Json) => ({ class_name, config });
  return {
    format: 'layers-model',
    generatedBy: 'TensorFlow.js tfjs-layers v4.22.0',
    convertedBy: null,
    modelTopology: {
      class_name: 'Sequential',
      config: {
        name: 'tiny',
        layers: [
          layer('Conv2D', {
            name: 'conv1',
            batch_input_shape: [null, ...(options.inputShape ?? [8, 8, 1])],
            filters: 2,
            kernel_size: [3, 3],
            padding: 'same',
            activation: 'relu',
          }),
          layer('Flatten', { name: 'flatten' }),
          layer('Dense', { name: 'fc1', units: 4, activation: 'relu' }),
          layer('Dense', {
            name: 'predictions',
            units: 3,
            activation: options.lastActivation ?? 'softmax',
          }),
        ],
      },
    },
    weightsManifest: [
      {
        paths: ['weights.bin'],
        weights: WEIGHTS.map(([name, shape]) => ({
          name,
          shape,
          dtype: options.dtype ?? 'float32',
        })),
      },
    ],
    ...options.extra,
  };
}

/** Writes `<dir>/model.json` (text as given, or the JSON) and a weights.bin of `weightBytes`. */
export async function writeModel(
  dir: string,
  modelJson: Json | string,
  weightBytes: number | null = TINY_WEIGHT_BYTES,
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const text = typeof modelJson === 'string' ? modelJson : JSON.stringify(modelJson);
  await writeFile(join(dir, 'model.json'), text);
  if (weightBytes !== null) await writeFile(join(dir, 'weights.bin'), new Uint8Array(weightBytes));
  return join(dir, 'model.json');
}

/** Every fixture the catalog names, under `root`. */
export async function writeHostileFixtures(root: string) {
  const m = (name: string) => join(root, 'models', name);
  const manifest = (paths: string[]) => ({
    weightsManifest: [
      {
        paths,
        weights: WEIGHTS.map(([name, shape]) => ({ name, shape, dtype: 'float32' })),
      },
    ],
  });
  const models = {
    good: await writeModel(m('good'), tinyModelJson()),
    bom: await writeModel(m('bom'), `\uFEFF${JSON.stringify(tinyModelJson())}`),
    notJson: await writeModel(m('not-json'), 'this is not { json'),
    graph: await writeModel(m('graph'), {
      format: 'graph-model',
      modelTopology: { node: [{ name: 'x', op: 'Placeholder' }] },
      weightsManifest: [],
    }),
    noTopology: await writeModel(m('no-topology'), { format: 'layers-model', weightsManifest: [] }),
    half: await writeModel(m('half'), tinyModelJson(), TINY_WEIGHT_BYTES / 2),
    empty: await writeModel(m('empty'), tinyModelJson(), 0),
    longer: await writeModel(m('longer'), tinyModelJson(), TINY_WEIGHT_BYTES + 4096),
    noWeights: await writeModel(m('no-weights'), tinyModelJson(), null),
    float64: await writeModel(m('float64'), tinyModelJson({ dtype: 'float64' })),
    dotdot: await writeModel(
      m('dotdot'),
      tinyModelJson({ extra: manifest(['../secret/weights.bin']) }),
    ),
    absoluteWeights: await writeModel(
      m('absolute-weights'),
      tinyModelJson({ extra: manifest(['/etc/passwd']) }),
    ),
    huge: await writeModel(m('huge'), tinyModelJson({ inputShape: [50000, 50000, 1] })),
    twoChannels: await writeModel(m('two-channels'), tinyModelJson({ inputShape: [8, 8, 2] })),
    noSoftmax: await writeModel(m('no-softmax'), tinyModelJson({ lastActivation: 'relu' })),
    missing: join(root, 'models', 'missing', 'model.json'),
  };
  // What a '..' weight path would reach: it must never be read.
  await mkdir(join(root, 'models', 'secret'), { recursive: true });
  await writeFile(join(root, 'models', 'secret', 'weights.bin'), new Uint8Array(TINY_WEIGHT_BYTES));

  const labels = Array.from({ length: 30 }, (_, i) => i % 3);
  const idx = await writeIdxPair(join(root, 'data', 'good'), { labels, rows: 8, cols: 8 });
  const broken = async (
    name: string,
    edit: (images: Buffer, labels: Buffer) => [Buffer, Buffer],
  ) => {
    const dir = join(root, 'data', name);
    await mkdir(dir, { recursive: true });
    const [images, labelBytes] = edit(
      await readFile(idx.imagesFile),
      await readFile(idx.labelsFile),
    );
    await writeFile(join(dir, 'train-images-idx3-ubyte'), images);
    await writeFile(join(dir, 'train-labels-idx1-ubyte'), labelBytes);
    return join(dir, 'train-images-idx3-ubyte');
  };
  const badMagic = await broken('bad-magic', (images, l) => {
    const copy = Buffer.from(images);
    copy.writeUInt32BE(0x12345678, 0);
    return [copy, l];
  });
  const truncated = await broken('truncated', (images, l) => [
    images.subarray(0, 16 + 8 * 64 + 10),
    l,
  ]);
  const labelMismatch = await broken('label-mismatch', (images, l) => {
    const fewer = Buffer.from(l.subarray(0, 8 + 20));
    fewer.writeUInt32BE(20, 4);
    return [images, fewer];
  });
  const noLabels = join(root, 'data', 'no-labels', 'train-images-idx3-ubyte');
  await mkdir(join(root, 'data', 'no-labels'), { recursive: true });
  await writeFile(noLabels, await readFile(idx.imagesFile));

  const img = { width: 8, height: 8, channels: 1 as const, pixels: solidPixels(8, 8, 100) };
  const folder = (name: string) => join(root, 'folders', name);
  const twoGood = async (dir: string) => {
    for (const c of ['a', 'b']) {
      for (const n of [1, 2, 3]) await writeImage(join(dir, c, `${n}.png`), img);
    }
  };
  await twoGood(folder('empty-class'));
  await mkdir(join(folder('empty-class'), 'c'), { recursive: true });
  await twoGood(folder('non-image'));
  await writeFile(join(folder('non-image'), 'a', 'notes.txt'), 'not an image');
  await writeFile(join(folder('non-image'), 'b', 'fake.png'), 'not a png either');
  await twoGood(folder('zero-jpeg'));
  await writeFile(join(folder('zero-jpeg'), 'b', 'empty.jpg'), new Uint8Array(0));
  for (const n of [1, 2, 3]) await writeImage(join(folder('one-class'), 'only', `${n}.png`), img);

  // A link inside the data root that leads out of it.
  await symlink('/etc', join(root, 'etc-link'));

  return {
    models,
    idx,
    data: {
      badMagic,
      truncated,
      labelMismatch,
      noLabels,
      missing: join(root, 'data', 'nope-images-idx3-ubyte'),
    },
    folders: {
      emptyClass: folder('empty-class'),
      nonImage: folder('non-image'),
      zeroJpeg: folder('zero-jpeg'),
      oneClass: folder('one-class'),
    },
    etcLink: join(root, 'etc-link'),
  };
}
