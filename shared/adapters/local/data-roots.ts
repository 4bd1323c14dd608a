/**
 * The folders `foldsweep serve` reads base models and datasets from: the folder it was started
 * in, the folder Debian's dataset packages install to, and every `--data-root` /
 * FOLDSWEEP_DATA_ROOTS folder. A spec path outside them is refused with one answer whether the
 * path exists or not; relative spec paths resolve against the start folder (the base).
 * @module
 */
import { realpathSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValidationError } from '../../errors.js';
import type { DatasetPreparer, ModelImporter } from '../../ports/artifacts.js';
import type { PathPolicy } from '../../ports/path-policy.js';
import type { DatasetRef, ImageShape, PreparedDataset } from '../../schemas/dataset.js';
import type { BaseModelRef } from '../../schemas/plan.js';

/** Where Debian's dataset packages (e.g. dataset-fashion-mnist) install their files. */
export const DEBIAN_DATASETS_ROOT = '/usr/share/datasets';

/** The environment variable listing extra data roots, separated by ':'. */
export const DATA_ROOTS_ENV = 'FOLDSWEEP_DATA_ROOTS';

/** Non-file URIs (s3://, foldsweep://): not local paths, left to their readers. */
const OTHER_SCHEME = /^(?!file:)[a-z][a-z0-9+.-]*:\/\//i;

const canonical = (path: string) => {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
};

/**
 * The data roots of one server.
 * @example
 * const roots = new DataRoots(process.cwd(), ['/srv/models']);
 * roots.resolve('/etc/passwd', 'baseModel'); // throws: outside the data roots
 */
export class DataRoots implements PathPolicy {
  /** Absolute, symlinks resolved, without duplicates; the base first. */
  readonly roots: readonly string[];
  /** Relative spec paths resolve against it: the folder the server was started in. */
  readonly base: string;

  constructor(base: string, extra: readonly string[] = []) {
    this.base = canonical(resolve(base));
    const all = [this.base, DEBIAN_DATASETS_ROOT, ...extra.map((r) => resolve(this.base, r))];
    this.roots = [...new Set(all.map(canonical))];
  }

  /** `--data-root` values plus FOLDSWEEP_DATA_ROOTS (colon-separated), over `base`. */
  static fromOptions(base: string, flags: readonly string[], env: string | undefined): DataRoots {
    const fromEnv = (env ?? '').split(':').filter((r) => r.trim() !== '');
    return new DataRoots(base, [...flags, ...fromEnv]);
  }

  /** True when `path` (absolute) is a root or lies below one. */
  contains(path: string): boolean {
    return this.roots.some((root) => {
      const rel = relative(root, path);
      return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
    });
  }

  resolve(uri: string, field: string): string {
    if (OTHER_SCHEME.test(uri)) return uri;
    let path: string;
    try {
      path = uri.startsWith('file:') ? fileURLToPath(uri) : resolve(this.base, uri);
    } catch {
      throw this.outside(uri, field);
    }
    if (uri.includes('\0') || !this.contains(path)) throw this.outside(uri, field);
    return path;
  }

  /**
   * `resolve`, then the same check on the path with its symlinks resolved (a link inside a root
   * that points outside is refused alike). A path that does not exist is checked through its
   * nearest existing folder, so the answer never tells whether it exists.
   */
  async resolveReal(uri: string, field: string): Promise<string> {
    const path = this.resolve(uri, field);
    if (path === uri && OTHER_SCHEME.test(uri)) return uri;
    let existing = path;
    let rest = '';
    for (;;) {
      try {
        const real = join(await realpath(existing), rest);
        if (!this.contains(real)) throw this.outside(uri, field);
        return path;
      } catch (error) {
        if (error instanceof ValidationError) throw error;
        const parent = dirname(existing);
        if (parent === existing) throw this.outside(uri, field);
        rest = join(basename(existing), rest);
        existing = parent;
      }
    }
  }

  private outside(uri: string, field: string): ValidationError {
    return ValidationError.single(
      field,
      `'${uri}' is outside the folders this server reads (its data roots: ${this.roots.join(', ')}): ` +
        'put the model or dataset under one of them, or start foldsweep serve with --data-root <folder> ' +
        `(or ${DATA_ROOTS_ENV}); relative paths resolve against ${this.base}`,
    );
  }
}

/** A ModelImporter that reads only under `roots` (relative paths against their base). */
export function rootedModelImporter(inner: ModelImporter, roots: DataRoots): ModelImporter {
  return {
    async importBaseModel(uri: string, fieldPath: string): Promise<BaseModelRef> {
      return inner.importBaseModel(await roots.resolveReal(uri, fieldPath), fieldPath);
    },
  };
}

/** A DatasetPreparer that reads only under `roots` (relative paths against their base). */
export function rootedDatasetPreparer(inner: DatasetPreparer, roots: DataRoots): DatasetPreparer {
  return {
    async prepare(ref: DatasetRef, shape: ImageShape, fieldPath: string): Promise<PreparedDataset> {
      const uri = await roots.resolveReal(ref.uri, `${fieldPath}.uri`);
      const labelsUri =
        ref.labelsUri === undefined
          ? undefined
          : await roots.resolveReal(ref.labelsUri, `${fieldPath}.labelsUri`);
      return inner.prepare(
        { ...ref, uri, ...(labelsUri === undefined ? {} : { labelsUri }) },
        shape,
        fieldPath,
      );
    },
  };
}
