/**
 * Loads a prepared dataset (see prepare.ts) back from the ObjectStore, checking it is intact.
 * @module
 */

import { createHash } from 'node:crypto';
import { InvalidArtifactError } from '../errors.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { ImageShape, PreparedDataset } from '../schemas/dataset.js';
import type { Preprocessing } from '../schemas/preprocessing.js';

/**
 * sha256 of shape + classes + pixels + labels (+ the preprocessing record, when there is one):
 * same content made the same way, same hash (PreparedDataset.hash).
 */
export function contentHash(
  shape: ImageShape,
  classes: readonly string[],
  pixels: Uint8Array,
  labels: Uint8Array,
  preprocessing?: Preprocessing,
): string {
  const header = JSON.stringify({
    shape,
    classes,
    pixels: pixels.length,
    labels: labels.length,
    ...(preprocessing ? { preprocessing } : {}),
  });
  return createHash('sha256')
    .update(header)
    .update('\n')
    .update(pixels)
    .update(labels)
    .digest('hex');
}

export interface LoadedDataset {
  /** count * H * W * C bytes, row-major [n, H, W, C]. */
  pixels: Uint8Array;
  /** count bytes, values 0..classes.length-1. */
  labels: Uint8Array;
  manifest: PreparedDataset;
}

export interface LoadOptions {
  /** Also recompute the content hash (sha256 of all bytes; ~0.1 s per 50 MB). Default false. */
  verifyHash?: boolean;
  /** Field path named in errors. Default `dataset`. */
  fieldPath?: string;
}

/**
 * Reads pixels and labels of `manifest` and checks their byte lengths (count*H*W*C and count),
 * label range and per-class counts against the manifest.
 * Missing objects -> ObjectNotFoundError; anything inconsistent -> InvalidArtifactError naming
 * the object key and saying to prepare the dataset again.
 */
export async function loadPreparedDataset(
  objects: ObjectStore,
  manifest: PreparedDataset,
  options: LoadOptions = {},
): Promise<LoadedDataset> {
  const fieldPath = options.fieldPath ?? 'dataset';
  const [h, w, c] = manifest.shape;
  const again = `delete ${manifest.manifestKey} and prepare the dataset again`;
  const [pixels, labels] = await Promise.all([
    objects.get(manifest.dataKey),
    objects.get(manifest.labelsKey),
  ]);

  const expectedPixels = manifest.count * h * w * c;
  if (pixels.length !== expectedPixels) {
    throw new InvalidArtifactError(
      manifest.dataKey,
      fieldPath,
      `has ${pixels.length} bytes, expected ${expectedPixels} (${manifest.count} images x ${h}x${w}x${c}): ` +
        `it is ${pixels.length < expectedPixels ? 'truncated' : 'not the data of this manifest'}; ${again}`,
    );
  }
  if (labels.length !== manifest.count) {
    throw new InvalidArtifactError(
      manifest.labelsKey,
      fieldPath,
      `has ${labels.length} labels, expected ${manifest.count}: it is corrupt; ${again}`,
    );
  }
  const counts = new Array<number>(manifest.classes.length).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l >= counts.length) {
      throw new InvalidArtifactError(
        manifest.labelsKey,
        fieldPath,
        `label ${l} at index ${i} is out of range for ${counts.length} classes: it is corrupt; ${again}`,
      );
    }
    counts[l]++;
  }
  if (
    counts.length !== manifest.countsPerClass.length ||
    counts.some((n, k) => n !== manifest.countsPerClass[k])
  ) {
    throw new InvalidArtifactError(
      manifest.labelsKey,
      fieldPath,
      `counts per class are [${counts.join(', ')}], the manifest says [${manifest.countsPerClass.join(', ')}]: ${again}`,
    );
  }
  if (options.verifyHash) {
    const hash = contentHash(
      manifest.shape,
      manifest.classes,
      pixels,
      labels,
      manifest.preprocessing,
    );
    if (hash !== manifest.hash) {
      throw new InvalidArtifactError(
        manifest.dataKey,
        fieldPath,
        `content hash is ${hash}, the manifest says ${manifest.hash}: the data is corrupt; ${again}`,
      );
    }
  }
  return { pixels, labels, manifest };
}
