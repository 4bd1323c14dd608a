/**
 * Test fixtures written at test time (no binary fixtures in the repo): temp dirs, tiny PNG/JPEG
 * images generated with sharp from raw pixels, and IDX files (raw or gzip).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { encodeIdxImages, encodeIdxLabels, gzipBytes } from '../../shared/data/idx.js';
import type { Logger } from '../../shared/ports/logger.js';
import { mulberry32 } from '../../shared/random.js';

export interface TempDir {
  path: string;
  cleanup(): Promise<void>;
}

export async function makeTempDir(prefix = 'foldsweep-test-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** Deterministic pseudo-random bytes. */
export function randomBytesSeeded(length: number, seed: number): Uint8Array {
  const rand = mulberry32(seed);
  return Uint8Array.from({ length }, () => Math.floor(rand() * 256));
}

/** A solid-colour image [height, width, channels] filled with `value` per channel. */
export function solidPixels(
  width: number,
  height: number,
  value: number | readonly number[],
): Uint8Array {
  const values = typeof value === 'number' ? [value] : value;
  const out = new Uint8Array(width * height * values.length);
  for (let i = 0; i < out.length; i++) out[i] = values[i % values.length];
  return out;
}

export interface RawImage {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  pixels: Uint8Array;
}

/** Writes raw pixels as a PNG or JPEG file (format from the extension), creating folders. */
export async function writeImage(file: string, image: RawImage): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const { width, height, channels, pixels } = image;
  const pipeline = sharp(pixels, { raw: { width, height, channels } });
  const lower = file.toLowerCase();
  const body =
    lower.endsWith('.jpg') || lower.endsWith('.jpeg')
      ? await pipeline.jpeg({ quality: 95 }).toBuffer()
      : await pipeline.png().toBuffer();
  await writeFile(file, body);
}

/**
 * Writes an image-folder dataset: `classes` maps a class folder name to its images, keyed by
 * file name (`a.png`, `b.JPG`, ...).
 */
export async function writeImageFolder(
  root: string,
  classes: Record<string, Record<string, RawImage>>,
): Promise<void> {
  for (const [cls, files] of Object.entries(classes)) {
    await mkdir(join(root, cls), { recursive: true });
    for (const [name, image] of Object.entries(files))
      await writeImage(join(root, cls, name), image);
  }
}

export interface IdxFixture {
  imagesFile: string;
  labelsFile: string;
  pixels: Uint8Array;
  labels: Uint8Array;
}

/**
 * Writes `<dir>/<prefix>-images-idx3-ubyte[.gz]` and the matching labels file with
 * deterministic pixels; `labels[i]` is the label of image i.
 */
export async function writeIdxPair(
  dir: string,
  options: {
    labels: readonly number[];
    rows: number;
    cols: number;
    gzip?: boolean;
    prefix?: string;
    seed?: number;
    /** Pixels to use instead of random ones (labels.length * rows * cols bytes). */
    pixels?: Uint8Array;
  },
): Promise<IdxFixture> {
  const { rows, cols, gzip = false, prefix = 'train', seed = 1 } = options;
  const count = options.labels.length;
  const pixels = options.pixels ?? randomBytesSeeded(count * rows * cols, seed);
  const labels = Uint8Array.from(options.labels);
  const suffix = gzip ? '.gz' : '';
  const imagesFile = join(dir, `${prefix}-images-idx3-ubyte${suffix}`);
  const labelsFile = join(dir, `${prefix}-labels-idx1-ubyte${suffix}`);
  let imagesBytes = encodeIdxImages({ count, rows, cols, pixels });
  let labelsBytes = encodeIdxLabels(labels);
  if (gzip) {
    imagesBytes = await gzipBytes(imagesBytes);
    labelsBytes = await gzipBytes(labelsBytes);
  }
  await mkdir(dir, { recursive: true });
  await writeFile(imagesFile, imagesBytes);
  await writeFile(labelsFile, labelsBytes);
  return { imagesFile, labelsFile, pixels, labels };
}

/** A test Logger that records every call. */
export function recordingLogger() {
  const records: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> = [];
  const make = (bindings: Record<string, unknown>): Logger => {
    const log =
      (level: string) =>
      (obj: object, msg?: string): void => {
        records.push({ level, obj: { ...bindings, ...obj }, msg });
      };
    return {
      info: log('info'),
      warn: log('warn'),
      error: log('error'),
      debug: log('debug'),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return { logger: make({}), records };
}
