import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArtifactError, ValidationError } from '../../errors.js';
import { LayersModelFormatError, summarizeLayersModel } from '../../model/layers-json.js';
import type { ModelImporter } from '../../ports/artifacts.js';
import type { ObjectStore } from '../../ports/object-store.js';
import type { BaseModelRef } from '../../schemas/plan.js';

/** Resolves a spec path: `file://` URIs and paths (relative to the working directory). */
export function resolveLocalPath(uri: string): string {
  return uri.startsWith('file://') ? fileURLToPath(uri) : resolve(uri);
}

/**
 * Imports a tfjs layers model from the local filesystem into the object store under
 * `models/<sha256 of model.json + weights>`, so every trainer reads the same bytes.
 */
export class FsModelImporter implements ModelImporter {
  constructor(private readonly objects: ObjectStore) {}

  async importBaseModel(uri: string, fieldPath: string): Promise<BaseModelRef> {
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
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new InvalidArtifactError(
        file,
        fieldPath,
        'is not JSON: give the model.json written by tf.LayersModel.save or tensorflowjs_converter',
        { cause },
      );
    }
    let summary: ReturnType<typeof summarizeLayersModel>;
    try {
      summary = summarizeLayersModel(json);
    } catch (cause) {
      if (cause instanceof LayersModelFormatError) {
        throw new InvalidArtifactError(file, fieldPath, cause.message, { cause });
      }
      throw cause;
    }
    const hash = createHash('sha256').update(text);
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
      hash.update(data);
      weights.push([p, data]);
    }
    const digest = hash.digest('hex');
    const prefix = `models/${digest}`;
    if (!(await this.objects.exists(`${prefix}/model.json`))) {
      for (const [p, data] of weights) await this.objects.put(`${prefix}/${p}`, data);
      await this.objects.put(`${prefix}/model.json`, text);
    }
    return {
      uri,
      hash: digest,
      prefix,
      inputShape: summary.inputShape as BaseModelRef['inputShape'],
      layers: summary.baseLayers,
      numClasses: summary.numClasses,
    };
  }
}
