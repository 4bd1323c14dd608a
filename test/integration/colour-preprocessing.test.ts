/**
 * Honest preprocessing, end to end: an image folder whose classes differ only by colour (same
 * grey value, same texture) trains through a real local sweep (real trainer processes) on a tiny
 * 3-channel base; the champion's metadata.json records every preprocessing step, and stock tfjs
 * fed test images prepared from that record alone reproduces the reported test accuracy.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDeps, localDeps } from '../../functions/deps/local.js';
import { LocalDatasetPreparer } from '../../shared/data/prepare.js';
import { mulberry32 } from '../../shared/random.js';
import { type ChampionMetadata, ChampionMetadataSchema } from '../../shared/schemas/champion.js';
import { createSweep } from '../../shared/service/sweeps.js';
import { selectBackend } from '../../trainer/backend.js';
import { serializeModel } from '../../trainer/model-io.js';
import type { LayersModel, Tf } from '../../trainer/tf.js';
import {
  makeTempDir,
  type RawImage,
  recordingLogger,
  type TempDir,
  writeImageFolder,
} from '../helpers/images.js';
import { MemoryObjectStore } from '../helpers/memory-object-store.js';

/** Three colours of the same BT.601 grey value (about 118): only colour tells them apart. */
const COLOURS: Record<string, readonly [number, number, number]> = {
  red: [200, 82, 90],
  green: [61, 152, 90],
  blue: [80, 118, 220],
};

function luma([r, g, b]: readonly number[]) {
  return 0.299 * r + 0.587 * g + 0.114 * b;
}

/**
 * `perClass` 16x12 RGB images per colour (not the base's aspect ratio: the crop policy matters):
 * the class colour times a random brightness, plus the same kind of noise in every class.
 */
function colourImages(perClass: number, seed: number) {
  const rand = mulberry32(seed);
  const classes: Record<string, Record<string, RawImage>> = {};
  for (const [name, colour] of Object.entries(COLOURS)) {
    const files: Record<string, RawImage> = {};
    for (let i = 0; i < perClass; i++) {
      const [width, height] = [16, 12];
      const pixels = new Uint8Array(width * height * 3);
      const brightness = 0.7 + 0.6 * rand();
      for (let p = 0; p < width * height; p++) {
        const noise = (rand() - 0.5) * 40;
        for (let ch = 0; ch < 3; ch++) {
          pixels[p * 3 + ch] = Math.max(0, Math.min(255, colour[ch] * brightness + noise));
        }
      }
      files[`${String(i).padStart(3, '0')}.png`] = { width, height, channels: 3, pixels };
    }
    classes[name] = files;
  }
  return classes;
}

/** A tiny CNN taking [8, 8, channels]: conv, pool, conv, GAP, dense, softmax. */
function tinyColourCnn(tfjs: Tf, channels: 1 | 3, numClasses: number): LayersModel {
  const model = tfjs.sequential({ name: `tiny_cnn_${channels}ch` });
  model.add(
    tfjs.layers.conv2d({
      inputShape: [8, 8, channels],
      filters: 8,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'conv1',
    }),
  );
  model.add(tfjs.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }));
  model.add(
    tfjs.layers.conv2d({
      filters: 8,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'conv2',
    }),
  );
  model.add(tfjs.layers.globalAveragePooling2d({ name: 'gap' }));
  model.add(tfjs.layers.dense({ units: 8, activation: 'relu', name: 'fc1' }));
  model.add(tfjs.layers.dense({ units: numClasses, activation: 'softmax', name: 'predictions' }));
  return model;
}

async function writeBase(dir: string, channels: 1 | 3) {
  const { tf: tfjs } = await selectBackend({ prefer: 'wasm' });
  const model = tinyColourCnn(tfjs, channels, 3);
  const { modelJson, weights } = await serializeModel(tfjs, model);
  model.dispose();
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'weights.bin'), weights);
  await writeFile(join(dir, 'model.json'), modelJson);
  return join(dir, 'model.json');
}

/**
 * A client's preprocessing, from metadata.json alone: sharp with the recorded resize policy and
 * channels, then x = pixel * scale + offset.
 */
async function clientPixels(file: string, metadata: ChampionMetadata): Promise<Float32Array> {
  const { preprocessing, inputShape } = metadata;
  const [h, w, c] = inputShape;
  const fit = { stretch: 'fill', crop: 'cover', pad: 'contain' } as const;
  let image = sharp(file).autoOrient().flatten({ background: '#000000' });
  image = c === 1 ? image.greyscale() : image.toColourspace('srgb');
  const data = await image
    .resize(w, h, { fit: fit[preprocessing.resize ?? 'stretch'], background: '#000000' })
    .raw()
    .toBuffer();
  return Float32Array.from(data, (p) => p * preprocessing.scale + preprocessing.offset);
}

let tmp: TempDir;
let deps: LocalDeps;

beforeAll(async () => {
  tmp = await makeTempDir('foldsweep-colour-');
  await writeImageFolder(join(tmp.path, 'train'), colourImages(24, 1));
  await writeImageFolder(join(tmp.path, 'test'), colourImages(10, 2));
  deps = localDeps({
    home: join(tmp.path, 'home'),
    concurrency: 2,
    logger: recordingLogger().logger,
  });
}, 60_000);

afterAll(async () => {
  await deps?.close();
  await tmp?.cleanup();
});

describe('colour-only classes through a real sweep', () => {
  it('the classes share one grey value: only colour separates them', () => {
    const greys = Object.values(COLOURS).map(luma);
    expect(Math.max(...greys) - Math.min(...greys)).toBeLessThan(1);
  });

  it('a 3-channel base gets RGB images and reaches over 90%; metadata.json lists every step; stock tfjs reproduces it from the record', async () => {
    // Prepare
    const baseModel = await writeBase(join(tmp.path, 'base-rgb'), 3);
    const spec = {
      name: 'colour',
      baseModel,
      dataset: { uri: join(tmp.path, 'train'), format: 'image-folder', resize: 'crop' },
      testSet: { uri: join(tmp.path, 'test'), format: 'image-folder', resize: 'crop' },
      folds: 2,
      seed: 3,
      searchSpace: { strategy: ['finetune'], freezeDepth: [0], lrMultiplier: [1] },
      training: { learningRate: 0.03, epochs: 12, batchSize: 8, patience: 12 },
    };

    // Act
    const { sweep, plan } = await createSweep(deps, spec);
    await deps.executor.waitFor(sweep.id);

    // Assess
    expect(plan.dataset.shape).toEqual([8, 8, 3]);
    expect(plan.dataset.preprocessing).toMatchObject({
      source: 'image-folder',
      resize: 'crop',
      sourceSizes: [{ width: 16, height: 12, channels: 3, count: 72 }],
      targetShape: [8, 8, 3],
      channelConversion: 'none',
      colourDropped: false,
      warnings: [],
    });
    const champion = await deps.state.getChampion(sweep.id);
    expect(champion).toBeDefined();
    const dir = join(deps.home, 'objects', champion?.modelPrefix ?? '');
    const metadata = ChampionMetadataSchema.parse(
      JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8')),
    );
    expect(metadata.lineage.backend).toBe('wasm');
    expect(metadata.preprocessing).toMatchObject({
      resize: 'crop',
      resizeKernel: 'lanczos3',
      sourceSizes: [{ width: 16, height: 12, channels: 3, count: 72 }],
      targetShape: [8, 8, 3],
      channelConversion: 'none',
      colourDropped: false,
      scale: 1 / 255,
      offset: 0,
      layout: 'NHWC',
    });
    expect(metadata.preprocessing.description).toMatch(/^crop to 8x8, 3 channels \(RGB\)/);
    const steps = metadata.preprocessing.steps?.join('\n') ?? '';
    expect(steps).toMatch(/EXIF orientation/);
    expect(steps).toMatch(/cover 8x8, keeping the aspect ratio, and keep the centre/);
    expect(steps).toMatch(/x = pixel \* 0\.00392156862745098 \+ 0/);
    expect(metadata.metrics.test?.accuracy).toBeGreaterThan(0.9);
    process.stdout.write(
      `colour-only classes, 3-channel base: test accuracy ${metadata.metrics.test?.accuracy}\n`,
    );

    // Stock tfjs, with nothing but model.json, weights and metadata.json's record.
    expect(await tf.setBackend('wasm')).toBe(true);
    const modelJson = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    const model = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: modelJson.modelTopology,
        weightSpecs: modelJson.weightsManifest[0].weights,
        weightData: (await readFile(join(dir, 'weights.bin'))).buffer as ArrayBuffer,
      }),
    );
    let correct = 0;
    let total = 0;
    for (const [label, cls] of metadata.classNames.entries()) {
      for (const name of (await readdir(join(tmp.path, 'test', cls))).sort()) {
        const x = await clientPixels(join(tmp.path, 'test', cls, name), metadata);
        const predicted = tf.tidy(() =>
          (model.predict(tf.tensor4d(x, [1, ...metadata.inputShape])) as tf.Tensor).argMax(-1),
        );
        if ((await predicted.data())[0] === label) correct++;
        predicted.dispose();
        total++;
      }
    }
    model.dispose();
    expect(total).toBe(30);
    expect(correct / total).toBeCloseTo(metadata.metrics.test?.accuracy ?? -1, 6);
  }, 240_000);

  it('a 1-channel base trained the same way stays near chance: the classes differ only by colour', async () => {
    // Prepare
    const baseModel = await writeBase(join(tmp.path, 'base-grey'), 1);
    const spec = {
      name: 'grey',
      baseModel,
      dataset: { uri: join(tmp.path, 'train'), format: 'image-folder', resize: 'crop' },
      testSet: { uri: join(tmp.path, 'test'), format: 'image-folder', resize: 'crop' },
      folds: 2,
      seed: 3,
      searchSpace: { strategy: ['finetune'], freezeDepth: [0], lrMultiplier: [1] },
      training: { learningRate: 0.03, epochs: 12, batchSize: 8, patience: 12 },
    };

    // Act
    const { sweep, plan } = await createSweep(deps, spec);
    await deps.executor.waitFor(sweep.id);

    // Assess
    expect(plan.dataset.preprocessing?.colourDropped).toBe(true);
    const champion = await deps.state.getChampion(sweep.id);
    expect(champion?.testAccuracy).toBeLessThan(0.7);
    process.stdout.write(
      `colour-only classes, 1-channel base: test accuracy ${champion?.testAccuracy}\n`,
    );
  }, 240_000);

  it('a greyscale base on the same images records and warns that colour was dropped', async () => {
    // Prepare
    const { logger, records } = recordingLogger();
    const preparer = new LocalDatasetPreparer(new MemoryObjectStore(), logger);

    // Act
    const manifest = await preparer.prepare(
      { uri: join(tmp.path, 'train'), format: 'image-folder' },
      [8, 8, 1],
      'dataset',
    );

    // Assess
    expect(manifest.preprocessing).toMatchObject({
      resize: 'stretch',
      channelConversion: 'rgb-to-grey',
      colourDropped: true,
    });
    expect(manifest.preprocessing?.warnings).toEqual([
      expect.stringMatching(/^colour dropped: the base model takes 1 channel .* 72 of 72 images/),
      expect.stringMatching(
        /72 of 72 images have an aspect ratio other than 8x8 and were stretched/,
      ),
    ]);
    expect(manifest.preprocessing?.steps.join('\n')).toMatch(/colour dropped/);
    expect(records.filter((r) => r.level === 'warn').map((r) => r.msg)).toEqual(
      manifest.preprocessing?.warnings,
    );
  });
});
