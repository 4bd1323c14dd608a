import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { forEachBounded } from '../../concurrency.js';
import { FoldsweepError, ObjectNotFoundError, ValidationError } from '../../errors.js';
import { assertValidKey, type ObjectStore } from '../../ports/object-store.js';

/** Bodies larger than this go up in parts of this size (S3 allows 5 MiB to 5 GiB per part). */
export const MULTIPART_PART_SIZE = 8 * 1024 * 1024;
/** Parts of one multipart upload sent at once. */
const PART_CONCURRENCY = 4;
/** S3's limit on the UTF-8 length of a whole key, store prefix included. */
const MAX_KEY_BYTES = 1024;
/** FsObjectStore reserves this for its temp files; rejected here too so keys stay portable. */

export interface S3ObjectStoreOptions {
  client: S3Client;
  bucket: string;
  /** Folder in the bucket that holds every key of this store (`env/dev` → `env/dev/<key>`). */
  prefix?: string;
  /** ListObjectsV2 `MaxKeys` per page, 1-1000 (default 1000). Tests set it small to page. */
  listPageSize?: number;
}

/**
 * ObjectStore over an S3 bucket: key `a/b.json` is the object `<prefix>/a/b.json`.
 * `put` is one PutObject, or a multipart upload for bodies over 8 MiB (aborted if any part
 * fails); either way S3 makes the new body visible all at once. Keys follow FsObjectStore's rules
 * (relative, `/`-separated, no empty, `.` or `..` segment), so a sweep's files can move between
 * the local and the AWS store. Vendor errors become domain errors where the port names one
 * (NoSuchKey → ObjectNotFoundError); everything else (AccessDenied, NoSuchBucket, throttling)
 * is rethrown as the SDK raised it.
 * Create the client with `requestChecksumCalculation: 'WHEN_REQUIRED'` when pointing it at an S3
 * stand-in such as s3rver (see test/helpers/local-aws.ts).
 * @example
 * const objects = new S3ObjectStore({ client: new S3Client({}), bucket: 'foldsweep-artifacts' });
 * await objects.put('sweeps/01J/plan.json', JSON.stringify(plan));
 */
export class S3ObjectStore implements ObjectStore {
  readonly bucket: string;
  /** '' or the configured prefix with one trailing '/'. */
  readonly keyPrefix: string;
  private readonly client: S3Client;
  private readonly listPageSize: number | undefined;

  constructor(options: S3ObjectStoreOptions) {
    const { client, bucket, prefix = '', listPageSize } = options;
    if (typeof bucket !== 'string' || bucket === '') {
      throw ValidationError.single('bucket', 'give the name of the S3 bucket');
    }
    const folder = prefix.replace(/\/+$/, '');
    if (folder !== '') assertValidKey(folder, 'prefix');
    if (
      listPageSize !== undefined &&
      !(Number.isInteger(listPageSize) && listPageSize >= 1 && listPageSize <= 1000)
    ) {
      throw ValidationError.single(
        'listPageSize',
        `must be an integer 1-1000, got ${listPageSize}`,
      );
    }
    this.client = client;
    this.bucket = bucket;
    this.keyPrefix = folder === '' ? '' : `${folder}/`;
    this.listPageSize = listPageSize;
  }

  async put(key: string, body: Uint8Array | string): Promise<void> {
    const Key = this.objectKey(key);
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    if (bytes.byteLength > MULTIPART_PART_SIZE) {
      await this.putMultipart(Key, bytes);
      return;
    }
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key,
        Body: bytes,
        ContentLength: bytes.byteLength,
      }),
    );
  }

  async get(key: string): Promise<Uint8Array> {
    const Key = this.objectKey(key);
    try {
      const { Body } = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
      if (!Body) return new Uint8Array(0);
      return await Body.transformToByteArray();
    } catch (error) {
      if (errorName(error) === 'NoSuchKey') throw new ObjectNotFoundError(key);
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    const Key = this.objectKey(key);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return true;
    } catch (error) {
      // HEAD responses have no body, so S3 cannot say NoSuchKey: a bare 404 is the answer.
      if (errorName(error) === 'NotFound' || errorName(error) === 'NoSuchKey') return false;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    if (typeof prefix !== 'string' || prefix.includes('\\')) {
      throw ValidationError.single('prefix', `'${prefix}' must use forward slashes`);
    }
    // FsObjectStore's rule: the folder part of the prefix must be a valid key.
    const slash = prefix.lastIndexOf('/');
    if (slash > 0) assertValidKey(prefix.slice(0, slash), 'prefix');
    const keys: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.keyPrefix + prefix,
          ContinuationToken,
          MaxKeys: this.listPageSize,
        }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined) keys.push(object.Key.slice(this.keyPrefix.length));
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    // S3 orders by UTF-8 bytes; the port promises JS string (UTF-16 code unit) order.
    return keys.sort();
  }

  async delete(key: string): Promise<void> {
    await this.client.send(
      new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
    );
  }

  private objectKey(key: string): string {
    assertValidKey(key, 'key');
    const full = this.keyPrefix + key;
    if (Buffer.byteLength(full, 'utf8') > MAX_KEY_BYTES) {
      throw ValidationError.single(
        'key',
        `'${key}' is too long: S3 keys (with the store prefix '${this.keyPrefix}') take at most ${MAX_KEY_BYTES} UTF-8 bytes`,
      );
    }
    return full;
  }

  private async putMultipart(Key: string, bytes: Uint8Array): Promise<void> {
    const { UploadId } = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key }),
    );
    if (!UploadId) {
      throw new FoldsweepError(`S3 gave no UploadId for a multipart upload to '${Key}'`);
    }
    try {
      const count = Math.ceil(bytes.byteLength / MULTIPART_PART_SIZE);
      const etags = new Array<string>(count);
      await forEachBounded(count, PART_CONCURRENCY, async (i) => {
        const part = bytes.subarray(i * MULTIPART_PART_SIZE, (i + 1) * MULTIPART_PART_SIZE);
        const { ETag } = await this.client.send(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key,
            UploadId,
            PartNumber: i + 1,
            Body: part,
            ContentLength: part.byteLength,
          }),
        );
        if (!ETag) throw new FoldsweepError(`S3 gave no ETag for part ${i + 1} of '${Key}'`);
        etags[i] = ETag;
      });
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key,
          UploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
      );
    } catch (error) {
      // Parts of an unfinished upload are billed until aborted. An abort failure must not hide
      // the original error; a bucket lifecycle rule for incomplete uploads cleans up after it.
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId }))
        .catch(() => undefined);
      throw error;
    }
  }
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}
