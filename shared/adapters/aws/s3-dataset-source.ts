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
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { forEachBounded } from '../../concurrency.js';
import { defaultLabelsPath } from '../../data/idx.js';
import { isImageFileName } from '../../data/image-folder.js';
import type { DatasetSource, ListedDataset, SourceFileStat } from '../../data/prepare.js';
import { ValidationError } from '../../errors.js';
import type { DatasetRef } from '../../schemas/dataset.js';

/** Objects downloaded at once. */
export const S3_DOWNLOAD_CONCURRENCY = 8;

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

interface S3Location {
  bucket: string;
  key: string;
  uri: string;
}

interface ListedObject {
  key: string;
  size: number;
  etag: string;
  mtimeMs: number;
}

/** `s3://bucket/key` -> bucket and key (the key may be empty); anything else -> ValidationError. */
export function parseS3Uri(uri: string, fieldPath: string): S3Location {
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/i.exec(uri);
  const bucket = match?.[1] ?? '';
  if (!match || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw ValidationError.single(
      fieldPath,
      `'${uri}' is not an S3 location: give s3://<bucket>/<key> (a file) or ` +
        's3://<bucket>/<prefix>/ (an image folder), with a valid bucket name',
    );
  }
  return { bucket, key: match[2] ?? '', uri };
}

/**
 * @example
 * const preparer = new LocalDatasetPreparer(objects, logger, {
 *   sources: [new S3DatasetSource({ client: s3 })],
 * });
 * await preparer.prepare({ uri: 's3://my-data/fashion/', format: 'image-folder' }, [28, 28, 1], 'dataset');
 */
export class S3DatasetSource implements DatasetSource {
  private client: S3Client | undefined;
  private readonly makeClient: () => S3Client | Promise<S3Client>;
  private readonly accessHint: string;
  private readonly concurrency: number;
  private readonly listPageSize: number | undefined;

  constructor(options: S3DatasetSourceOptions) {
    const { client } = options;
    this.makeClient = typeof client === 'function' ? client : () => client;
    this.accessHint = options.accessHint ?? AWS_ACCESS_HINT;
    this.concurrency = options.concurrency ?? S3_DOWNLOAD_CONCURRENCY;
    this.listPageSize = options.listPageSize;
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
    const [imagesObject, labelsObject] = await Promise.all([
      this.statObject(images, uriField),
      this.statObject(labels, labelsField),
    ]);
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
            ? this.download(images, imagesObject, local.uri, uriField)
            : this.download(labels, labelsObject, local.labelsUri, labelsField),
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
    const objects = await this.listAll(at.bucket, prefix, { ...at, uri: root }, uriField);
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
          return this.download(location, object, join(dir, relPath), uriField);
        });
        return { local: { uri: dir }, names: [[dir, root.slice(0, -1)]] as const };
      },
    };
  }

  /** The object at exactly `at.key`, found by listing (so a missing bucket is told apart). */
  private async statObject(at: S3Location, fieldPath: string): Promise<ListedObject> {
    const page = await this.call(at, fieldPath, (s3) =>
      s3.send(new ListObjectsV2Command({ Bucket: at.bucket, Prefix: at.key, MaxKeys: 2 })),
    );
    const objects = listedObjects(page);
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

  private async listAll(
    bucket: string,
    prefix: string,
    at: S3Location,
    fieldPath: string,
  ): Promise<ListedObject[]> {
    const objects: ListedObject[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await this.call(at, fieldPath, (s3) =>
        s3.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            ContinuationToken,
            MaxKeys: this.listPageSize,
          }),
        ),
      );
      objects.push(...listedObjects(page));
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    // S3 lists in UTF-8 byte order; the fingerprint wants one fixed order whatever the server.
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Downloads one object to `file`; an object that changed since it was listed is an error. */
  private async download(
    at: S3Location,
    listed: ListedObject,
    file: string,
    fieldPath: string,
  ): Promise<void> {
    const { Body, ETag } = await this.call(
      at,
      fieldPath,
      (s3) => s3.send(new GetObjectCommand({ Bucket: at.bucket, Key: at.key })),
      true,
    );
    if (ETag !== undefined && ETag !== listed.etag) {
      (Body as Readable | undefined)?.destroy?.();
      throw changedWhileReading(at, fieldPath);
    }
    await pipeline(Body as Readable, createWriteStream(file));
  }

  /** One SDK call, its vendor errors turned into ValidationErrors naming `fieldPath`. */
  private async call<T>(
    at: S3Location,
    fieldPath: string,
    request: (s3: S3Client) => Promise<T>,
    reading = false,
  ): Promise<T> {
    try {
      this.client ??= await this.makeClient();
      return await request(this.client);
    } catch (error) {
      throw this.toValidationError(error, at, fieldPath, reading);
    }
  }

  private toValidationError(
    error: unknown,
    at: S3Location,
    fieldPath: string,
    reading: boolean,
  ): unknown {
    if (!(error instanceof Error)) return error;
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (error.name === 'NoSuchBucket') {
      return ValidationError.single(
        fieldPath,
        `${at.uri} does not exist: there is no bucket '${at.bucket}' (check its name)`,
        error,
      );
    }
    if (error.name === 'NoSuchKey' && reading) return changedWhileReading(at, fieldPath, error);
    if (error.name === 'AccessDenied' || status === 403) {
      return ValidationError.single(
        fieldPath,
        `${at.uri} cannot be read: access denied (${error.message}): ${this.accessHint}`,
        error,
      );
    }
    if (error.name === 'CredentialsProviderError' || /region is missing/i.test(error.message)) {
      return ValidationError.single(
        fieldPath,
        `${at.uri} cannot be read: no AWS credentials or region (${error.message}): ${this.accessHint}`,
        error,
      );
    }
    return error;
  }
}

function listedObjects(page: ListObjectsV2CommandOutput): ListedObject[] {
  return (page.Contents ?? []).flatMap((o) =>
    o.Key === undefined
      ? []
      : [
          {
            key: o.Key,
            size: o.Size ?? 0,
            etag: o.ETag ?? '',
            mtimeMs: o.LastModified?.getTime() ?? 0,
          },
        ],
  );
}

function fileStat(at: S3Location, o: ListedObject): SourceFileStat {
  return { path: at.uri, size: o.size, mtimeMs: o.mtimeMs, etag: o.etag };
}

function changedWhileReading(at: S3Location, fieldPath: string, cause?: unknown) {
  return ValidationError.single(
    fieldPath,
    `${at.uri} changed while it was being read (replaced or deleted after it was listed): try again`,
    cause,
  );
}
