/**
 * Bounds on what a dataset may cost to prepare, checked before the expensive step: an image's
 * pixel count from its header before it is decoded, the number of image files from the listing
 * before any is decoded, and a dataset's decoded bytes from the IDX header (before inflating) or
 * from the image count and target shape (before decoding). Each has a default and an environment
 * variable that raises (or lowers) it; docs/limits-and-safety.md lists them.
 * @module
 */
import { ValidationError } from '../errors.js';

export interface DataLimits {
  /** Width x height of one source image (header), default 25,000,000 (e.g. 5000x5000). */
  maxImagePixels: number;
  /** Image files in an image folder (all classes), default 500,000. */
  maxImageFiles: number;
  /**
   * Decoded pixel bytes of a dataset: an IDX images file's count x rows x cols (its header), and
   * the prepared count x H x W x C. Default 1 GiB.
   */
  maxDatasetBytes: number;
}

export const DEFAULT_DATA_LIMITS: Readonly<DataLimits> = Object.freeze({
  maxImagePixels: 25_000_000,
  maxImageFiles: 500_000,
  maxDatasetBytes: 1024 ** 3,
});

/** The environment variable of each limit. */
export const DATA_LIMIT_ENV: Readonly<Record<keyof DataLimits, string>> = Object.freeze({
  maxImagePixels: 'FOLDSWEEP_MAX_IMAGE_PIXELS',
  maxImageFiles: 'FOLDSWEEP_MAX_IMAGE_FILES',
  maxDatasetBytes: 'FOLDSWEEP_MAX_DATASET_BYTES',
});

/**
 * The limits from the environment (FOLDSWEEP_MAX_IMAGE_PIXELS, FOLDSWEEP_MAX_IMAGE_FILES,
 * FOLDSWEEP_MAX_DATASET_BYTES), each defaulting to DEFAULT_DATA_LIMITS. A value that is not a
 * positive integer -> ValidationError naming the variable.
 * @example
 * dataLimitsFromEnv({ FOLDSWEEP_MAX_IMAGE_FILES: '2000000' }).maxImageFiles; // 2000000
 */
export function dataLimitsFromEnv(
  env: Record<string, string | undefined> = process.env,
): DataLimits {
  const limits = { ...DEFAULT_DATA_LIMITS };
  for (const key of Object.keys(DATA_LIMIT_ENV) as (keyof DataLimits)[]) {
    const name = DATA_LIMIT_ENV[key];
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') continue;
    const value = Number(raw.replaceAll('_', ''));
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw ValidationError.single(
        name,
        `'${raw}' is not a positive integer: unset it for the default ${DEFAULT_DATA_LIMITS[key]} or give a larger whole number`,
      );
    }
    limits[key] = value;
  }
  return limits;
}

/** `1.5 GiB`, `12.0 MiB`, `512 B`: for messages. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** How to raise a limit, for the end of an error message. */
export function raiseHint(key: keyof DataLimits, needed?: number): string {
  const at = needed === undefined ? 'a larger value' : `at least ${needed}`;
  return `set ${DATA_LIMIT_ENV[key]} to ${at} to allow it (docs/limits-and-safety.md)`;
}
