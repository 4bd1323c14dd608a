/**
 * The local DatasetPreparer: reads an IDX or image-folder dataset from the file system, applies
 * the subset, resizes to the target shape, content-hashes the result and stores it in the
 * ObjectStore under `datasets/<hash>/` (pixels.u8, labels.u8, manifest.json).
 *
 * Reuse, cheapest first:
 * 1. source fingerprint (format, subset, class names, shape, every source file's path + size +
 *    mtime) -> `datasets/by-source/<fingerprint>.json` points at a stored manifest: nothing is
 *    decoded;
 * 2. content hash -> `datasets/<hash>/manifest.json` already exists (same content from another
 *    source): decoded, but only the by-source pointer is written.
 * Writes go pixels, labels, manifest, pointer: a manifest never points at missing data.
 *
 * Sources other than the file system (S3: shared/adapters/aws/s3-dataset-source.ts) plug in as
 * a DatasetSource: it lists the objects with what identifies their content (the fingerprint
 * covers them as it covers local files), and only when the fingerprint is new does it fetch
 * them into a temp folder, which the local decoding path then reads.
 * @module
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { allInOrder } from '../concurrency.js';
import { InvalidArtifactError, ValidationError } from '../errors.js';
import { buildPreprocessing, SourceSizeTally } from '../model/preprocessing.js';
import type { DatasetPreparer } from '../ports/artifacts.js';
import type { Logger } from '../ports/logger.js';
import { getJson, type ObjectStore } from '../ports/object-store.js';
import {
  type DatasetRef,
  type ImageShape,
  PREPARED_URI_SCHEME,
  type PreparedDataset,
  PreparedDatasetSchema,
} from '../schemas/dataset.js';
import { type Preprocessing, PreprocessingSchema } from '../schemas/preprocessing.js';
import { readIdxDataset, resolveLabelsPath, statFile } from './idx.js';
import { decodeImageFiles, type ImageFolderListing, listImageFolder } from './image-folder.js';
import { type DataLimits, dataLimitsFromEnv, formatBytes, raiseHint } from './limits.js';
import { contentHash } from './load.js';
import { resizeGreyImages } from './pixels.js';
import { selectSubset } from './subset.js';

export { contentHash };

export const DATASETS_PREFIX = 'datasets';
/**
 * Bump when decoding changes in a way that changes the output for the same source.
 * 2: the manifest records its preprocessing (and the content hash covers it).
 */
const PREPARE_VERSION = 2;

export function datasetKeys(hash: string): {
  dataKey: string;
  labelsKey: string;
  manifestKey: string;
} {
  return {
    dataKey: `${DATASETS_PREFIX}/${hash}/pixels.u8`,
    labelsKey: `${DATASETS_PREFIX}/${hash}/labels.u8`,
    manifestKey: `${DATASETS_PREFIX}/${hash}/manifest.json`,
  };
}

export function sourcePointerKey(fingerprint: string): string {
  return `${DATASETS_PREFIX}/by-source/${fingerprint}.json`;
}

/**
 * A filesystem path for `uri`: a plain path (relative ones resolve against process.cwd()) or a
 * `file://` URI. Other schemes -> ValidationError on `fieldPath`.
 */
export function resolveDatasetPath(uri: string, fieldPath: string): string {
  if (uri.startsWith('file:')) {
    try {
      return fileURLToPath(uri);
    } catch (err) {
      throw ValidationError.single(
        fieldPath,
        `'${uri}' is not a valid file:// URI (${(err as Error).message}): give a path or file:///abs/path`,
        err,
      );
    }
  }
  if (/^s3:\/\//i.test(uri)) {
    throw ValidationError.single(
      fieldPath,
      `'${uri}': s3:// datasets are read by the AWS deployment, or locally with AWS credentials ` +
        '(foldsweep run/serve); this preparer has no S3 source: copy the data to a local folder',
    );
  }
  if (/^[a-z][a-z0-9+.-]+:\/\//i.test(uri)) {
    throw ValidationError.single(
      fieldPath,
      `'${uri}': only local paths and file:// URIs can be read here; copy the data to a local folder`,
    );
  }
  return isAbsolute(uri) ? uri : resolve(process.cwd(), uri);
}

export interface SourceFileStat {
  /** A local path, or the URI of an object (`s3://bucket/key`). */
  path: string;
  size: number;
  mtimeMs: number;
  /** An object's ETag (remote sources): changes with its content even when size and time do not. */
  etag?: string;
}

/**
 * A dataset location outside the file system (e.g. S3). `list` reads no content; `fetch` of
 * the listed files runs only when the fingerprint is new.
 */
export interface DatasetSource {
  /** Whether this source reads `uri` (e.g. every `s3://` URI). */
  handles(uri: string): boolean;
  /** Lists what `ref` names; errors are ValidationErrors on `<fieldPath>.uri` / `.labelsUri`. */
  list(ref: DatasetRef, fieldPath: string): Promise<ListedDataset>;
}

export interface ListedDataset {
  /** What the source fingerprint covers: every object, `path` being its URI. */
  files: SourceFileStat[];
  /**
   * Downloads the files into `dir` (an empty folder the caller removes afterwards), laid out as
   * the local format expects. Returns the `uri`/`labelsUri` of the local copy and, per local
   * path, the URI that error messages should name instead.
   */
  fetch(dir: string): Promise<{
    local: Pick<DatasetRef, 'uri' | 'labelsUri'>;
    names: readonly (readonly [localPath: string, uri: string])[];
  }>;
}

export interface LocalDatasetPreparerOptions {
  /** Sources for URIs that are not local paths (first match wins), e.g. an S3DatasetSource. */
  sources?: readonly DatasetSource[];
  /**
   * Data limits (image pixels, image files, dataset bytes). Default: the environment
   * (FOLDSWEEP_MAX_IMAGE_PIXELS, FOLDSWEEP_MAX_IMAGE_FILES, FOLDSWEEP_MAX_DATASET_BYTES), else
   * DEFAULT_DATA_LIMITS; fields given here win.
   */
  limits?: Partial<DataLimits>;
}

/** sha256 over what determines the prepared output, without reading any pixel. */
export function sourceFingerprint(
  ref: DatasetRef,
  shape: ImageShape,
  files: readonly SourceFileStat[],
): string {
  const hash = createHash('sha256').update(
    JSON.stringify({
      v: PREPARE_VERSION,
      format: ref.format,
      resize: ref.resize ?? 'stretch',
      subset: ref.subset
        ? {
            classes: ref.subset.classes ?? null,
            perClass: ref.subset.perClass ?? null,
            seed: ref.subset.seed ?? 0,
          }
        : null,
      classNames: ref.classNames ?? null,
      shape,
    }),
  );
  for (const f of files) {
    const entry = [f.path, f.size, f.mtimeMs, ...(f.etag === undefined ? [] : [f.etag])];
    hash.update(`\n${JSON.stringify(entry)}`);
  }
  return hash.digest('hex');
}

export interface PrepareOutcome {
  manifest: PreparedDataset;
  /**
   * `'source'`: found through the source fingerprint, nothing decoded.
   * `'content'`: decoded, but the same content was already stored: only the pointer was written.
   * `false`: decoded and stored.
   */
  reused: 'source' | 'content' | false;
  /** Whether the source was decoded (false exactly when reused === 'source'). */
  decoded: boolean;
  fingerprint: string;
  /** Milliseconds spent reading, decoding and resizing (0 when not decoded). */
  decodeMs: number;
  totalMs: number;
}

interface Pointer {
  manifestKey: string;
  hash: string;
}

type ResolvedSource =
  | { format: 'idx'; imagesFile: string; labelsFile: string; files: SourceFileStat[] }
  | { format: 'image-folder'; listing: ImageFolderListing; files: SourceFileStat[] };

interface Decoded {
  classes: string[];
  pixels: Uint8Array;
  labels: Uint8Array;
  countsPerClass: number[];
  preprocessing: Preprocessing;
}

/**
 * @example
 * const preparer = new LocalDatasetPreparer(objects, logger);
 * const manifest = await preparer.prepare(
 *   { uri: 'data/train-images-idx3-ubyte.gz', format: 'idx', subset: { classes: [5, 6], seed: 0 } },
 *   [28, 28, 1],
 *   'dataset',
 * );
 */
export class LocalDatasetPreparer implements DatasetPreparer {
  /** Outcome of the most recently finished prepare (for tests and diagnostics). */
  lastPrepare: PrepareOutcome | undefined;

  private readonly sources: readonly DatasetSource[];
  readonly limits: DataLimits;

  constructor(
    private readonly objects: ObjectStore,
    private readonly logger?: Logger,
    options: LocalDatasetPreparerOptions = {},
  ) {
    this.sources = options.sources ?? [];
    this.limits = { ...dataLimitsFromEnv(), ...options.limits };
  }

  async prepare(ref: DatasetRef, shape: ImageShape, fieldPath: string): Promise<PreparedDataset> {
    return (await this.prepareDetailed(ref, shape, fieldPath)).manifest;
  }

  /** Like `prepare`, and says whether it reused a stored dataset and how long decoding took. */
  async prepareDetailed(
    ref: DatasetRef,
    shape: ImageShape,
    fieldPath: string,
  ): Promise<PrepareOutcome> {
    const started = performance.now();
    if (ref.uri.startsWith(PREPARED_URI_SCHEME)) {
      const manifest = await this.readManifest(ref.uri.slice(PREPARED_URI_SCHEME.length));
      if (!manifest) {
        throw ValidationError.single(
          `${fieldPath}.uri`,
          `${ref.uri} names no prepared dataset in this deployment's store: give the dataset's own uri`,
        );
      }
      const outcome = { manifest, reused: 'source' as const, decoded: false, decodeMs: 0 };
      return this.finish({ ...outcome, fingerprint: manifest.hash }, started, ref, fieldPath);
    }
    const remote = this.sources.find((s) => s.handles(ref.uri));
    const source = remote
      ? await remote.list(ref, fieldPath)
      : await resolveSource(ref, fieldPath, this.limits);
    if (
      remote &&
      ref.format === 'image-folder' &&
      source.files.length > this.limits.maxImageFiles
    ) {
      throw new InvalidArtifactError(
        ref.uri,
        `${fieldPath}.uri`,
        `lists ${source.files.length} objects, more than the limit of ${this.limits.maxImageFiles} ` +
          `image files (maxImageFiles): use a subset of the folder, or ${raiseHint('maxImageFiles')}`,
      );
    }
    const fingerprint = sourceFingerprint(ref, shape, source.files);
    const pointerKey = sourcePointerKey(fingerprint);

    const cached = await this.readPointer(pointerKey);
    if (cached) {
      return this.finish(
        { manifest: cached, reused: 'source', decoded: false, fingerprint, decodeMs: 0 },
        started,
        ref,
        fieldPath,
      );
    }

    // Single flight: concurrent prepares of one source decode it once and share the result.
    const running = this.inflight.get(pointerKey);
    if (running) {
      const shared = await running;
      return this.finish(
        { ...shared, reused: 'source', decoded: false, decodeMs: 0 },
        started,
        ref,
        fieldPath,
      );
    }
    const work = this.decodeAndStore(ref, shape, fieldPath, source, fingerprint, pointerKey);
    this.inflight.set(pointerKey, work);
    try {
      return this.finish(await work, started, ref, fieldPath);
    } finally {
      this.inflight.delete(pointerKey);
    }
  }

  private readonly inflight = new Map<string, Promise<Omit<PrepareOutcome, 'totalMs'>>>();

  private async decodeAndStore(
    ref: DatasetRef,
    shape: ImageShape,
    fieldPath: string,
    source: Awaited<ReturnType<DatasetSource['list']>> | ResolvedSource,
    fingerprint: string,
    pointerKey: string,
  ): Promise<Omit<PrepareOutcome, 'totalMs'>> {
    const decodeStart = performance.now();
    const decoded =
      'fetch' in source
        ? await decodeFetched(ref, shape, fieldPath, source, this.limits)
        : await decode(ref, shape, fieldPath, source, this.limits);
    const decodeMs = performance.now() - decodeStart;

    const preprocessing = PreprocessingSchema.parse(decoded.preprocessing);
    const hash = contentHash(shape, decoded.classes, decoded.pixels, decoded.labels, preprocessing);
    const keys = datasetKeys(hash);
    let manifest = await this.readManifest(keys.manifestKey);
    let reused: PrepareOutcome['reused'] = 'content';
    if (!manifest) {
      reused = false;
      manifest = PreparedDatasetSchema.parse({
        hash,
        source: ref,
        classes: decoded.classes,
        shape,
        count: decoded.labels.length,
        countsPerClass: decoded.countsPerClass,
        ...keys,
        preparedAt: new Date().toISOString(),
        preprocessing,
      } satisfies PreparedDataset);
      await this.objects.put(keys.dataKey, decoded.pixels);
      await this.objects.put(keys.labelsKey, decoded.labels);
      await this.objects.put(keys.manifestKey, `${JSON.stringify(manifest, null, 2)}\n`);
    }
    const pointer: Pointer & { fingerprint: string; createdAt: string } = {
      manifestKey: keys.manifestKey,
      hash,
      fingerprint,
      createdAt: new Date().toISOString(),
    };
    await this.objects.put(pointerKey, `${JSON.stringify(pointer, null, 2)}\n`);
    return { manifest, reused, decoded: true, fingerprint, decodeMs };
  }

  private finish(
    outcome: Omit<PrepareOutcome, 'totalMs'>,
    started: number,
    ref: DatasetRef,
    fieldPath: string,
  ): PrepareOutcome {
    const full: PrepareOutcome = { ...outcome, totalMs: performance.now() - started };
    this.lastPrepare = full;
    this.logger?.info(
      {
        fieldPath,
        uri: ref.uri,
        format: ref.format,
        hash: full.manifest.hash,
        count: full.manifest.count,
        shape: full.manifest.shape,
        reused: full.reused,
        decodeMs: Math.round(full.decodeMs),
        totalMs: Math.round(full.totalMs),
      },
      full.reused === 'source'
        ? 'dataset reused (same source files), nothing decoded'
        : `dataset decoded in ${Math.round(full.decodeMs)} ms${full.reused === 'content' ? ' (same content already stored, reused)' : ''}`,
    );
    for (const warning of full.manifest.preprocessing?.warnings ?? []) {
      this.logger?.warn({ fieldPath, uri: ref.uri }, warning);
    }
    return full;
  }

  /** The manifest a by-source pointer leads to, or undefined if it or its data is missing. */
  private async readPointer(pointerKey: string): Promise<PreparedDataset | undefined> {
    if (!(await this.objects.exists(pointerKey))) return undefined;
    let pointer: Pointer;
    try {
      pointer = (await getJson(this.objects, pointerKey)) as Pointer;
    } catch (err) {
      this.logger?.warn(
        { key: pointerKey, err },
        'unreadable dataset source pointer, preparing again',
      );
      return undefined;
    }
    if (typeof pointer?.manifestKey !== 'string') return undefined;
    return this.readManifest(pointer.manifestKey);
  }

  /** A stored manifest whose pixels and labels exist, or undefined. */
  private async readManifest(manifestKey: string): Promise<PreparedDataset | undefined> {
    if (!(await this.objects.exists(manifestKey))) return undefined;
    let manifest: PreparedDataset;
    try {
      manifest = PreparedDatasetSchema.parse(await getJson(this.objects, manifestKey));
    } catch (err) {
      this.logger?.warn(
        { key: manifestKey, err },
        'invalid stored dataset manifest, preparing again',
      );
      return undefined;
    }
    const [data, labels] = await Promise.all([
      this.objects.exists(manifest.dataKey),
      this.objects.exists(manifest.labelsKey),
    ]);
    return data && labels ? manifest : undefined;
  }
}

/** Finds the source files (and stats them) without decoding anything. */
async function resolveSource(
  ref: DatasetRef,
  fieldPath: string,
  limits: DataLimits,
): Promise<ResolvedSource> {
  const root = resolveDatasetPath(ref.uri, `${fieldPath}.uri`);
  if (ref.format === 'idx') {
    const imagesFile = root;
    const labelsFile = resolveLabelsPath(
      imagesFile,
      ref.labelsUri === undefined
        ? undefined
        : resolveDatasetPath(ref.labelsUri, `${fieldPath}.labelsUri`),
      fieldPath,
    );
    const [images, labels] = await allInOrder([
      statFile(imagesFile, `${fieldPath}.uri`),
      statFile(labelsFile, `${fieldPath}.labelsUri`),
    ]);
    return {
      format: 'idx',
      imagesFile,
      labelsFile,
      files: [
        { path: imagesFile, ...images },
        { path: labelsFile, ...labels },
      ],
    };
  }
  const listing = await listImageFolder(root, fieldPath, limits.maxImageFiles);
  return {
    format: 'image-folder',
    listing,
    files: [
      { path: listing.root, size: 0, mtimeMs: 0 },
      ...listing.files.map((f) => ({ path: f.relPath, size: f.size, mtimeMs: f.mtimeMs })),
    ],
  };
}

async function decode(
  ref: DatasetRef,
  shape: ImageShape,
  fieldPath: string,
  source: ResolvedSource,
  limits: DataLimits,
): Promise<Decoded> {
  if (source.format === 'idx') {
    const idx = await readIdxDataset(
      source.imagesFile,
      source.labelsFile,
      fieldPath,
      limits.maxDatasetBytes,
    );
    let maxLabel = 0;
    for (const l of idx.labels) if (l > maxLabel) maxLabel = l;
    const numClasses = maxLabel + 1;
    let classNames: string[];
    if (ref.classNames) {
      if (ref.classNames.length !== numClasses) {
        throw ValidationError.single(
          `${fieldPath}.classNames`,
          `has ${ref.classNames.length} names but the labels in ${source.labelsFile} take values ` +
            `0..${maxLabel} (${numClasses} classes): give exactly ${numClasses} names, one per label value`,
        );
      }
      classNames = ref.classNames;
    } else {
      if (numClasses < 2) {
        throw ValidationError.single(
          `${fieldPath}.labelsUri`,
          `${source.labelsFile}: every label is ${maxLabel}: a classifier needs at least 2 classes`,
        );
      }
      classNames = Array.from({ length: numClasses }, (_, i) => String(i));
    }
    const sel = selectSubset(idx.labels, classNames, ref.subset, fieldPath);
    checkPreparedSize(sel.indices.length, shape, source.imagesFile, `${fieldPath}.uri`, limits);
    const imageSize = idx.rows * idx.cols;
    const picked = new Uint8Array(sel.indices.length * imageSize);
    sel.indices.forEach((src, dst) => {
      picked.set(idx.pixels.subarray(src * imageSize, (src + 1) * imageSize), dst * imageSize);
    });
    const pixels = await resizeGreyImages(
      picked,
      sel.indices.length,
      idx.rows,
      idx.cols,
      shape,
      ref.resize,
    );
    const sizes = [{ width: idx.cols, height: idx.rows, channels: 1, count: sel.indices.length }];
    return {
      classes: sel.classes,
      pixels,
      labels: sel.labels,
      countsPerClass: sel.countsPerClass,
      preprocessing: buildPreprocessing({
        source: 'idx',
        resize: ref.resize,
        sizes,
        targetShape: shape,
      }),
    };
  }

  const { listing } = source;
  if (ref.classNames && !sameStrings(ref.classNames, listing.classes)) {
    throw ValidationError.single(
      `${fieldPath}.classNames`,
      `image folders take their class names from the sub-folders (${listing.classes.join(', ')}): ` +
        'remove classNames or rename the folders',
    );
  }
  const sel = selectSubset(
    listing.files.map((f) => f.label),
    listing.classes,
    ref.subset,
    fieldPath,
  );
  const files = sel.indices.map((i) => listing.files[i]);
  checkPreparedSize(files.length, shape, listing.root, `${fieldPath}.uri`, limits);
  const tally = new SourceSizeTally();
  const pixels = await decodeImageFiles(files, shape, `${fieldPath}.uri`, {
    resize: ref.resize,
    maxImagePixels: limits.maxImagePixels,
    tally,
  });
  return {
    classes: sel.classes,
    pixels,
    labels: sel.labels,
    countsPerClass: sel.countsPerClass,
    preprocessing: buildPreprocessing({
      source: 'image-folder',
      resize: ref.resize,
      sizes: tally.sizes(),
      targetShape: shape,
    }),
  };
}

/** The prepared pixels (count x H x W x C) must fit maxDatasetBytes: checked before decoding. */
function checkPreparedSize(
  count: number,
  shape: ImageShape,
  file: string,
  fieldPath: string,
  limits: DataLimits,
): void {
  const bytes = count * shape[0] * shape[1] * shape[2];
  if (bytes <= limits.maxDatasetBytes) return;
  throw new InvalidArtifactError(
    file,
    fieldPath,
    `would prepare ${count} images of ${shape.join('x')} = ${formatBytes(bytes)}, more than the ` +
      `limit of ${formatBytes(limits.maxDatasetBytes)} (maxDatasetBytes): take a subset ` +
      `(dataset.subset.perClass or classes), or ${raiseHint('maxDatasetBytes', bytes)}`,
  );
}

/**
 * Fetches a remote dataset into a temp folder under os.tmpdir(), decodes it like local files and
 * removes the folder. Errors name the objects' URIs, not the temp paths.
 */
async function decodeFetched(
  ref: DatasetRef,
  shape: ImageShape,
  fieldPath: string,
  listed: ListedDataset,
  limits: DataLimits,
): Promise<Decoded> {
  const dir = await mkdtemp(join(tmpdir(), 'foldsweep-dataset-'));
  let names: readonly (readonly [string, string])[] = [[dir, ref.uri]];
  try {
    const fetched = await listed.fetch(dir);
    names = fetched.names;
    const local: DatasetRef = { ...ref, ...fetched.local };
    return await decode(
      local,
      shape,
      fieldPath,
      await resolveSource(local, fieldPath, limits),
      limits,
    );
  } catch (err) {
    throw withUris(err, names);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Rewrites the local paths in a ValidationError's messages (and file) to the URIs they came from. */
function withUris(err: unknown, names: readonly (readonly [string, string])[]): unknown {
  if (!(err instanceof ValidationError)) return err;
  const longestFirst = [...names].sort((a, b) => b[0].length - a[0].length);
  const rewrite = (text: string) =>
    longestFirst.reduce((t, [local, uri]) => t.split(local).join(uri), text);
  err.message = rewrite(err.message);
  for (const issue of err.issues) issue.message = rewrite(issue.message);
  if (err instanceof InvalidArtifactError) {
    (err as { file: string }).file = rewrite(err.file);
  }
  return err;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
