/**
 * Reader (and writer, for fixtures) of MNIST-family IDX files: uint8 images [n, rows, cols]
 * (magic 0x00000803) and uint8 labels [n] (magic 0x00000801), raw or gzip-compressed
 * (detected by the 1f 8b magic bytes, not by the file name).
 * @module
 */
import { createReadStream } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { createGunzip, gzip as gzipCb } from 'node:zlib';
import { allInOrder } from '../concurrency.js';
import { InvalidArtifactError, ValidationError } from '../errors.js';
import { DEFAULT_DATA_LIMITS, formatBytes, raiseHint } from './limits.js';

const gzip = promisify(gzipCb);

export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  /** count * rows * cols bytes, row-major. */
  pixels: Uint8Array;
}

export interface IdxDataset extends IdxImages {
  labels: Uint8Array;
  imagesFile: string;
  labelsFile: string;
}

/** True when `bytes` start with the gzip magic number 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Labels path derived from an images path: `images-idx3` -> `labels-idx1` in the file name.
 * Returns undefined when the name has no `images-idx3`.
 */
export function defaultLabelsPath(imagesPath: string): string | undefined {
  const name = basename(imagesPath);
  const at = name.lastIndexOf('images-idx3');
  if (at < 0) return undefined;
  const labelsName = `${name.slice(0, at)}labels-idx1${name.slice(at + 'images-idx3'.length)}`;
  return join(dirname(imagesPath), labelsName);
}

/** What an IDX file's header promises: header bytes + data bytes. */
interface IdxKind {
  what: 'images' | 'labels';
  magic: number;
  headerBytes: 8 | 16;
  /** Data bytes the header declares (count x rows x cols, or count). */
  dataBytes(view: DataView): number;
}

const IMAGES_KIND: IdxKind = {
  what: 'images',
  magic: IDX_IMAGES_MAGIC,
  headerBytes: 16,
  dataBytes: (v) => v.getUint32(4, false) * v.getUint32(8, false) * v.getUint32(12, false),
};
const LABELS_KIND: IdxKind = {
  what: 'labels',
  magic: IDX_LABELS_MAGIC,
  headerBytes: 8,
  dataBytes: (v) => v.getUint32(4, false),
};

/** Most decoded bytes an IDX file may declare when the caller gives no limit (1 GiB). */
export const DEFAULT_MAX_IDX_BYTES = DEFAULT_DATA_LIMITS.maxDatasetBytes;

/**
 * The size an IDX file declares, checked against `maxDataBytes` before its data is read or
 * inflated; null when the bytes seen so far are not a complete header of the kind (the parser
 * then names what is wrong).
 */
function declaredSize(
  head: Uint8Array,
  file: string,
  fieldPath: string,
  kind: IdxKind,
  maxDataBytes: number,
): number | null {
  if (head.length < kind.headerBytes) return null;
  const view = header(head, file, fieldPath, kind.magic, kind.what);
  const data = kind.dataBytes(view);
  if (data > maxDataBytes) {
    throw new InvalidArtifactError(
      file,
      fieldPath,
      `declares ${formatBytes(data)} of ${kind.what} (${describeDeclared(view, kind)}), more than the ` +
        `limit of ${formatBytes(maxDataBytes)} (maxDatasetBytes): use a subset of the file, or ` +
        raiseHint('maxDatasetBytes', data),
    );
  }
  return kind.headerBytes + data;
}

function describeDeclared(view: DataView, kind: IdxKind): string {
  return kind.what === 'images'
    ? `${view.getUint32(4, false)} images of ${view.getUint32(8, false)}x${view.getUint32(12, false)}`
    : `${view.getUint32(4, false)} labels`;
}

/**
 * Reads an IDX file, gunzipping it when it is gzip-compressed, and never holds more than its
 * header declares (bounded by `maxDataBytes`): a raw file longer than declared is not read, and
 * a gzip stream is inflated chunk by chunk and abandoned as soon as it passes the declared size
 * (a decompression bomb costs its header's promise, not its inflated size).
 * A missing file -> ValidationError on `fieldPath`; a broken gzip stream, a declared size over
 * the limit or a stream longer than declared -> InvalidArtifactError naming the file.
 */
async function readIdxFile(
  file: string,
  fieldPath: string,
  kind: IdxKind,
  maxDataBytes: number,
): Promise<Uint8Array> {
  let handle: FileHandle;
  let size: number;
  const head = new Uint8Array(16);
  let headLength: number;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    throw missingFileError(file, fieldPath, err);
  }
  try {
    const s = await handle.stat();
    if (s.isDirectory()) throw Object.assign(new Error('is a folder'), { code: 'EISDIR' });
    size = s.size;
    headLength = (await handle.read(head, 0, 16, 0)).bytesRead;
  } catch (err) {
    await handle.close();
    throw missingFileError(file, fieldPath, err);
  }
  if (!isGzip(head.subarray(0, headLength))) {
    try {
      const declared = declaredSize(
        head.subarray(0, headLength),
        file,
        fieldPath,
        kind,
        maxDataBytes,
      );
      if (declared !== null && size > declared) {
        throw new InvalidArtifactError(
          file,
          fieldPath,
          `declares ${declared} bytes with the header but has ${size} bytes: the file is longer ` +
            'than declared; download it again',
        );
      }
      const bytes = new Uint8Array(size);
      const { bytesRead } = await handle.read(bytes, 0, size, 0);
      return bytes.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }
  await handle.close();
  return gunzipBounded(file, fieldPath, kind, maxDataBytes);
}

async function gunzipBounded(
  file: string,
  fieldPath: string,
  kind: IdxKind,
  maxDataBytes: number,
): Promise<Uint8Array> {
  const source = createReadStream(file);
  const inflate = createGunzip();
  source.on('error', (err) => inflate.destroy(err));
  source.pipe(inflate);
  const head = new Uint8Array(kind.headerBytes);
  let headLength = 0;
  let out: Uint8Array | undefined;
  let length = 0;
  try {
    for await (const chunk of inflate as AsyncIterable<Buffer>) {
      let bytes: Uint8Array = chunk;
      if (!out) {
        const take = Math.min(kind.headerBytes - headLength, bytes.length);
        head.set(bytes.subarray(0, take), headLength);
        headLength += take;
        bytes = bytes.subarray(take);
        const declared = declaredSize(
          head.subarray(0, headLength),
          file,
          fieldPath,
          kind,
          maxDataBytes,
        );
        if (declared === null) continue;
        out = new Uint8Array(declared);
        out.set(head);
        length = kind.headerBytes;
      }
      if (length + bytes.length > out.length) {
        throw new InvalidArtifactError(
          file,
          fieldPath,
          `decompresses to more than the ${out.length} bytes its header declares (inflating ` +
            'stopped there): it is not the IDX file it claims to be (corrupt, or a decompression ' +
            'bomb); use the original file',
        );
      }
      out.set(bytes, length);
      length += bytes.length;
    }
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    throw new InvalidArtifactError(
      file,
      fieldPath,
      `starts like a gzip file but cannot be decompressed (${(err as Error).message}): ` +
        'the download is probably truncated or corrupt; download it again',
      { cause: err },
    );
  } finally {
    source.destroy();
    inflate.destroy();
  }
  return out ? out.subarray(0, length) : head.slice(0, headLength);
}

function missingFileError(file: string, fieldPath: string, err: unknown): ValidationError {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EISDIR'
        ? 'is a folder, not a file'
        : `cannot be read (${(err as Error).message})`;
  return ValidationError.single(
    fieldPath,
    `${file}: ${why}: give the path of an IDX file (raw or .gz)`,
    err,
  );
}

function describeMagic(magic: number): string {
  if (magic === IDX_IMAGES_MAGIC) return 'an IDX images file (0x00000803)';
  if (magic === IDX_LABELS_MAGIC) return 'an IDX labels file (0x00000801)';
  return `magic 0x${magic.toString(16).padStart(8, '0')}`;
}

function header(bytes: Uint8Array, file: string, fieldPath: string, want: number, what: string) {
  if (bytes.length < 8) {
    throw new InvalidArtifactError(
      file,
      fieldPath,
      `only ${bytes.length} bytes: too short for an IDX ${what} file; download it again`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (magic !== want) {
    const hint =
      (want === IDX_IMAGES_MAGIC && magic === IDX_LABELS_MAGIC) ||
      (want === IDX_LABELS_MAGIC && magic === IDX_IMAGES_MAGIC)
        ? 'did you swap uri and labelsUri?'
        : `give an MNIST-family IDX ${what} file (uint8, magic ${describeMagic(want)})`;
    throw new InvalidArtifactError(
      file,
      fieldPath,
      `is ${describeMagic(magic)}, expected ${describeMagic(want)}: ${hint}`,
    );
  }
  return view;
}

/** Parses an (already decompressed) IDX images file. */
export function parseIdxImages(bytes: Uint8Array, file: string, fieldPath: string): IdxImages {
  const view = header(bytes, file, fieldPath, IDX_IMAGES_MAGIC, 'images');
  if (bytes.length < 16) {
    throw new InvalidArtifactError(
      file,
      fieldPath,
      `header is truncated (${bytes.length} of 16 bytes); download the file again`,
    );
  }
  const count = view.getUint32(4, false);
  const rows = view.getUint32(8, false);
  const cols = view.getUint32(12, false);
  if (count === 0 || rows === 0 || cols === 0) {
    throw new InvalidArtifactError(
      file,
      fieldPath,
      `declares ${count} images of ${rows}x${cols}: an images file needs at least one non-empty image`,
    );
  }
  const expected = 16 + count * rows * cols;
  if (bytes.length !== expected) {
    throw new InvalidArtifactError(
      file,
      fieldPath,
      `declares ${count} images of ${rows}x${cols} (${expected} bytes with the header) but has ` +
        `${bytes.length} bytes: the file is ${bytes.length < expected ? 'truncated' : 'longer than declared'}; download it again`,
    );
  }
  return { count, rows, cols, pixels: bytes.subarray(16) };
}

/** Parses an (already decompressed) IDX labels file. */
export function parseIdxLabels(bytes: Uint8Array, file: string, fieldPath: string): Uint8Array {
  const view = header(bytes, file, fieldPath, IDX_LABELS_MAGIC, 'labels');
  const count = view.getUint32(4, false);
  const expected = 8 + count;
  if (bytes.length !== expected) {
    throw new InvalidArtifactError(
      file,
      fieldPath,
      `declares ${count} labels (${expected} bytes with the header) but has ${bytes.length} bytes: ` +
        `the file is ${bytes.length < expected ? 'truncated' : 'longer than declared'}; download it again`,
    );
  }
  return bytes.subarray(8);
}

/** Reads an IDX labels file (raw or gzip), declaring at most `maxDataBytes` labels. */
export async function readIdxLabels(
  file: string,
  fieldPath: string,
  maxDataBytes = DEFAULT_MAX_IDX_BYTES,
): Promise<Uint8Array> {
  return parseIdxLabels(
    await readIdxFile(file, fieldPath, LABELS_KIND, maxDataBytes),
    file,
    fieldPath,
  );
}

/** Reads an IDX images file (raw or gzip), declaring at most `maxDataBytes` of pixels. */
export async function readIdxImages(
  file: string,
  fieldPath: string,
  maxDataBytes = DEFAULT_MAX_IDX_BYTES,
): Promise<IdxImages> {
  return parseIdxImages(
    await readIdxFile(file, fieldPath, IMAGES_KIND, maxDataBytes),
    file,
    fieldPath,
  );
}

/**
 * Resolves the labels path: `labelsFile` when given, else derived from `imagesFile`.
 * Throws ValidationError on `<fieldPath>.labelsUri` when it cannot be derived.
 */
export function resolveLabelsPath(
  imagesFile: string,
  labelsFile: string | undefined,
  fieldPath: string,
): string {
  if (labelsFile !== undefined) return labelsFile;
  const derived = defaultLabelsPath(imagesFile);
  if (derived === undefined) {
    throw ValidationError.single(
      `${fieldPath}.labelsUri`,
      `cannot derive the labels file from '${imagesFile}' (its name has no 'images-idx3'): give labelsUri`,
    );
  }
  return derived;
}

/**
 * Reads an IDX images file and its labels file and checks they agree; neither may declare more
 * than `maxDataBytes` of data (checked from the header, before the data is read or inflated).
 * Errors name `<fieldPath>.uri` (images) or `<fieldPath>.labelsUri` (labels).
 */
export async function readIdxDataset(
  imagesFile: string,
  labelsFile: string | undefined,
  fieldPath: string,
  maxDataBytes = DEFAULT_MAX_IDX_BYTES,
): Promise<IdxDataset> {
  const labelsPath = resolveLabelsPath(imagesFile, labelsFile, fieldPath);
  const [images, labels] = await allInOrder([
    readIdxImages(imagesFile, `${fieldPath}.uri`, maxDataBytes),
    readIdxLabels(labelsPath, `${fieldPath}.labelsUri`, maxDataBytes),
  ]);
  if (labels.length !== images.count) {
    throw new InvalidArtifactError(
      labelsPath,
      `${fieldPath}.labelsUri`,
      `has ${labels.length} labels but ${imagesFile} has ${images.count} images: ` +
        'give the labels file that belongs to these images',
    );
  }
  return { ...images, labels, imagesFile, labelsFile: labelsPath };
}

/** Size and modification time of a file; a missing file -> ValidationError on `fieldPath`. */
export async function statFile(
  file: string,
  fieldPath: string,
): Promise<{ size: number; mtimeMs: number }> {
  try {
    const s = await stat(file);
    if (!s.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    return { size: s.size, mtimeMs: s.mtimeMs };
  } catch (err) {
    throw missingFileError(file, fieldPath, err);
  }
}

/** Encodes uint8 images [count, rows, cols] as an IDX images file (for fixtures and exports). */
export function encodeIdxImages(images: IdxImages): Uint8Array {
  const { count, rows, cols, pixels } = images;
  if (pixels.length !== count * rows * cols) {
    throw new Error(`pixels has ${pixels.length} bytes, expected ${count}*${rows}*${cols}`);
  }
  const out = new Uint8Array(16 + pixels.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, IDX_IMAGES_MAGIC, false);
  view.setUint32(4, count, false);
  view.setUint32(8, rows, false);
  view.setUint32(12, cols, false);
  out.set(pixels, 16);
  return out;
}

/** Encodes uint8 labels as an IDX labels file. */
export function encodeIdxLabels(labels: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + labels.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, IDX_LABELS_MAGIC, false);
  view.setUint32(4, labels.length, false);
  out.set(labels, 8);
  return out;
}

/** Gzip-compresses bytes (to write `.gz` IDX files). */
export async function gzipBytes(bytes: Uint8Array): Promise<Uint8Array> {
  return asUint8Array(await gzip(bytes));
}

/** A plain Uint8Array view of a Node Buffer (same memory), so callers never see Buffer. */
export function asUint8Array(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
