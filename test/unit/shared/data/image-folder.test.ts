import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  decodeImageFile,
  listImageFolder,
  readImageFolder,
} from '../../../../shared/data/image-folder.js';
import { InvalidArtifactError, ValidationError } from '../../../../shared/errors.js';
import {
  makeTempDir,
  randomBytesSeeded,
  solidPixels,
  type TempDir,
  writeImage,
  writeImageFolder,
} from '../../../helpers/images.js';

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

const red = { width: 8, height: 6, channels: 3, pixels: solidPixels(8, 6, [255, 0, 0]) } as const;
const grey = { width: 5, height: 5, channels: 1, pixels: solidPixels(5, 5, 128) } as const;
const blue = { width: 6, height: 6, channels: 3, pixels: solidPixels(6, 6, [0, 0, 255]) } as const;

async function writeThreeClasses(root: string) {
  await writeImageFolder(root, {
    cat: { 'a.png': red, 'b.jpg': red },
    dog: { 'c.JPEG': blue, 'd.png': blue },
    emu: { 'e.png': grey },
  });
  // Things to skip: hidden files/folders, non-images, nested folders.
  await writeFile(join(root, 'cat', '.hidden.png'), randomBytesSeeded(64, 1));
  await writeFile(join(root, 'cat', 'notes.txt'), 'not an image');
  await mkdir(join(root, '.cache', 'x'), { recursive: true });
  await writeImage(join(root, 'dog', 'nested', 'f.png'), red);
  await writeFile(join(root, 'README.md'), '# data');
}

function expectNear(actual: number[], expected: number[], tolerance = 8): void {
  expect(actual).toHaveLength(expected.length);
  for (const [k, v] of actual.entries()) expect(Math.abs(v - expected[k])).toBeLessThan(tolerance);
}

describe('image-folder reader', () => {
  it('lists sorted classes and PNG/JPEG files, skipping hidden and other files', async () => {
    await writeThreeClasses(tmp.path);
    const listing = await listImageFolder(tmp.path, 'dataset');
    expect(listing.classes).toEqual(['cat', 'dog', 'emu']);
    expect(listing.files.map((f) => [f.relPath, f.label])).toEqual([
      ['cat/a.png', 0],
      ['cat/b.jpg', 0],
      ['dog/c.JPEG', 1],
      ['dog/d.png', 1],
      ['emu/e.png', 2],
    ]);
  });

  it('decodes PNG and JPEG to RGB [H,W,3] with resizing', async () => {
    await writeThreeClasses(tmp.path);
    const ds = await readImageFolder(tmp.path, [4, 3, 3], 'dataset');
    expect(Array.from(ds.labels)).toEqual([0, 0, 1, 1, 2]);
    const size = 4 * 3 * 3;
    expect(ds.pixels).toHaveLength(5 * size);
    const pixel = (img: number, p: number) =>
      Array.from(ds.pixels.subarray(img * size + p * 3, img * size + p * 3 + 3));
    for (let p = 0; p < 12; p++) {
      expect(pixel(0, p)).toEqual([255, 0, 0]); // PNG: exact
      expectNear(pixel(1, p), [255, 0, 0]); // JPEG: lossy
      expectNear(pixel(2, p), [0, 0, 255]);
      expect(pixel(4, p)).toEqual([128, 128, 128]); // greyscale source expanded to RGB
    }
  });

  it('decodes to greyscale [H,W,1]', async () => {
    await writeThreeClasses(tmp.path);
    const ds = await readImageFolder(tmp.path, [2, 2, 1], 'dataset');
    expect(ds.pixels).toHaveLength(5 * 4);
    expect(Array.from(ds.pixels.subarray(16, 20))).toEqual([128, 128, 128, 128]);
    // Red and blue become distinct mid/dark greys, one value per pixel.
    expect(new Set(ds.pixels.subarray(0, 4)).size).toBe(1);
    expect(ds.pixels[0]).toBeGreaterThan(ds.pixels[8]);
  });

  it("resizes with fit 'fill' (stretches, no crop)", async () => {
    // 8 wide x 2 high: left half black, right half white.
    const pixels = Uint8Array.from({ length: 16 }, (_, i) => (i % 8 < 4 ? 0 : 255));
    const file = join(tmp.path, 'halves.png');
    await writeImage(file, { width: 8, height: 2, channels: 1, pixels });
    const out = await decodeImageFile(file, [4, 4, 1], 'dataset.uri');
    for (let y = 0; y < 4; y++) {
      expect(out[y * 4]).toBeLessThan(20);
      expect(out[y * 4 + 3]).toBeGreaterThan(235);
    }
  });

  it('flattens alpha onto black', async () => {
    // 2x1 RGBA: opaque green, fully transparent white.
    const file = join(tmp.path, 'alpha.png');
    await writeImage(file, {
      width: 2,
      height: 1,
      channels: 4,
      pixels: Uint8Array.of(0, 255, 0, 255, 255, 255, 255, 0),
    });
    expect(Array.from(await decodeImageFile(file, [1, 2, 3], 'd'))).toEqual([0, 255, 0, 0, 0, 0]);
  });

  it('names a corrupt image and says to fix or remove it', async () => {
    await writeThreeClasses(tmp.path);
    const bad = join(tmp.path, 'dog', 'x.png');
    await writeFile(bad, randomBytesSeeded(300, 7));
    const err = await catchError(readImageFolder(tmp.path, [4, 4, 3], 'dataset'));
    expect(err).toBeInstanceOf(InvalidArtifactError);
    expect((err as InvalidArtifactError).file).toBe(bad);
    expect((err as InvalidArtifactError).issues[0].path).toBe('dataset.uri');
    expect(err.message).toContain(bad);
    expect(err.message).toMatch(/fix or remove the file/);
  });

  it('reports a missing folder as a ValidationError on <field>.uri naming the path', async () => {
    const missing = join(tmp.path, 'no-such-folder');
    const err = await catchError(listImageFolder(missing, 'dataset'));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues[0].path).toBe('dataset.uri');
    expect(err.message).toContain(missing);
  });

  it('rejects a file given as the folder', async () => {
    const file = join(tmp.path, 'f.png');
    await writeImage(file, grey);
    await expect(listImageFolder(file, 'dataset')).rejects.toThrow(/is a file, not a folder/);
  });

  it('rejects fewer than 2 classes', async () => {
    await writeImageFolder(tmp.path, { only: { 'a.png': grey } });
    await expect(listImageFolder(tmp.path, 'dataset')).rejects.toThrow(
      /1 class sub-folder \('only'\).*at least 2 classes/,
    );
  });

  it('rejects an empty class folder, naming it', async () => {
    await writeImageFolder(tmp.path, { a: { 'a.png': grey }, b: {} });
    await writeFile(join(tmp.path, 'b', 'readme.txt'), 'x');
    const err = await catchError(listImageFolder(tmp.path, 'dataset'));
    expect(err).toBeInstanceOf(InvalidArtifactError);
    expect(err.message).toMatch(/class folder 'b' has no PNG\/JPEG images/);
  });
});
