/**
 * Reading source artifacts (datasets, base models) from S3 for the api and retrain functions and
 * for local runs: listing with what identifies each object's content (ETag, size, LastModified),
 * downloading an object only when asked, and turning the SDK's errors into ValidationErrors that
 * name the spec field, the s3:// location and what to do. Shared by S3DatasetSource
 * (s3-dataset-source.ts) and S3ModelSource (s3-model-source.ts).
 * @module
 */
import { createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { SourceFileStat } from '../../data/prepare.js';
import { ValidationError } from '../../errors.js';

/** Objects downloaded at once. */
export const S3_DOWNLOAD_CONCURRENCY = 8;

export interface S3Location {
  bucket: string;
  key: string;
  /** What messages name: `s3://bucket/key`. */
  uri: string;
}

export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  mtimeMs: number;
}

/** `s3://bucket/key` (the key may be empty) with a valid bucket name, or undefined. */
export function matchS3Uri(uri: string): S3Location | undefined {
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/i.exec(uri);
  const bucket = match?.[1] ?? '';
  if (!match || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) return undefined;
  return { bucket, key: match[2] ?? '', uri };
}

export interface S3ReaderOptions {
  /** The client, or a factory called on the first request (so none is made otherwise). */
  client: S3Client | (() => S3Client | Promise<S3Client>);
  /** Appended to access-denied and missing-credentials errors: which grant to add, where. */
  accessHint: string;
  /** ListObjectsV2 `MaxKeys` per page (default 1000). Tests set it small to page. */
  listPageSize?: number;
}

/**
 * @example
 * const reader = new S3Reader({ client: s3, accessHint: 'add the bucket to …' });
 * const objects = await reader.listAll({ bucket, key: 'models/base/', uri }, 'models/base/', 'baseModel');
 */
export class S3Reader {
  private client: S3Client | undefined;
  private readonly makeClient: () => S3Client | Promise<S3Client>;
  private readonly accessHint: string;
  private readonly listPageSize: number | undefined;

  constructor(options: S3ReaderOptions) {
    const { client } = options;
    this.makeClient = typeof client === 'function' ? client : () => client;
    this.accessHint = options.accessHint;
    this.listPageSize = options.listPageSize;
  }

  /** One page of the objects whose key starts with `prefix` (errors name `at`). */
  async listPage(
    at: S3Location,
    prefix: string,
    maxKeys: number,
    fieldPath: string,
  ): Promise<ListedObject[]> {
    const page = await this.call(at, fieldPath, (s3) =>
      s3.send(new ListObjectsV2Command({ Bucket: at.bucket, Prefix: prefix, MaxKeys: maxKeys })),
    );
    return listedObjects(page);
  }

  /** Every object whose key starts with `prefix`, sorted by key (errors name `at`). */
  async listAll(at: S3Location, prefix: string, fieldPath: string): Promise<ListedObject[]> {
    const objects: ListedObject[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await this.call(at, fieldPath, (s3) =>
        s3.send(
          new ListObjectsV2Command({
            Bucket: at.bucket,
            Prefix: prefix,
            ContinuationToken,
            MaxKeys: this.listPageSize,
          }),
        ),
      );
      objects.push(...listedObjects(page));
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    // S3 lists in UTF-8 byte order; fingerprints want one fixed order whatever the server.
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Downloads one object to `file`; an object that changed since it was listed is an error. */
  async download(
    at: S3Location,
    listed: ListedObject,
    file: string,
    fieldPath: string,
  ): Promise<void> {
    const body = await this.open(at, listed, fieldPath);
    await pipeline(body, createWriteStream(file));
  }

  /** Reads one object into memory; an object that changed since it was listed is an error. */
  async read(at: S3Location, listed: ListedObject, fieldPath: string): Promise<Buffer> {
    const body = await this.open(at, listed, fieldPath);
    try {
      return await buffer(body);
    } catch (error) {
      throw this.toValidationError(error, at, fieldPath, true);
    }
  }

  private async open(at: S3Location, listed: ListedObject, fieldPath: string): Promise<Readable> {
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
    return Body as Readable;
  }

  /** One SDK call, its vendor errors turned into ValidationErrors naming `fieldPath`. */
  async call<T>(
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
    if (!(error instanceof Error) || error instanceof ValidationError) return error;
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

export function listedObjects(page: ListObjectsV2CommandOutput): ListedObject[] {
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

/** What a source fingerprint covers of one listed object. */
export function fileStat(at: S3Location, o: ListedObject): SourceFileStat {
  return { path: at.uri, size: o.size, mtimeMs: o.mtimeMs, etag: o.etag };
}

export function changedWhileReading(at: S3Location, fieldPath: string, cause?: unknown) {
  return ValidationError.single(
    fieldPath,
    `${at.uri} changed while it was being read (replaced or deleted after it was listed): try again`,
    cause,
  );
}
