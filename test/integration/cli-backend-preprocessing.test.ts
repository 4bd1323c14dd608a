/**
 * `foldsweep run` through the real bin/foldsweep.mjs: a forced backend that cannot load fails
 * before anything is stored or run, with one message saying how to install it; a run names the
 * backend it trains on and, for a greyscale base on colour images, says that colour was dropped
 * (in the output, the report and metadata.json).
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChampionMetadataSchema } from '../../shared/schemas/champion.js';
import { foldsweep } from '../helpers/cli.js';
import { makeTempDir, type RawImage, type TempDir, writeImageFolder } from '../helpers/images.js';
import { writeTinyModel } from '../helpers/workspace.js';

function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

/** `n` 10x10 RGB images of one colour with a little noise. */
function images(colour: readonly number[], n: number, seed: number): Record<string, RawImage> {
  const out: Record<string, RawImage> = {};
  for (let i = 0; i < n; i++) {
    const pixels = Uint8Array.from({ length: 300 }, (_, p) =>
      Math.min(255, colour[p % 3] + ((p * 31 + i * 17 + seed) % 23)),
    );
    out[`${i}.png`] = { width: 10, height: 10, channels: 3, pixels };
  }
  return out;
}

let tmp: TempDir;
let specFile: string;

beforeAll(async () => {
  tmp = await makeTempDir('foldsweep-cli-backend-');
  const model = await writeTinyModel(join(tmp.path, 'model'), 3);
  await writeImageFolder(join(tmp.path, 'data'), {
    red: images([200, 40, 40], 8, 1),
    green: images([40, 200, 40], 8, 2),
    blue: images([40, 40, 200], 8, 3),
  });
  specFile = join(tmp.path, 'spec.json');
  await writeFile(
    specFile,
    JSON.stringify({
      name: 'grey-base',
      baseModel: model,
      dataset: { uri: join(tmp.path, 'data'), format: 'image-folder' },
      folds: 2,
      seed: 1,
      searchSpace: { strategy: ['finetune'], freezeDepth: [0], lrMultiplier: [1] },
      training: { learningRate: 0.02, epochs: 1, batchSize: 8, patience: 1 },
    }),
  );
}, 60_000);

afterAll(() => tmp?.cleanup());

describe('foldsweep run --backend', () => {
  it.runIf(!installed('@tensorflow/tfjs-node'))(
    'a forced backend that cannot load fails before any trial, with one message on how to install it',
    async () => {
      const home = join(tmp.path, 'home-tensorflow');
      const result = await foldsweep(
        ['run', specFile, '--home', home, '--backend', 'tensorflow'],
        tmp.path,
      );
      expect(result.code).toBe(2);
      const errors = result.stderr.split('\n').filter((l) => l.startsWith('error:'));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(
        /^error: --backend: TensorFlow\.js backend 'tensorflow' \(@tensorflow\/tfjs-node\) is unavailable: could not load @tensorflow\/tfjs-node/,
      );
      expect(errors[0]).toMatch(/npm install @tensorflow\/tfjs-node@4\.22\.0/);
      expect(errors[0]).toMatch(/libtensorflow/);
      expect(result.stderr).not.toMatch(/preparing data and model/);
      // Nothing prepared, stored or run.
      expect(existsSync(join(home, 'objects', 'sweeps'))).toBe(false);
      expect(existsSync(join(home, 'objects', 'datasets'))).toBe(false);
    },
  );

  it('names the backend, says colour was dropped for a greyscale base, and records both', async () => {
    const home = join(tmp.path, 'home-wasm');
    const result = await foldsweep(
      ['run', specFile, '--home', home, '--backend', 'wasm', '--concurrency', '2'],
      tmp.path,
    );
    expect(result.code, result.stderr + result.stdout).toBe(0);
    expect(result.stderr).toMatch(/^backend: wasm, @tensorflow\/tfjs-backend-wasm@/m);
    expect(result.stderr).toMatch(
      /^preprocessing: stretch to 8x8, 1 grey channel \(colour dropped\), x = pixel \* 0\.00392156862745098 \+ 0/m,
    );
    expect(result.stderr).toMatch(
      /^note: colour dropped: the base model takes 1 channel \(greyscale\) but 24 of 24 images are in colour/m,
    );
    // 2 fold trials and the refit.
    expect(result.stdout).toMatch(/^trained on: wasm \(3 trials\)$/m);

    const modelPath = result.stdout.match(/champion: (\S+)\/model\.json/)?.[1] ?? '';
    const metadata = ChampionMetadataSchema.parse(
      JSON.parse(await readFile(join(modelPath, 'metadata.json'), 'utf8')),
    );
    expect(metadata.lineage.backend).toBe('wasm');
    expect(metadata.preprocessing).toMatchObject({
      channelConversion: 'rgb-to-grey',
      colourDropped: true,
      sourceSizes: [{ width: 10, height: 10, channels: 3, count: 24 }],
    });
    expect(metadata.preprocessing.warnings?.[0]).toMatch(/^colour dropped/);

    const report = await readFile(result.stdout.match(/report: (\S+)/)?.[1] ?? '', 'utf8');
    expect(report).toMatch(/colour dropped/);
    expect(report).toMatch(/champion trained on<\/th><td>wasm/);
    expect(report).toMatch(/<details data-preprocessing>/);
  }, 180_000);
});
