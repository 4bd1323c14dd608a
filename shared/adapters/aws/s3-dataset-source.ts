/**
 * Datasets in S3 for the dataset preparer (a DatasetSource, shared/data/prepare.ts):
 * - `s3://bucket/key`, format `idx`: an IDX images file; the labels are `labelsUri` (an s3://
 *   URI too) or the key with `images-idx3` replaced by `labels-idx1`, as for local files;
 * - `s3://bucket/prefix/`, format `image-folder`: one sub-prefix per class
 *   (`prefix/<class>/<image>.png`), read like a local image folder (hidden names and deeper
 *   prefixes skipped).
 * Listing (ListObjectsV2) gives each object's ETag, size and LastModified: the preparer's source
 * fingerprint, so an unchanged dataset is recognised without downloading anything. Only when it
 * changed are the objects downloaded (GetObject, a bounded number at once) into the temp folder
 * the preparer decodes and then removes.
 * @module
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { forEachBounded } from '../../concurrency.js';
import { defaultLabelsPath } from '../../data/idx.js';
import { isImageFileName } from '../../data/image-folder.js';
import type { DatasetSource, ListedDataset, SourceFileStat } from '../../data/prepare.js';
import { ValidationError } from '../../errors.js';
import type { DatasetRef } from '../../schemas/dataset.js';
import {
  fileStat,
  type ListedObject,
  matchS3Uri,
  S3_DOWNLOAD_CONCURRENCY,
  type S3Location,
  S3Reader,
} from './s3-reader.js';

export { S3_DOWNLOAD_CONCURRENCY };

/** What to do about missing permissions or credentials, on the AWS deployment. */
export const AWS_ACCESS_HINT =
  "the api and retrain functions' roles read only the buckets named in the stack config " +
  'foldsweep:datasetBuckets (and datasets-input/ of the stack bucket): add this bucket there ' +
  'and run `pulumi up` (docs/deploy.md)';

/** What to do about missing permissions or credentials, on a local run. */
export const LOCAL_ACCESS_HINT =
  'locally, s3:// datasets are read with the default AWS credentials and region (AWS_PROFILE ' +
  'or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, and AWS_REGION) that may s3:ListBucket and ' +
  's3:GetObject there; or copy the data to a local folder, or run on the AWS deployment';

export interface S3DatasetSourceOptions {
  /** The client, or a factory called on the first s3:// dataset (so none is made otherwise). */
  client: S3Client | (() => S3Client | Promise<S3Client>);
  /** Appended to access-denied and missing-credentials errors (default AWS_ACCESS_HINT). */
  accessHint?: string;
  /** Downloads at once (default S3_DOWNLOAD_CONCURRENCY). */
  concurrency?: number;
  /** ListObjectsV2 `MaxKeys` per page (default 1000). Tests set it small to page. */
  listPageSize?: number;
}

/** `s3://bucket/key` -> bucket and key (the key may be empty); anything else -> ValidationError. */
export function parseS3Uri(uri: string, fieldPath: string): S3Location {
  const location = matchS3Uri(uri);
  if (!location) {
    throw ValidationError.single(
      fieldPath,
      `'${uri}' is not an S3 location: give s3://<bucket>/<key> (a file) or ` +
        's3://<bucket>/<prefix>/ (an image folder), with a valid bucket name',
    );
  }
  return location;
}

/**
 * @example
 * const preparer = new LocalDatasetPreparer(objects, logger, {
 *   sources: [new S3DatasetSource({ client: s3 })],
 * });
 * await preparer.prepare({ uri: 's3://my-data/fashion/', format: 'image-folder' }, [28, 28, 1], 'dataset');
 */
export class S3DatasetSource implements DatasetSource {
  private readonly reader: S3Reader;
  private readonly concurrency: number;

  constructor(options: S3DatasetSourceOptions) {
    this.reader = new S3Reader({
      client: options.client,
      accessHint: options.accessHint ?? AWS_ACCESS_HINT,
      listPageSize: options.listPageSize,
    });
    this.concurrency = options.concurrency ?? S3_DOWNLOAD_CONCURRENCY;
  }

  handles(uri: string): boolean {
    return /^s3:\/\//i.test(uri);
  }

  async list(ref: DatasetRef, fieldPath: string): Promise<ListedDataset> {
    const uriField = `${fieldPath}.uri`;
    const at = parseS3Uri(ref.uri, uriField);
    return ref.format === 'idx'
      ? this.listIdx(ref, at, fieldPath)
      : this.listImageFolder(at, uriField);
  }

  private async listIdx(ref: DatasetRef, images: S3Location, fieldPath: string) {
    const uriField = `${fieldPath}.uri`;
    const labelsField = `${fieldPath}.labelsUri`;
    if (images.key === '' || images.key.endsWith('/')) {
      throw ValidationError.single(
        uriField,
        `'${images.uri}' is a prefix: an idx dataset's uri is the key of its images file ` +
          '(s3://<bucket>/<path>/train-images-idx3-ubyte.gz); for one sub-prefix per class use ' +
          "format 'image-folder'",
      );
    }
    let labels: S3Location;
    if (ref.labelsUri !== undefined) {
      if (!this.handles(ref.labelsUri)) {
        throw ValidationError.single(
          labelsField,
          `'${ref.labelsUri}': when uri is in S3, give labelsUri as an s3:// URI too (or leave it out)`,
        );
      }
      labels = parseS3Uri(ref.labelsUri, labelsField);
    } else {
      const key = defaultLabelsPath(images.key);
      if (key === undefined) {
        throw ValidationError.single(
          labelsField,
          `cannot derive the labels file from '${images.uri}' (its name has no 'images-idx3'): give labelsUri`,
        );
      }
      labels = { bucket: images.bucket, key, uri: `s3://${images.bucket}/${key}` };
    }
    // Both at once, but the images file's problem is the one reported when both fail (a
    // missing bucket fails both; which answer came first must not decide the message).
    const [imagesStat, labelsStat] = await Promise.allSettled([
      this.statObject(images, uriField),
      this.statObject(labels, labelsField),
    ]);
    if (imagesStat.status === 'rejected') throw imagesStat.reason;
    if (labelsStat.status === 'rejected') throw labelsStat.reason;
    const [imagesObject, labelsObject] = [imagesStat.value, labelsStat.value];
    const files: SourceFileStat[] = [
      fileStat(images, imagesObject),
      fileStat(labels, labelsObject),
    ];
    return {
      files,
      fetch: async (dir: string) => {
        const local = { uri: join(dir, 'images'), labelsUri: join(dir, 'labels') };
        await forEachBounded(2, this.concurrency, (i) =>
          i === 0
            ? this.reader.download(images, imagesObject, local.uri, uriField)
            : this.reader.download(labels, labelsObject, local.labelsUri, labelsField),
        );
        return {
          local,
          names: [
            [local.uri, images.uri],
            [local.labelsUri, labels.uri],
          ] as const,
        };
      },
    };
  }

  private async listImageFolder(at: S3Location, uriField: string): Promise<ListedDataset> {
    const prefix = at.key === '' || at.key.endsWith('/') ? at.key : `${at.key}/`;
    const root = `s3://${at.bucket}/${prefix}`;
    const objects = await this.reader.listAll({ ...at, uri: root }, prefix, uriField);
    if (objects.length === 0) {
      throw ValidationError.single(
        uriField,
        `${root} does not exist or is empty: no object has this prefix in bucket '${at.bucket}': ` +
          'give the prefix under which each class has a sub-prefix of images (s3://<bucket>/<prefix>/<class>/<image>.png)',
      );
    }
    const classes = new Set<string>();
    const images: { object: ListedObject; relPath: string }[] = [];
    for (const object of objects) {
      const parts = object.key.slice(prefix.length).split('/');
      if (parts.length < 2) continue; // an object directly under the prefix
      const [cls, name] = parts;
      if (cls === '' || cls.startsWith('.')) continue; // hidden, as locally
      classes.add(cls);
      if (parts.length === 2 && isImageFileName(name)) {
        images.push({ object, relPath: `${cls}/${name}` });
      }
    }
    if (classes.size === 0) {
      throw ValidationError.single(
        uriField,
        `${root} has no class folders: its ${objects.length} object${objects.length === 1 ? ' sits' : 's sit'} ` +
          'directly under the prefix; an image-folder dataset needs one sub-prefix per class ' +
          `(${root}<class>/<image>.png) and at least 2 classes`,
      );
    }
    return {
      files: objects.map((o) => fileStat({ ...at, uri: `s3://${at.bucket}/${o.key}` }, o)),
      fetch: async (dir: string) => {
        // Class folders first (an empty one is reported by the local listing, as locally).
        await Promise.all([...classes].map((cls) => mkdir(join(dir, cls), { recursive: true })));
        await forEachBounded(images.length, this.concurrency, (i) => {
          const { object, relPath } = images[i];
          const location = { bucket: at.bucket, key: object.key, uri: `${root}${relPath}` };
          return this.reader.download(location, object, join(dir, relPath), uriField);
        });
        return { local: { uri: dir }, names: [[dir, root.slice(0, -1)]] as const };
      },
    };
  }

  /** The object at exactly `at.key`, found by listing (so a missing bucket is told apart). */
  private async statObject(at: S3Location, fieldPath: string): Promise<ListedObject> {
    const objects = await this.reader.listPage(at, at.key, 2, fieldPath);
    const found = objects.find((o) => o.key === at.key);
    if (found) return found;
    const folder = objects.some((o) => o.key.startsWith(`${at.key}/`));
    throw ValidationError.single(
      fieldPath,
      `${at.uri} does not exist: no object with key '${at.key}' in bucket '${at.bucket}'` +
        (folder
          ? ` (it is a prefix of other objects: for one sub-prefix per class use format 'image-folder')`
          : ': check the key (keys are case-sensitive)'),
    );
  }
}
