import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArtifactError, ValidationError } from '../../errors.js';
import {
  baseModelRef,
  checkWeightSizes,
  importFromSource,
  type ModelImportOutcome,
  type ModelSource,
  modelHash,
  parseModelJson,
  storeModel,
} from '../../model/base-model-import.js';
import type { ModelImporter } from '../../ports/artifacts.js';
import type { Logger } from '../../ports/logger.js';
import type { ObjectStore } from '../../ports/object-store.js';
import type { BaseModelRef } from '../../schemas/plan.js';

/** Resolves a spec path: `file://` URIs and paths (relative to the working directory). */
export function resolveLocalPath(uri: string): string {
  return uri.startsWith('file://') ? fileURLToPath(uri) : resolve(uri);
}

export interface FsModelImporterOptions {
  /**
   * Sources for URIs that are not local paths (first match wins), e.g. an S3ModelSource for
   * `s3://bucket/prefix/model.json`; their imports are fingerprinted and reused.
   */
  sources?: readonly ModelSource[];
  logger?: Logger;
}

/**
 * Imports a tfjs layers model from the local filesystem (or from a configured source, e.g. S3)
 * into the object store under `models/<sha256 of model.json + weights>`, so every trainer reads
 * the same bytes.
 * @example
 * const models = new FsModelImporter(objects, { sources: [new S3ModelSource({ client: s3 })] });
 * await models.importBaseModel('s3://my-models/fashion/model.json', 'baseModel');
 */
export class FsModelImporter implements ModelImporter {
  /** Outcome of the most recent import through a source (for tests and diagnostics). */
  lastSourceImport: ModelImportOutcome | undefined;

  private readonly sources: readonly ModelSource[];
  private readonly logger: Logger | undefined;

  constructor(
    private readonly objects: ObjectStore,
    options: FsModelImporterOptions = {},
  ) {
    this.sources = options.sources ?? [];
    this.logger = options.logger;
  }

  async importBaseModel(uri: string, fieldPath: string): Promise<BaseModelRef> {
    const source = this.sources.find((s) => s.handles(uri));
    if (source) {
      const outcome = await importFromSource(this.objects, source, uri, fieldPath, this.logger);
      this.lastSourceImport = outcome;
      return outcome.ref;
    }
    if (/^s3:\/\//i.test(uri)) {
      throw ValidationError.single(
        fieldPath,
        `'${uri}': s3:// base models are read by the AWS deployment, or locally with AWS ` +
          'credentials (foldsweep run/serve); this importer has no S3 source: copy the model ' +
          '(model.json and its weight files) to a local folder',
      );
    }
    return this.importFromFileSystem(uri, fieldPath);
  }

  private async importFromFileSystem(uri: string, fieldPath: string): Promise<BaseModelRef> {
    let file = resolveLocalPath(uri);
    const info = await stat(file).catch(() => undefined);
    if (!info) {
      throw ValidationError.single(
        fieldPath,
        `${file} does not exist: give the path of a tfjs layers model.json`,
      );
    }
    if (info.isDirectory()) file = join(file, 'model.json');
    const text = await readFile(file, 'utf8').catch((cause) => {
      throw new InvalidArtifactError(file, fieldPath, `cannot read: ${(cause as Error).message}`, {
        cause,
      });
    });
    const summary = parseModelJson(text, file, fieldPath);
    // Sizes first: a truncated or overlong weight file is refused before any weight is read.
    const sizes = new Map<string, number>();
    for (const p of summary.weightPaths) {
      const weightFile = join(dirname(file), p);
      const weightInfo = await stat(weightFile).catch((cause) => {
        throw new InvalidArtifactError(
          weightFile,
          fieldPath,
          `weight file named by model.json is missing or unreadable: ${(cause as Error).message}`,
          { cause },
        );
      });
      if (!weightInfo.isFile()) {
        throw new InvalidArtifactError(
          weightFile,
          fieldPath,
          'weight file named by model.json is not a file: give the folder model.json was saved to',
        );
      }
      sizes.set(p, weightInfo.size);
    }
    checkWeightSizes(
      summary,
      (p) => sizes.get(p) ?? 0,
      (p) => join(dirname(file), p),
      fieldPath,
    );
    const weights: [string, Buffer][] = [];
    for (const p of summary.weightPaths) {
      const weightFile = join(dirname(file), p);
      const data = await readFile(weightFile).catch((cause) => {
        throw new InvalidArtifactError(
          weightFile,
          fieldPath,
          `weight file named by model.json is missing or unreadable: ${(cause as Error).message}`,
          { cause },
        );
      });
      weights.push([p, data]);
    }
    const digest = modelHash(
      text,
      weights.map(([, data]) => data),
    );
    const prefix = await storeModel(this.objects, digest, text, weights);
    return baseModelRef(uri, digest, prefix, summary);
  }
}
