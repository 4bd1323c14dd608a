/**
 * Pixel helpers shared by the dataset readers: resizing raw uint8 images with sharp under the
 * dataset's resize policy (see ResizePolicySchema: stretch, centre-crop or pad on black) and
 * channel conversion. shared/model/preprocessing.ts records what these do.
 * @module
 */
import { availableParallelism } from 'node:os';
import sharp, { type ResizeOptions } from 'sharp';
import { forEachBounded } from '../concurrency.js';
import type { ImageShape } from '../schemas/dataset.js';
import { DEFAULT_RESIZE_POLICY, type ResizePolicy } from '../schemas/preprocessing.js';

/** sharp calls in flight when decoding or resizing many images. */
export const DECODE_CONCURRENCY = Math.max(2, availableParallelism() * 2);

/** sharp's resize options for each policy (the kernel is sharp's default, lanczos3). */
export function resizeOptions(policy: ResizePolicy = DEFAULT_RESIZE_POLICY): ResizeOptions {
  switch (policy) {
    case 'stretch':
      return { fit: 'fill' };
    case 'crop':
      return { fit: 'cover', position: 'centre' };
    case 'pad':
      return { fit: 'contain', position: 'centre', background: { r: 0, g: 0, b: 0, alpha: 1 } };
  }
}

/** Replicates one greyscale channel into three (RGB). */
export function greyToRgb(grey: Uint8Array): Uint8Array {
  const out = new Uint8Array(grey.length * 3);
  for (let i = 0, j = 0; i < grey.length; i++, j += 3) {
    const v = grey[i];
    out[j] = v;
    out[j + 1] = v;
    out[j + 2] = v;
  }
  return out;
}

/**
 * Converts interleaved pixels with `channels` channels to `target` channels.
 * Supports 1 -> 1, 1 -> 3, 3 -> 3 and 3 -> 1 (ITU-R BT.601 luma); anything else is a bug upstream.
 */
export function convertChannels(data: Uint8Array, channels: number, target: 1 | 3): Uint8Array {
  if (channels === target) return data;
  if (channels === 1 && target === 3) return greyToRgb(data);
  if (channels === 3 && target === 1) {
    const out = new Uint8Array(data.length / 3);
    for (let i = 0, j = 0; i < out.length; i++, j += 3) {
      out[i] = Math.round(0.299 * data[j] + 0.587 * data[j + 1] + 0.114 * data[j + 2]);
    }
    return out;
  }
  throw new Error(`cannot convert ${channels}-channel pixels to ${target} channels`);
}

/**
 * Resizes `count` greyscale images [rows, cols] (concatenated) to `shape` [H, W, C] under
 * `policy`. Skips sharp entirely when the size already matches.
 */
export async function resizeGreyImages(
  pixels: Uint8Array,
  count: number,
  rows: number,
  cols: number,
  shape: ImageShape,
  policy: ResizePolicy = DEFAULT_RESIZE_POLICY,
): Promise<Uint8Array> {
  const [h, w, c] = shape;
  if (rows === h && cols === w) return c === 1 ? pixels.slice() : greyToRgb(pixels);
  const inSize = rows * cols;
  const outSize = h * w * c;
  const out = new Uint8Array(count * outSize);
  await forEachBounded(count, DECODE_CONCURRENCY, async (i) => {
    const img = pixels.subarray(i * inSize, (i + 1) * inSize);
    const { data, info } = await sharp(img, { raw: { width: cols, height: rows, channels: 1 } })
      .resize(w, h, resizeOptions(policy))
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    out.set(convertChannels(data, info.channels, c), i * outSize);
  });
  return out;
}
