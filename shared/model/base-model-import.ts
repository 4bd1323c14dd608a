/**
 * What every base-model importer does with a tfjs layers `model.json` and its weights, wherever
 * they are read from (the file system: shared/adapters/local/fs-model-importer.ts; S3:
 * shared/adapters/aws/s3-model-source.ts): check it is a layers model with a softmax head, check
 * that the weight paths of its `weightsManifest` stay inside the model's folder, content-hash it
 * (model.json text, then the weight files in manifest order) and copy it into the object store
 * under `models/<hash>/`, so every trainer reads the same bytes.
 *
 * Sources other than the file system plug in as a ModelSource. Their models are fingerprinted
 * like datasets (shared/data/prepare.ts): `models/by-source/<fingerprint>.json`, keyed on
 * model.json's location and ETag/size, records the stored model and every weight file's
 * ETag/size; when the listing shows the same ETags and sizes again, the stored model is reused
 * without reading model.json or any weight file.
 * @module
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { mapBounded } from '../concurrency.js';
import { InvalidArtifactError } from '../errors.js';
import type { Logger } from '../ports/logger.js';
import { getJson, type ObjectStore } from '../ports/object-store.js';
import type { BaseModelRef } from '../schemas/plan.js';
import {
  LayersModelFormatError,
  type LayersModelSummary,
  summarizeLayersModel,
} from './layers-json.js';

export const MODELS_PREFIX = 'models';
/** Bump when what a pointer records, or how a model is stored, changes. */
const MODEL_SOURCE_VERSION = 1;
/** Weight files read at once from a source. */
export const MODEL_READ_CONCURRENCY = 8;

/** The parsed, checked model.json; InvalidArtifactError on `fieldPath` naming `file` otherwise. */
export function parseModelJson(text: string, file: string, fieldPath: string): LayersModelSummary {
  let json: unknown;
  try {
    // A UTF-8 byte order mark (editors on Windows write one) is not part of the JSON.
    json = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (cause) {
    throw new InvalidArtifactError(
      file,
      fieldPath,
      'is not JSON: give the model.json written by tf.LayersModel.save or tensorflowjs_converter',
      { cause },
    );
  }
  let summary: LayersModelSummary;
  try {
    summary = summarizeLayersModel(json);
  } catch (cause) {
    if (cause instanceof LayersModelFormatError) {
      throw new InvalidArtifactError(file, fieldPath, cause.message, { cause });
    }
    throw cause;
  }
  for (const path of summary.weightPaths) checkWeightPath(path, file, fieldPath);
  return summary;
}

/**
 * A weightsManifest path must name a file in model.json's folder or below it: relative, `/`
 * separators, no `..` (nor `.` or empty) segment. Otherwise InvalidArtifactError naming model.json.
 */
export function checkWeightPath(path: string, file: string, fieldPath: string): void {
  const fail = (why: string) =>
    new InvalidArtifactError(
      file,
      fieldPath,
      `weightsManifest path '${path}' ${why}: weight files must sit in model.json's folder or ` +
        "below it, named by relative paths such as 'group1-shard1of1.bin' (fix model.json's " +
        'weightsManifest or re-save the model)',
    );
  if (/^([/\\]|[a-z]:[/\\]|[a-z][a-z0-9+.-]*:)/i.test(path)) {
    throw fail('is absolute (a path or URL of its own)');
  }
  const segments = path.split(/[/\\]/);
  if (segments.includes('..')) throw fail("leaves the model's folder ('..')");
  if (path.includes('\\') || segments.some((s) => s === '' || s === '.')) {
    throw fail("is not a plain relative path ('/' separators, no empty or '.' segments)");
  }
}

/**
 * Each weightsManifest group's files must hold exactly the bytes its weights take: a truncated
 * (or empty) file, or one longer than model.json says, is refused before any file is read, with
 * InvalidArtifactError naming the file. `sizeOf` gives a file's size by manifest path; `where`
 * its location as messages name it.
 */
export function checkWeightSizes(
  summary: Pick<LayersModelSummary, 'weightGroups'>,
  sizeOf: (path: string) => number,
  where: (path: string) => string,
  fieldPath: string,
): void {
  for (const group of summary.weightGroups) {
    const sizes = group.paths.map(sizeOf);
    const actual = sizes.reduce((a, b) => a + b, 0);
    if (actual === group.bytes) continue;
    const file = group.paths.length === 1 ? where(group.paths[0]) : where(group.paths.at(-1) ?? '');
    const names = group.paths.length === 1 ? 'it' : `${group.paths.join(' + ')} together`;
    throw new InvalidArtifactError(
      file,
      fieldPath,
      `model.json's weightsManifest describes ${group.bytes} bytes of weights but ${names} ` +
        `${group.paths.length === 1 ? 'has' : 'have'} ${actual} bytes (${actual < group.bytes ? 'truncated' : 'longer than the manifest says'}): ` +
        'the weight file is damaged or belongs to another model: copy model.json and its weight files again, or re-save the model',
    );
  }
}

/** The content hash of a model: model.json's text, then each weight file in manifest order. */
export function modelHash(text: string, weights: readonly Uint8Array[]): string {
  const hash = createHash('sha256').update(text);
  for (const data of weights) hash.update(data);
  return hash.digest('hex');
}

/**
 * Stores model.json and its weights under `models/<hash>/` unless already there (weights first,
 * model.json last: a stored model.json means the whole model is stored). Returns the prefix.
 */
export async function storeModel(
  objects: ObjectStore,
  hash: string,
  text: string,
  weights: readonly (readonly [path: string, data: Uint8Array])[],
): Promise<string> {
  const prefix = `${MODELS_PREFIX}/${hash}`;
  if (!(await objects.exists(`${prefix}/model.json`))) {
    for (const [p, data] of weights) await objects.put(`${prefix}/${p}`, data);
    await objects.put(`${prefix}/model.json`, text);
  }
  return prefix;
}

export function baseModelRef(
  uri: string,
  hash: string,
  prefix: string,
  summary: Pick<LayersModelSummary, 'inputShape' | 'baseLayers' | 'numClasses'>,
): BaseModelRef {
  return {
    uri,
    hash,
    prefix,
    inputShape: summary.inputShape as BaseModelRef['inputShape'],
    layers: summary.baseLayers,
    numClasses: summary.numClasses,
  };
}

/** What identifies an object's content without reading it. */
export interface ObjectIdentity {
  size: number;
  etag: string;
}

/**
 * A base-model location outside the file system (e.g. S3). `locate` reads no content; the
 * reads run only when the model is not already stored under the same identities.
 */
export interface ModelSource {
  /** Whether this source reads `uri` (e.g. every `s3://` URI). */
  handles(uri: string): boolean;
  /** Finds model.json and what lies beside it; errors are ValidationErrors on `fieldPath`. */
  locate(uri: string, fieldPath: string): Promise<LocatedModel>;
}

export interface LocatedModel {
  /** model.json's location as messages name it (e.g. `s3://bucket/models/base/model.json`). */
  modelJsonUri: string;
  modelJson: ObjectIdentity;
  /** The object at `path` relative to model.json's folder, undefined when there is none. */
  weight(path: string): ObjectIdentity | undefined;
  /** Its location as messages name it. */
  weightUri(path: string): string;
  /** Said after "is missing:" for a weight file that is not there (how to upload it). */
  missingWeightHint: string;
  readModelJson(): Promise<Uint8Array>;
  readWeight(path: string): Promise<Uint8Array>;
}

const IdentitySchema = z.object({ size: z.number(), etag: z.string() });
const PointerSchema = z.object({
  hash: z.string(),
  prefix: z.string(),
  weights: z.array(IdentitySchema.extend({ path: z.string() })),
  inputShape: z.tuple([z.number(), z.number(), z.number()]),
  baseLayers: z.array(z.object({ name: z.string(), className: z.string() })),
  numClasses: z.number(),
});
type Pointer = z.infer<typeof PointerSchema>;

export function modelSourcePointerKey(fingerprint: string): string {
  return `${MODELS_PREFIX}/by-source/${fingerprint}.json`;
}

/** sha256 over model.json's location and identity (no content read). */
export function modelSourceFingerprint(located: Pick<LocatedModel, 'modelJsonUri' | 'modelJson'>) {
  return createHash('sha256')
    .update(
      JSON.stringify({
        v: MODEL_SOURCE_VERSION,
        uri: located.modelJsonUri,
        size: located.modelJson.size,
        etag: located.modelJson.etag,
      }),
    )
    .digest('hex');
}

export interface ModelImportOutcome {
  ref: BaseModelRef;
  /** `'source'`: same model.json and weight identities as an earlier import, nothing read. */
  reused: 'source' | false;
  fingerprint: string;
}

/**
 * Imports the model `uri` names through `source`, reusing an earlier import of the same objects.
 * @example
 * const { ref, reused } = await importFromSource(objects, s3Models, 's3://models/base/model.json', 'baseModel');
 */
export async function importFromSource(
  objects: ObjectStore,
  source: ModelSource,
  uri: string,
  fieldPath: string,
  logger?: Logger,
): Promise<ModelImportOutcome> {
  const located = await source.locate(uri, fieldPath);
  const fingerprint = modelSourceFingerprint(located);
  const pointerKey = modelSourcePointerKey(fingerprint);
  const cached = await readPointer(objects, pointerKey, logger);
  if (cached && sameWeights(cached, located)) {
    logger?.info({ fieldPath, uri, hash: cached.hash }, 'base model reused (same source objects)');
    return {
      ref: baseModelRef(uri, cached.hash, cached.prefix, cached),
      reused: 'source',
      fingerprint,
    };
  }

  const file = located.modelJsonUri;
  const text = new TextDecoder().decode(await located.readModelJson());
  const summary = parseModelJson(text, file, fieldPath);
  const weights = summary.weightPaths.map((path) => {
    const identity = located.weight(path);
    if (!identity) {
      throw new InvalidArtifactError(
        located.weightUri(path),
        fieldPath,
        `weight file named by model.json's weightsManifest is missing: ${located.missingWeightHint}`,
      );
    }
    return { path, ...identity };
  });
  const sizes = new Map(weights.map((w) => [w.path, w.size]));
  checkWeightSizes(
    summary,
    (p) => sizes.get(p) ?? 0,
    (p) => located.weightUri(p),
    fieldPath,
  );
  const data = await mapBounded(weights, MODEL_READ_CONCURRENCY, (w) => located.readWeight(w.path));
  const hash = modelHash(text, data);
  const prefix = await storeModel(
    objects,
    hash,
    text,
    weights.map((w, i) => [w.path, data[i]] as const),
  );
  const pointer: Pointer & { fingerprint: string; uri: string; createdAt: string } = {
    hash,
    prefix,
    weights,
    inputShape: summary.inputShape,
    baseLayers: summary.baseLayers,
    numClasses: summary.numClasses,
    fingerprint,
    uri: file,
    createdAt: new Date().toISOString(),
  };
  await objects.put(pointerKey, `${JSON.stringify(pointer, null, 2)}\n`);
  logger?.info({ fieldPath, uri, hash }, 'base model imported');
  return { ref: baseModelRef(uri, hash, prefix, summary), reused: false, fingerprint };
}

/** The pointer at `key` when it parses and its model is still stored; otherwise undefined. */
async function readPointer(
  objects: ObjectStore,
  key: string,
  logger?: Logger,
): Promise<Pointer | undefined> {
  if (!(await objects.exists(key))) return undefined;
  let pointer: Pointer;
  try {
    pointer = PointerSchema.parse(await getJson(objects, key));
  } catch (err) {
    logger?.warn({ key, err }, 'unreadable base model source pointer, importing again');
    return undefined;
  }
  return (await objects.exists(`${pointer.prefix}/model.json`)) ? pointer : undefined;
}

function sameWeights(pointer: Pointer, located: LocatedModel): boolean {
  return pointer.weights.every((w) => {
    const now = located.weight(w.path);
    return now !== undefined && now.size === w.size && now.etag === w.etag;
  });
}
