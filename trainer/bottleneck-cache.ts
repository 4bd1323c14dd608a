/**
 * The bottleneck cache. A fully frozen base up to the cut, fed un-augmented images, is a fixed
 * function of each image: its outputs ("bottleneck features") are the same for every fold,
 * learning rate, SVM C and epoch. They are computed once per (base model, cut layer, dataset)
 * for every sample of the prepared dataset, in inference mode, and stored in the object store:
 *
 *   cache/bottleneck/<key>/features.f32    float32 little-endian, row-major [count, ...featureShape]
 *   cache/bottleneck/<key>/manifest.json   what the features are (written last: the commit mark)
 *
 * key = sha256 of (base model hash, cut layer, dataset hash, preprocessing). Two trials that miss
 * at the same time both compute and write the features; that is safe: the computation is
 * deterministic on one backend, and `put` replaces atomically, so a reader sees one complete
 * writer's bytes (a manifest is only read after its features were written).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { PREPROCESSING } from '../shared/model/preprocessing.js';
import { getJson, type ObjectStore } from '../shared/ports/object-store.js';
import { imagesTensor, type PixelScaling } from './data.js';
import type { LayersModel, Tensor, Tf } from './tf.js';

const FORMAT = 'foldsweep-bottleneck/1';
const BATCH = 256;

const ManifestSchema = z.object({
  format: z.literal(FORMAT),
  baseModelHash: z.string(),
  cutLayer: z.string(),
  datasetHash: z.string(),
  count: z.number().int().nonnegative(),
  featureShape: z.array(z.number().int().positive()).min(1),
  dtype: z.literal('float32'),
});
export type BottleneckManifest = z.infer<typeof ManifestSchema>;

export interface BottleneckSource {
  baseModelHash: string;
  cutLayer: string;
  datasetHash: string;
}

export interface BottleneckFeatures {
  /** Row-major [count, ...featureShape]: one row per sample of the prepared dataset. */
  table: Float32Array;
  featureShape: number[];
  /** hit: read from the cache; miss: computed now (and stored). */
  cache: 'hit' | 'miss';
  key: string;
}

export function bottleneckKey(source: BottleneckSource): string {
  return createHash('sha256')
    .update(
      JSON.stringify({
        format: FORMAT,
        baseModelHash: source.baseModelHash,
        cutLayer: source.cutLayer,
        datasetHash: source.datasetHash,
        preprocessing: [PREPROCESSING.scale, PREPROCESSING.offset, PREPROCESSING.layout],
      }),
    )
    .digest('hex');
}

export const bottleneckPrefix = (key: string) => `cache/bottleneck/${key}`;

/**
 * Runs `extractor` (inference mode) over every image, in batches.
 * @param pixels the prepared dataset's uint8 pixels, [count, H, W, C]
 * @returns row-major [count, ...featureShape] float32
 */
export async function computeFeatures(
  tf: Tf,
  extractor: LayersModel,
  pixels: Uint8Array,
  shape: readonly [number, number, number],
  count: number,
  scaling: PixelScaling = PREPROCESSING,
): Promise<{ table: Float32Array; featureShape: number[] }> {
  const featureShape = (extractor.outputs[0].shape.slice(1) as number[]).map((d) => {
    if (d === null || d <= 0) throw new Error('the cut layer has a dynamic output shape');
    return d;
  });
  const rowSize = featureShape.reduce((a, b) => a * b, 1);
  const table = new Float32Array(count * rowSize);
  for (let start = 0; start < count; start += BATCH) {
    const indices = Array.from({ length: Math.min(BATCH, count - start) }, (_, i) => start + i);
    const xs = imagesTensor(tf, pixels, shape, indices, scaling);
    const features = extractor.predict(xs) as Tensor;
    table.set(await features.data(), start * rowSize);
    tf.dispose([xs, features]);
  }
  return { table, featureShape };
}

/**
 * The bottleneck features of every sample of a prepared dataset: from the cache when present,
 * else computed with `extractor` and stored.
 */
export async function getBottleneckFeatures(
  tf: Tf,
  objects: ObjectStore,
  source: BottleneckSource,
  extractor: LayersModel,
  dataset: {
    pixels: Uint8Array;
    shape: readonly [number, number, number];
    count: number;
    scaling?: PixelScaling;
  },
): Promise<BottleneckFeatures> {
  const key = bottleneckKey(source);
  const prefix = bottleneckPrefix(key);
  const cached = await readCached(objects, prefix, source, dataset.count);
  if (cached) return { ...cached, cache: 'hit', key };
  const { table, featureShape } = await computeFeatures(
    tf,
    extractor,
    dataset.pixels,
    dataset.shape,
    dataset.count,
    dataset.scaling,
  );
  const manifest: BottleneckManifest = {
    format: FORMAT,
    ...source,
    count: dataset.count,
    featureShape,
    dtype: 'float32',
  };
  await objects.put(
    `${prefix}/features.f32`,
    new Uint8Array(table.buffer, table.byteOffset, table.byteLength),
  );
  await objects.put(`${prefix}/manifest.json`, JSON.stringify(manifest, null, 1));
  return { table, featureShape, cache: 'miss', key };
}

/** The cached features, or undefined when absent or not matching `source` (then recomputed). */
async function readCached(
  objects: ObjectStore,
  prefix: string,
  source: BottleneckSource,
  count: number,
): Promise<{ table: Float32Array; featureShape: number[] } | undefined> {
  if (!(await objects.exists(`${prefix}/manifest.json`))) return undefined;
  const manifest = ManifestSchema.safeParse(await getJson(objects, `${prefix}/manifest.json`));
  if (
    !manifest.success ||
    manifest.data.count !== count ||
    manifest.data.baseModelHash !== source.baseModelHash ||
    manifest.data.cutLayer !== source.cutLayer ||
    manifest.data.datasetHash !== source.datasetHash
  ) {
    return undefined;
  }
  const bytes = await objects.get(`${prefix}/features.f32`);
  const featureShape = manifest.data.featureShape;
  const expected = count * featureShape.reduce((a, b) => a * b, 1) * 4;
  if (bytes.byteLength !== expected) return undefined;
  // Float32Array needs a 4-byte aligned offset; copy when the store returned a view that is not.
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  return {
    table: new Float32Array(aligned.buffer, aligned.byteOffset, expected / 4),
    featureShape,
  };
}
