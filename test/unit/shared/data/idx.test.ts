import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  defaultLabelsPath,
  encodeIdxImages,
  encodeIdxLabels,
  gzipBytes,
  parseIdxImages,
  readIdxDataset,
} from '../../../../shared/data/idx.js';
import { InvalidArtifactError, ValidationError } from '../../../../shared/errors.js';
import { makeTempDir, type TempDir, writeIdxPair } from '../../../helpers/images.js';

let tmp: TempDir;
beforeEach(async () => {
  tmp = await makeTempDir();
});
afterEach(async () => {
  await tmp.cleanup();
});

async function catchError(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('IDX reader', () => {
  it.each([false, true])('round-trips images and labels (gzip: %s)', async (gzip) => {
    const fx = await writeIdxPair(tmp.path, { labels: [0, 1, 2, 1, 0], rows: 3, cols: 4, gzip });
    const ds = await readIdxDataset(fx.imagesFile, undefined, 'dataset');
    expect(ds.count).toBe(5);
    expect([ds.rows, ds.cols]).toEqual([3, 4]);
    expect(ds.pixels).toEqual(fx.pixels);
    expect(ds.labels).toEqual(fx.labels);
    expect(ds.labelsFile).toBe(fx.labelsFile);
  });

  it('detects gzip by magic bytes, not by name', async () => {
    const images = encodeIdxImages({
      count: 2,
      rows: 2,
      cols: 2,
      pixels: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8),
    });
    const imagesFile = join(tmp.path, 'a-images-idx3-ubyte'); // gzip without .gz
    const labelsFile = join(tmp.path, 'a-labels-idx1-ubyte.gz'); // raw despite .gz
    await writeFile(imagesFile, await gzipBytes(images));
    await writeFile(labelsFile, encodeIdxLabels(Uint8Array.of(0, 1)));
    const ds = await readIdxDataset(imagesFile, labelsFile, 'dataset');
    expect(Array.from(ds.pixels)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(ds.labels)).toEqual([0, 1]);
  });

  it('derives the labels path from the file name only', () => {
    expect(defaultLabelsPath('/d/images-idx3/train-images-idx3-ubyte.gz')).toBe(
      '/d/images-idx3/train-labels-idx1-ubyte.gz',
    );
    expect(defaultLabelsPath('/d/pictures.bin')).toBeUndefined();
  });

  it('asks for labelsUri when the labels path cannot be derived', async () => {
    const err = await catchError(readIdxDataset(join(tmp.path, 'pics.bin'), undefined, 'dataset'));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues[0].path).toBe('dataset.labelsUri');
    expect(err.message).toContain('give labelsUri');
  });

  it('rejects a bad magic number, hinting at swapped files', async () => {
    const fx = await writeIdxPair(tmp.path, { labels: [0, 1], rows: 2, cols: 2 });
    const err = await catchError(readIdxDataset(fx.labelsFile, fx.imagesFile, 'ds'));
    expect(err).toBeInstanceOf(InvalidArtifactError);
    expect((err as InvalidArtifactError).file).toBe(fx.labelsFile);
    expect((err as InvalidArtifactError).issues[0].path).toBe('ds.uri');
    expect(err.message).toMatch(/swap/);

    const junk = Uint8Array.of(0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 7);
    expect(() => parseIdxImages(junk, 'junk', 'ds.uri')).toThrow(/magic 0xdeadbeef.*expected/);
  });

  it('rejects a truncated images file, naming it', async () => {
    const fx = await writeIdxPair(tmp.path, { labels: [0, 1, 1], rows: 4, cols: 4 });
    const bytes = await readFile(fx.imagesFile);
    await writeFile(fx.imagesFile, bytes.subarray(0, bytes.length - 5));
    const err = await catchError(readIdxDataset(fx.imagesFile, undefined, 'dataset'));
    expect(err).toBeInstanceOf(InvalidArtifactError);
    expect(err.message).toContain(fx.imagesFile);
    expect(err.message).toMatch(/truncated; download it again/);
    expect(() => parseIdxImages(bytes.subarray(0, 10), 'f', 'p')).toThrow(/header is truncated/);
  });

  it('rejects a truncated gzip stream', async () => {
    const fx = await writeIdxPair(tmp.path, { labels: [0, 1, 1], rows: 8, cols: 8, gzip: true });
    const bytes = await readFile(fx.imagesFile);
    await writeFile(fx.imagesFile, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const err = await catchError(readIdxDataset(fx.imagesFile, undefined, 'dataset'));
    expect(err).toBeInstanceOf(InvalidArtifactError);
    expect(err.message).toMatch(/cannot be decompressed/);
  });

  it('rejects a label count that differs from the image count', async () => {
    const fx = await writeIdxPair(tmp.path, { labels: [0, 1, 1], rows: 2, cols: 2 });
    await writeFile(fx.labelsFile, encodeIdxLabels(Uint8Array.of(0, 1)));
    const err = await catchError(readIdxDataset(fx.imagesFile, undefined, 'dataset'));
    expect(err).toBeInstanceOf(InvalidArtifactError);
    expect((err as InvalidArtifactError).issues[0].path).toBe('dataset.labelsUri');
    expect(err.message).toMatch(/has 2 labels but .* has 3 images/);
  });

  it('reports a missing file as a ValidationError on the field', async () => {
    const missing = join(tmp.path, 'nope-images-idx3-ubyte');
    const err = await catchError(readIdxDataset(missing, undefined, 'dataset'));
    expect(err).toBeInstanceOf(ValidationError);
    expect(err).not.toBeInstanceOf(InvalidArtifactError);
    expect(err.message).toContain(missing);
  });
});
