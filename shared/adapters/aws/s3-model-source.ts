/**
 * Base models in S3 for the model importer (a ModelSource, shared/model/base-model-import.ts):
 * `s3://bucket/prefix/model.json` (a key ending in `.json`), or `s3://bucket/prefix/` (or
 * `s3://bucket/prefix`), meaning `prefix/model.json`; the weight files are the keys that
 * model.json's weightsManifest names relative to its folder (`prefix/group1-shard1of1.bin`), as
 * `aws s3 cp --recursive <model folder> s3://bucket/prefix/` uploads them.
 * One listing of the model's folder (ListObjectsV2, paged) gives every object's ETag and size:
 * the importer's fingerprint, so an unchanged model is recognised without downloading anything.
 * Only when model.json or a weight file changed are they downloaded (GetObject).
 * @module
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { ValidationError } from '../../errors.js';
import type { LocatedModel, ModelSource } from '../../model/base-model-import.js';
import { type ListedObject, matchS3Uri, type S3Location, S3Reader } from './s3-reader.js';

/** What to do about missing permissions or credentials, on the AWS deployment. */
export const MODEL_AWS_ACCESS_HINT =
  "the api and retrain functions' roles read base models only from models-input/ of the stack " +
  'bucket and the locations named in the stack config foldsweep:modelBuckets: add this bucket ' +
  '(or bucket/prefix/) there and run `pulumi up` (docs/deploy.md)';

/** What to do about missing permissions or credentials, on a local run. */
export const MODEL_LOCAL_ACCESS_HINT =
  'locally, s3:// base models are read with the default AWS credentials and region ' +
  '(AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, and AWS_REGION) that may ' +
  's3:ListBucket and s3:GetObject there; or copy the model to a local folder';

export interface S3ModelSourceOptions {
  /** The client, or a factory called on the first s3:// model (so none is made otherwise). */
  client: S3Client | (() => S3Client | Promise<S3Client>);
  /** Appended to access-denied and missing-credentials errors (default MODEL_AWS_ACCESS_HINT). */
  accessHint?: string;
  /** ListObjectsV2 `MaxKeys` per page (default 1000). Tests set it small to page. */
  listPageSize?: number;
}

/**
 * @example
 * const models = new FsModelImporter(objects, { sources: [new S3ModelSource({ client: s3 })] });
 * await models.importBaseModel('s3://my-models/fashion/model.json', 'baseModel');
 */
export class S3ModelSource implements ModelSource {
  private readonly reader: S3Reader;

  constructor(options: S3ModelSourceOptions) {
    this.reader = new S3Reader({
      client: options.client,
      accessHint: options.accessHint ?? MODEL_AWS_ACCESS_HINT,
      listPageSize: options.listPageSize,
    });
  }

  handles(uri: string): boolean {
    return /^s3:\/\//i.test(uri);
  }

  async locate(uri: string, fieldPath: string): Promise<LocatedModel> {
    const given = matchS3Uri(uri);
    if (!given) {
      throw ValidationError.single(
        fieldPath,
        `'${uri}' is not an S3 location: give s3://<bucket>/<prefix>/model.json (weights beside ` +
          'it), with a valid bucket name',
      );
    }
    const key = /\.json$/i.test(given.key)
      ? given.key
      : `${given.key === '' || given.key.endsWith('/') ? given.key : `${given.key}/`}model.json`;
    const folder = key.slice(0, key.lastIndexOf('/') + 1);
    const { bucket } = given;
    const at: S3Location = { bucket, key, uri: `s3://${bucket}/${key}` };
    const folderUri = `s3://${bucket}/${folder}`;
    const listed = await this.reader.listAll(at, folder, fieldPath);
    const byKey = new Map(listed.map((o) => [o.key, o]));
    const modelJson = byKey.get(key);
    if (!modelJson) {
      throw ValidationError.single(
        fieldPath,
        `${at.uri} does not exist: no object with key '${key}' in bucket '${bucket}'` +
          (listed.length === 0 ? ` (nothing under ${folderUri})` : '') +
          `: upload the model folder (aws s3 cp --recursive <folder with model.json> ${folderUri}) ` +
          'or check the key (keys are case-sensitive)',
      );
    }
    const locationOf = (path: string): S3Location => {
      const k = folder + path;
      return { bucket, key: k, uri: `s3://${bucket}/${k}` };
    };
    const read = (location: S3Location, object: ListedObject) =>
      this.reader.read(location, object, fieldPath);
    return {
      modelJsonUri: at.uri,
      modelJson: identity(modelJson),
      weight: (path) => {
        const object = byKey.get(folder + path);
        return object && identity(object);
      },
      weightUri: (path) => locationOf(path).uri,
      missingWeightHint:
        `upload it beside model.json (aws s3 cp --recursive <folder with model.json> ${folderUri}), ` +
        "or fix model.json's weightsManifest",
      readModelJson: () => read(at, modelJson),
      readWeight: async (path) => {
        const location = locationOf(path);
        const object = byKey.get(location.key);
        if (!object) throw new Error(`${location.uri} was not listed`); // locate's caller checks
        return read(location, object);
      },
    };
  }
}

function identity(o: ListedObject) {
  return { size: o.size, etag: o.etag };
}
