import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImageFile } from '../../../../shared/data/image-folder.js';
import { LocalDatasetPreparer, sourceFingerprint } from '../../../../shared/data/prepare.js';
import {
  buildPreprocessing,
  describePreprocessing,
  MAX_LISTED_SOURCE_SIZES,
  preprocessingOf,
  SourceSizeTally,
} from '../../../../shared/model/preprocessing.js';
import type { PreparedDataset } from '../../../../shared/schemas/dataset.js';
import { toFieldIssues } from '../../../../shared/schemas/issues.js';
import { PreprocessingSchema } from '../../../../shared/schemas/preprocessing.js';
import { SweepSpecSchema } from '../../../../shared/schemas/sweep-spec.js';
import { sweepSpecFactory } from '../../../helpers/factories.js';
import {
  makeTempDir,
  solidPixels,
  type TempDir,
  writeIdxPair,
  writeImage,
} from '../../../helpers/images.js';
import { MemoryObjectStore } from '../../../helpers/memory-object-store.js';

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir('foldsweep-preprocessing-');
});
afterAll(() => tmp.cleanup());

describe('buildPreprocessing()', () => {
  it('records greyscale IDX images copied into RGB and resized, every step in order', () => {
    const p = buildPreprocessing({
      source: 'idx',
      sizes: [{ width: 28, height: 28, channels: 1, count: 500 }],
      targetShape: [32, 32, 3],
    });
    expect(PreprocessingSchema.parse(p)).toEqual(p);
    expect(p).toMatchObject({
      resize: 'stretch',
      channelConversion: 'grey-to-rgb',
      colourDropped: false,
      alphaFlattened: false,
      warnings: [],
    });
    expect(p.steps).toEqual([
      'read the IDX images file: uint8 greyscale, row-major',
      "resize to 32x32 with libvips' lanczos3 kernel, stretched to fill it (aspect ratio not kept) (500 of 500 images; resize policy 'stretch')",
      'copy the grey value of greyscale images into R, G and B',
      'store as uint8 [N, 32, 32, 3] (NHWC)',
      'x = pixel * 0.00392156862745098 + 0 as float32 (pixel / 255: values in [0, 1]), NHWC',
    ]);
    expect(describePreprocessing(p)).toBe(
      'stretch to 32x32, 3 channels (RGB), x = pixel * 0.00392156862745098 + 0 as float32, NHWC',
    );
  });

  it('says when nothing was resized, when alpha was flattened, and warns about stretched aspect ratios', () => {
    const same = buildPreprocessing({
      source: 'image-folder',
      resize: 'pad',
      sizes: [{ width: 8, height: 8, channels: 4, count: 3 }],
      targetShape: [8, 8, 3],
    });
    expect(same.steps).toContain(
      "no resize: every source image is already 8x8 (resize policy 'pad')",
    );
    expect(same.steps).toContain('flatten the alpha channel onto black (#000000)');
    expect(same.warnings).toEqual([]);
    const stretched = buildPreprocessing({
      source: 'image-folder',
      sizes: [
        { width: 64, height: 48, channels: 3, count: 5 },
        { width: 32, height: 32, channels: 3, count: 2 },
      ],
      targetShape: [16, 16, 3],
    });
    expect(stretched.warnings).toEqual([
      '5 of 7 images have an aspect ratio other than 16x16 and were stretched: set dataset.resize to "crop" or "pad" to keep their proportions',
    ]);
  });

  it('lists the 20 most frequent source sizes and counts the rest', () => {
    const tally = new SourceSizeTally();
    for (let i = 1; i <= 25; i++) tally.add(10 + i, 10, 3, i);
    const p = buildPreprocessing({
      source: 'image-folder',
      sizes: tally.sizes(),
      targetShape: [8, 8, 3],
    });
    expect(p.sourceSizes).toHaveLength(MAX_LISTED_SOURCE_SIZES);
    expect(p.sourceSizes[0]).toEqual({ width: 35, height: 10, channels: 3, count: 25 });
    expect(p.otherSourceSizes).toBe(5);
  });
});

describe('preprocessingOf()', () => {
  it('gives a dataset prepared before the record what that version did', () => {
    const legacy = {
      source: { uri: 'x', format: 'idx' },
      shape: [28, 28, 1],
    } as unknown as PreparedDataset;
    const p = preprocessingOf(legacy);
    expect(p).toMatchObject({
      resize: 'stretch',
      scale: 1 / 255,
      offset: 0,
      targetShape: [28, 28, 1],
    });
    expect(p.steps[0]).toMatch(/^prepared before foldsweep recorded/);
  });
});

describe('resize policies', () => {
  it('dataset.resize takes stretch, crop or pad, and names the field otherwise', () => {
    const spec = sweepSpecFactory();
    for (const resize of ['stretch', 'crop', 'pad']) {
      expect(
        SweepSpecSchema.safeParse({ ...spec, dataset: { ...spec.dataset, resize } }).success,
      ).toBe(true);
    }
    const bad = SweepSpecSchema.safeParse({
      ...spec,
      dataset: { ...spec.dataset, resize: 'zoom' },
    });
    expect(bad.success).toBe(false);
    expect(toFieldIssues(bad.error as never).map((i) => i.path)).toEqual(['dataset.resize']);
  });

  it('stretch fills, crop keeps the centre, pad centres on black', async () => {
    // Prepare: a 2x4 (width x height) grey image into a 4x2 target: pad scales it to 1x2 and
    // centres it (the odd column of padding goes right).
    const tall = join(tmp.path, 'tall.png');
    await writeImage(tall, { width: 2, height: 4, channels: 1, pixels: solidPixels(2, 4, 200) });
    expect(Array.from(await decodeImageFile(tall, [2, 4, 1], 'd', { resize: 'pad' }))).toEqual([
      0, 200, 0, 0, 0, 200, 0, 0,
    ]);
    expect(Array.from(await decodeImageFile(tall, [2, 4, 1], 'd', { resize: 'stretch' }))).toEqual(
      new Array(8).fill(200),
    );
    expect(Array.from(await decodeImageFile(tall, [2, 4, 1], 'd', { resize: 'crop' }))).toEqual(
      new Array(8).fill(200),
    );
  });

  it('a different policy is a different source fingerprint and a different prepared dataset', async () => {
    const fx = await writeIdxPair(join(tmp.path, 'idx'), {
      labels: [0, 1, 0, 1],
      rows: 6,
      cols: 4,
    });
    const ref = { uri: fx.imagesFile, format: 'idx' as const };
    expect(sourceFingerprint(ref, [4, 4, 1], [])).not.toBe(
      sourceFingerprint({ ...ref, resize: 'crop' }, [4, 4, 1], []),
    );
    const preparer = new LocalDatasetPreparer(new MemoryObjectStore());
    const stretch = await preparer.prepare(ref, [4, 4, 1], 'dataset');
    const crop = await preparer.prepare({ ...ref, resize: 'crop' }, [4, 4, 1], 'dataset');
    expect(crop.hash).not.toBe(stretch.hash);
    expect(crop.preprocessing?.resize).toBe('crop');
    expect(crop.preprocessing?.sourceSizes).toEqual([
      { width: 4, height: 6, channels: 1, count: 4 },
    ]);
  });
});
