/**
 * Reader of image-folder datasets: one sub-folder per class (class names = sorted sub-folder
 * names), PNG/JPEG files inside (by extension .png/.jpg/.jpeg, any case). Hidden entries
 * (names starting with '.') and other files are skipped; nested folders are not descended into.
 * Images are decoded with sharp, EXIF-oriented, flattened onto black when they have alpha,
 * converted to greyscale (C=1) or sRGB (C=3) and fitted to [H, W, C] uint8 under the dataset's
 * resize policy (stretch by default; crop or pad). Limits (shared/data/limits.ts): the number of
 * image files is checked when listing, an image's pixel count from its header before decoding.
 * @module
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { forEachBounded } from '../concurrency.js';
import { InvalidArtifactError, ValidationError } from '../errors.js';
import type { SourceSizeTally } from '../model/preprocessing.js';
import type { ImageShape } from '../schemas/dataset.js';
import type { ResizePolicy } from '../schemas/preprocessing.js';
import { asUint8Array } from './idx.js';
import { DEFAULT_DATA_LIMITS, raiseHint } from './limits.js';
import { convertChannels, DECODE_CONCURRENCY, resizeOptions } from './pixels.js';

export interface DecodeOptions {
  resize?: ResizePolicy;
  /** Largest width x height of a source image (header), default DEFAULT_DATA_LIMITS. */
  maxImagePixels?: number;
  /** Counts each decoded image's source size and channels (for the preprocessing record). */
  tally?: SourceSizeTally;
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

export interface ImageFile {
  /** Absolute (or as-given) path of the file. */
  path: string;
  /** Path relative to the dataset root, with '/' separators: `<class>/<file>`. */
  relPath: string;
  /** Index of the class in `classes`. */
  label: number;
  size: number;
  mtimeMs: number;
}

export interface ImageFolderListing {
  root: string;
  classes: string[];
  /** Sorted by class, then file name. */
  files: ImageFile[];
}

export function isImageFileName(name: string): boolean {
  return !name.startsWith('.') && IMAGE_EXTENSIONS.has(extname(name).toLowerCase());
}

/** stat() following symlinks; null for broken links and vanished entries. */
async function statOrNull(path: string) {
  try {
    return await stat(path);
  } catch {
    return null;
  }
}

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Lists the classes and image files of a dataset folder (with sizes and mtimes, no decoding).
 * Errors: missing/not-a-folder root -> ValidationError on `<fieldPath>.uri`; fewer than 2 classes,
 * an empty class folder, more than 256 classes or more than `maxImageFiles` images (counted from
 * the folder entries, before any file is opened) -> InvalidArtifactError naming the folder.
 */
export async function listImageFolder(
  root: string,
  fieldPath: string,
  maxImageFiles = DEFAULT_DATA_LIMITS.maxImageFiles,
): Promise<ImageFolderListing> {
  const uriPath = `${fieldPath}.uri`;
  try {
    const s = await stat(root);
    if (!s.isDirectory()) {
      throw ValidationError.single(
        uriPath,
        `'${root}' is a file, not a folder: give a folder with one sub-folder of images per class`,
      );
    }
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    throw ValidationError.single(
      uriPath,
      `no folder at '${root}' (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ` +
        'give the path of a folder with one sub-folder of images per class',
      err,
    );
  }

  const entries = (await readdir(root)).filter((n) => !n.startsWith('.'));
  const entryStats = await Promise.all(entries.map((n) => statOrNull(join(root, n))));
  const classes = entries.filter((_, k) => entryStats[k]?.isDirectory()).sort(byCodePoint);
  if (classes.length < 2) {
    throw new InvalidArtifactError(
      root,
      uriPath,
      `has ${classes.length} class sub-folder${classes.length === 1 ? ` ('${classes[0]}')` : 's'}: ` +
        'an image-folder dataset needs one sub-folder per class and at least 2 classes',
    );
  }
  if (classes.length > 256) {
    throw new InvalidArtifactError(
      root,
      uriPath,
      `has ${classes.length} class sub-folders: at most 256 classes are supported (labels are uint8)`,
    );
  }

  const files: ImageFile[] = [];
  let seen = 0;
  for (const [label, cls] of classes.entries()) {
    const dir = join(root, cls);
    const candidates = (await readdir(dir)).filter(isImageFileName).sort(byCodePoint);
    seen += candidates.length;
    if (seen > maxImageFiles) {
      throw new InvalidArtifactError(
        root,
        uriPath,
        `has more than ${maxImageFiles} image files (${seen} in its first ${label + 1} of ` +
          `${classes.length} class folders; limit maxImageFiles): use a subset of the folder, or ` +
          raiseHint('maxImageFiles'),
      );
    }
    const stats = await Promise.all(candidates.map((n) => statOrNull(join(dir, n))));
    const before = files.length;
    candidates.forEach((name, k) => {
      const s = stats[k];
      if (!s?.isFile()) return;
      files.push({
        path: join(dir, name),
        relPath: `${cls}/${name}`,
        label,
        size: s.size,
        mtimeMs: s.mtimeMs,
      });
    });
    if (files.length === before) {
      throw new InvalidArtifactError(
        dir,
        uriPath,
        `class folder '${cls}' has no PNG/JPEG images (.png, .jpg, .jpeg): add images or remove the folder`,
      );
    }
  }
  return { root, classes, files };
}

/**
 * Decodes one image file to [H, W, C] uint8. Its header is read first: an image of more than
 * `maxImagePixels` pixels is rejected before it is decoded.
 * A file that is not a readable PNG/JPEG, or too large -> InvalidArtifactError naming it.
 */
export async function decodeImageFile(
  file: string,
  shape: ImageShape,
  fieldPath: string,
  options: DecodeOptions = {},
): Promise<Uint8Array> {
  const [h, w, c] = shape;
  const maxPixels = options.maxImagePixels ?? DEFAULT_DATA_LIMITS.maxImagePixels;
  let width: number;
  let height: number;
  let channels: number;
  let image: Sharp;
  try {
    // Header only (no limit, so that the message can say how large it is): nothing is decoded.
    const meta = await sharp(file, { limitInputPixels: false }).metadata();
    // limitInputPixels guards the decode itself too (a header that lies about its size).
    image = sharp(file, { limitInputPixels: maxPixels });
    width = meta.autoOrient?.width ?? meta.width ?? 0;
    height = meta.autoOrient?.height ?? meta.height ?? 0;
    channels = meta.channels ?? 0;
  } catch (err) {
    throw undecodable(file, fieldPath, err);
  }
  if (width * height > maxPixels) {
    throw new InvalidArtifactError(
      file,
      fieldPath,
      `is ${width}x${height} (${width * height} pixels, from its header; not decoded), more than ` +
        `the limit of ${maxPixels} pixels per image (maxImagePixels): downscale or remove it, or ` +
        raiseHint('maxImagePixels', width * height),
    );
  }
  try {
    let pipeline = image.autoOrient().flatten({ background: '#000000' });
    pipeline = c === 1 ? pipeline.greyscale() : pipeline.toColourspace('srgb');
    const { data, info } = await pipeline
      .resize(w, h, resizeOptions(options.resize))
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const pixels = convertChannels(data, info.channels, c);
    if (pixels.length !== h * w * c) {
      throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}`);
    }
    options.tally?.add(width, height, channels);
    return asUint8Array(pixels);
  } catch (err) {
    throw undecodable(file, fieldPath, err);
  }
}

function undecodable(file: string, fieldPath: string, err: unknown): InvalidArtifactError {
  return new InvalidArtifactError(
    file,
    fieldPath,
    `cannot be decoded as a PNG/JPEG image (${(err as Error).message.trim()}): fix or remove the file`,
    { cause: err },
  );
}

/** Decodes the given files (in order) into one [n, H, W, C] uint8 buffer. */
export async function decodeImageFiles(
  files: readonly Pick<ImageFile, 'path'>[],
  shape: ImageShape,
  fieldPath: string,
  options: DecodeOptions = {},
): Promise<Uint8Array> {
  const size = shape[0] * shape[1] * shape[2];
  const out = new Uint8Array(files.length * size);
  await forEachBounded(files.length, DECODE_CONCURRENCY, async (i) => {
    out.set(await decodeImageFile(files[i].path, shape, fieldPath, options), i * size);
  });
  return out;
}

/**
 * Lists and decodes a whole image folder.
 * @returns classes (sorted sub-folder names), labels and pixels [n, H, W, C].
 */
export async function readImageFolder(
  root: string,
  shape: ImageShape,
  fieldPath: string,
  options: DecodeOptions & { maxImageFiles?: number } = {},
): Promise<{ classes: string[]; labels: Uint8Array; pixels: Uint8Array; files: ImageFile[] }> {
  const listing = await listImageFolder(root, fieldPath, options.maxImageFiles);
  const pixels = await decodeImageFiles(listing.files, shape, `${fieldPath}.uri`, options);
  return {
    classes: listing.classes,
    labels: Uint8Array.from(listing.files, (f) => f.label),
    pixels,
    files: listing.files,
  };
}
