/**
 * The one place for preprocessing: what turns a source image into the float32 tensor every model
 * of a sweep sees. The dataset preparer builds the record (`buildPreprocessing`) and stores it in
 * the prepared dataset's manifest; the trainer and the evaluator read it (`preprocessingOf`) to
 * scale pixels; promotion copies it into the champion's metadata.json, from which a client (and
 * the stock-tfjs tests) reproduce it.
 * @module
 */
import type { ImageShape, PreparedDataset } from '../schemas/dataset.js';
import {
  DEFAULT_RESIZE_POLICY,
  type Preprocessing,
  type ResizePolicy,
  type SourceSize,
} from '../schemas/preprocessing.js';

/** x = pixel * PIXEL_SCALE + PIXEL_OFFSET: float32 in [0, 1]. */
export const PIXEL_SCALE = 1 / 255;
export const PIXEL_OFFSET = 0;

/** The scale step alone (what datasets prepared before the full record carry implicitly). */
export const PREPROCESSING = {
  description: 'x = pixel / 255 as float32, NHWC, channels as prepared (1 = greyscale, 3 = RGB)',
  scale: PIXEL_SCALE,
  offset: PIXEL_OFFSET,
  layout: 'NHWC',
} as const;

/** Source sizes listed in a record; the rest are only counted (`otherSourceSizes`). */
export const MAX_LISTED_SOURCE_SIZES = 20;

/** Counts images per (width, height, channels) as they are decoded. */
export class SourceSizeTally {
  private readonly counts = new Map<string, SourceSize>();

  add(width: number, height: number, channels: number, count = 1): void {
    const key = `${width}x${height}x${channels}`;
    const seen = this.counts.get(key);
    if (seen) seen.count += count;
    else this.counts.set(key, { width, height, channels, count });
  }

  /** Every size seen, most frequent first (ties: larger images first). */
  sizes(): SourceSize[] {
    return [...this.counts.values()].sort(
      (a, b) => b.count - a.count || b.width * b.height - a.width * a.height,
    );
  }
}

export interface PreprocessingInput {
  source: 'idx' | 'image-folder';
  resize?: ResizePolicy;
  /** Every source size seen (a SourceSizeTally's `sizes()`). */
  sizes: readonly SourceSize[];
  targetShape: ImageShape;
}

const RESIZE_STEP: Record<ResizePolicy, (w: number, h: number) => string> = {
  stretch: (w, h) =>
    `resize to ${w}x${h} with libvips' lanczos3 kernel, stretched to fill it (aspect ratio not kept)`,
  crop: (w, h) =>
    `scale with libvips' lanczos3 kernel to cover ${w}x${h}, keeping the aspect ratio, and keep the centre ${w}x${h}`,
  pad: (w, h) =>
    `scale with libvips' lanczos3 kernel to fit inside ${w}x${h}, keeping the aspect ratio, and centre it on black`,
};

/**
 * The record of how a dataset was prepared, from what its decoding saw.
 * @example
 * buildPreprocessing({ source: 'image-folder', resize: 'crop', targetShape: [32, 32, 3],
 *   sizes: [{ width: 64, height: 48, channels: 3, count: 120 }] });
 */
export function buildPreprocessing(input: PreprocessingInput): Preprocessing {
  const { source, sizes, targetShape } = input;
  const resize = input.resize ?? DEFAULT_RESIZE_POLICY;
  const [h, w, c] = targetShape;
  const total = sizes.reduce((s, x) => s + x.count, 0);
  const sum = (keep: (s: SourceSize) => boolean) =>
    sizes.filter(keep).reduce((n, s) => n + s.count, 0);
  const colour = sum((s) => s.channels >= 3);
  const grey = total - colour;
  const alphaFlattened = sizes.some((s) => s.channels === 2 || s.channels === 4);
  const resized = sum((s) => s.width !== w || s.height !== h);
  const otherAspect = sum((s) => s.width * h !== s.height * w);
  const channelConversion =
    c === 1 ? (colour > 0 ? 'rgb-to-grey' : 'none') : grey > 0 ? 'grey-to-rgb' : 'none';

  const steps: string[] = [];
  const warnings: string[] = [];
  const convert =
    channelConversion === 'rgb-to-grey'
      ? 'convert colour images to one grey channel (libvips sRGB -> b-w): colour dropped'
      : channelConversion === 'grey-to-rgb'
        ? 'copy the grey value of greyscale images into R, G and B'
        : undefined;
  const resizeStep = resized
    ? `${RESIZE_STEP[resize](w, h)} (${resized} of ${total} images; resize policy '${resize}')`
    : `no resize: every source image is already ${w}x${h} (resize policy '${resize}')`;
  if (source === 'idx') {
    steps.push('read the IDX images file: uint8 greyscale, row-major');
    steps.push(resizeStep);
    if (convert) steps.push(convert);
  } else {
    steps.push('decode PNG/JPEG with sharp (libvips) and apply the EXIF orientation');
    if (alphaFlattened) steps.push('flatten the alpha channel onto black (#000000)');
    if (convert) steps.push(convert);
    steps.push(resizeStep);
  }
  steps.push(`store as uint8 [N, ${h}, ${w}, ${c}] (NHWC)`);
  steps.push(
    `x = pixel * ${PIXEL_SCALE} + ${PIXEL_OFFSET} as float32 (pixel / 255: values in [0, 1]), NHWC`,
  );

  if (colour > 0 && c === 1) {
    warnings.push(
      `colour dropped: the base model takes 1 channel (greyscale) but ${colour} of ${total} ` +
        'images are in colour; they were converted to grey. Use a base model with 3 input ' +
        'channels to keep colour',
    );
  }
  if (resize === 'stretch' && otherAspect > 0) {
    warnings.push(
      `${otherAspect} of ${total} images have an aspect ratio other than ${w}x${h} and were ` +
        'stretched: set dataset.resize to "crop" or "pad" to keep their proportions',
    );
  }
  const listed = sizes.slice(0, MAX_LISTED_SOURCE_SIZES).map((s) => ({ ...s }));
  return {
    source,
    resize,
    resizeKernel: 'lanczos3',
    sourceSizes: listed,
    otherSourceSizes: sizes.length - listed.length,
    targetShape: [h, w, c],
    channelConversion,
    alphaFlattened,
    colourDropped: colour > 0 && c === 1,
    scale: PIXEL_SCALE,
    offset: PIXEL_OFFSET,
    layout: 'NHWC',
    steps,
    warnings,
  };
}

/**
 * The preprocessing of a prepared dataset: its recorded one, or for a dataset prepared before
 * foldsweep recorded it, what that version did (stretch, x = pixel / 255).
 */
export function preprocessingOf(dataset: PreparedDataset): Preprocessing {
  if (dataset.preprocessing) return dataset.preprocessing;
  const [h, w, c] = dataset.shape;
  return {
    source: dataset.source.format,
    resize: 'stretch',
    resizeKernel: 'lanczos3',
    sourceSizes: [],
    otherSourceSizes: 0,
    targetShape: [h, w, c],
    channelConversion: 'none',
    alphaFlattened: false,
    colourDropped: false,
    scale: PIXEL_SCALE,
    offset: PIXEL_OFFSET,
    layout: 'NHWC',
    steps: [
      `prepared before foldsweep recorded source sizes and channel conversions: decoded, stretched to ${w}x${h} with ${c} channel${c === 1 ? '' : 's'}`,
      `store as uint8 [N, ${h}, ${w}, ${c}] (NHWC)`,
      `x = pixel * ${PIXEL_SCALE} + ${PIXEL_OFFSET} as float32 (pixel / 255: values in [0, 1]), NHWC`,
    ],
    warnings: [],
  };
}

/** One line for people: what a client must do to an image before `model.predict`. */
export function describePreprocessing(p: Preprocessing): string {
  const [h, w, c] = p.targetShape;
  const channels = c === 1 ? '1 grey channel' : '3 channels (RGB)';
  return (
    `${p.resize} to ${w}x${h}, ${channels}${p.colourDropped ? ' (colour dropped)' : ''}, ` +
    `x = pixel * ${p.scale} + ${p.offset} as float32, NHWC`
  );
}
