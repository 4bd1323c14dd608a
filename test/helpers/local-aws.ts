/**
 * s3rver and dynalite on 127.0.0.1 (free ports, temp folders), with SDK clients pointed at them.
 * Tests start them in `beforeAll` and stop them in `afterAll`; each test makes its own bucket or
 * table, since the contract suites expect an empty store.
 * @example
 * let s3: LocalS3;
 * beforeAll(async () => { s3 = await startLocalS3(); });
 * afterAll(() => s3.stop());
 * it('...', async () => { const store = new S3ObjectStore({ client: s3.client, bucket: await s3.createBucket() }); });
 */

import { type BinaryLike, type CipherKey, createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import S3rver from 's3rver';
import { stateTableInput } from '../../shared/adapters/aws/dynamo-table.js';

const cjsRequire = createRequire(import.meta.url);
const PATCHED = Symbol.for('foldsweep.test.singleDes');

export const LOCAL_REGION = 'us-east-1';
/** s3rver accepts only this key pair; dynalite accepts any. */
export const FAKE_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** A lowercase name unique within the process, valid as a bucket or table name. */
export function uniqueName(kind: string): string {
  return `${kind}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

export interface LocalS3 {
  endpoint: string;
  /** s3rver's folder: `<directory>/<bucket>/<key>._S3rver_object` holds each body. */
  directory: string;
  client: S3Client;
  /** Creates an empty bucket with a unique name and returns the name. */
  createBucket(): Promise<string>;
  /** The file in which s3rver stores the body of `key`, to check the bytes it received. */
  objectFile(bucket: string, key: string): string;
  stop(): Promise<void>;
}

/**
 * An S3 client for s3rver: path-style addressing, fake credentials, and checksums only where S3
 * requires them (otherwise the SDK may send streamed bodies with aws-chunked framing, which
 * s3rver stores verbatim).
 */
export function localS3Client(endpoint: string, overrides: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({
    endpoint,
    region: LOCAL_REGION,
    credentials: FAKE_CREDENTIALS,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
    ...overrides,
  });
}

export async function startLocalS3(): Promise<LocalS3> {
  enableSingleDes();
  const directory = await mkdtemp(path.join(tmpdir(), 'foldsweep-s3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
  makePutsAtomic(server.store);
  makeListingsSorted(server.store);
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = localS3Client(endpoint);
  return {
    endpoint,
    directory,
    client,
    async createBucket() {
      const bucket = uniqueName('b');
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      return bucket;
    },
    objectFile: (bucket, key) => {
      const parts = key.split('/');
      return path.join(directory, bucket, ...parts.slice(0, -1), `${parts.at(-1)}._S3rver_object`);
    },
    async stop() {
      client.destroy();
      try {
        await server.close();
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Uploads every file under `dir` to `s3://<bucket>/<prefix><path relative to dir>` and returns
 * the keys, sorted (datasets for the S3 dataset source).
 */
export async function uploadFolder(
  client: S3Client,
  bucket: string,
  prefix: string,
  dir: string,
): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const keys: string[] = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const key = prefix + path.relative(dir, file).split(path.sep).join('/');
    const body = await readFile(file);
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length }),
    );
    keys.push(key);
  }
  return keys.sort();
}

/**
 * s3rver 3.7.1 encrypts ListObjectsV2 continuation tokens with single DES ('des'), which
 * OpenSSL 3 (Node 17+) refuses without --openssl-legacy-provider, so every truncated listing
 * answers 500 InternalError. Three-key DES with all three keys equal is single DES, and OpenSSL 3
 * still has it: route 'des' there. Other algorithms are untouched.
 */
function enableSingleDes(): void {
  const crypto = cjsRequire('node:crypto') as typeof import('node:crypto') & { [PATCHED]?: true };
  if (crypto[PATCHED]) return;
  const { createCipheriv, createDecipheriv } = crypto;
  const asTripleDes = (algorithm: string, key: CipherKey): [string, CipherKey] =>
    algorithm.toLowerCase() === 'des' && Buffer.isBuffer(key) && key.length === 8
      ? ['des-ede3-cbc', Buffer.concat([key, key, key])]
      : [algorithm, key];
  crypto.createCipheriv = ((
    algorithm: string,
    key: CipherKey,
    iv: BinaryLike | null,
    options?: never,
  ) => createCipheriv(...asTripleDes(algorithm, key), iv, options)) as typeof createCipheriv;
  crypto.createDecipheriv = ((
    algorithm: string,
    key: CipherKey,
    iv: BinaryLike | null,
    options?: never,
  ) => createDecipheriv(...asTripleDes(algorithm, key), iv, options)) as typeof createDecipheriv;
  crypto[PATCHED] = true;
}

/**
 * s3rver writes an object's file in place (and answers the PUT before the file is flushed), so a
 * GET racing a PUT can read a truncated or half-old body. S3 replaces objects atomically, and the
 * ObjectStore contract tests that: write the body to a temp file and rename it over the object.
 */
function makePutsAtomic(store: S3rver['store']): void {
  store.putObject = async (object) => {
    const content = Buffer.isBuffer(object.content)
      ? object.content
      : await buffer(object.content as Readable);
    const file = store.getResourcePath(object.bucket, object.key, 'object');
    const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`; // not listed: wrong suffix
    await mkdir(path.dirname(file), { recursive: true });
    try {
      await writeFile(temp, content);
      await rename(temp, file);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    const md5 = createHash('md5').update(content).digest('hex');
    await store.putMetadata(object.bucket, object.key, object.metadata, md5);
    return { size: content.length, md5 };
  };
}

/**
 * s3rver walks its folders in readdir order and pages with `key > startAfter`, so keys that sort
 * across folder boundaries ('k/a-1' < 'k/a/x' < 'k/a0') come out of order and a truncated listing
 * skips some. S3 lists in UTF-8 byte order: list everything, then sort, filter and cut the page.
 */
function makeListingsSorted(store: S3rver['store']): void {
  const listAll = store.listObjects.bind(store);
  const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  store.listObjects = async (bucket, options) => {
    if (options.delimiter) return listAll(bucket, options); // not used by S3ObjectStore
    const { startAfter = '', maxKeys = Number.POSITIVE_INFINITY } = options;
    const all = await listAll(bucket, { ...options, startAfter: '', maxKeys: undefined });
    const objects = all.objects
      .filter((object) => utf8Order(object.key, startAfter) > 0)
      .sort((a, b) => utf8Order(a.key, b.key));
    return {
      objects: objects.slice(0, maxKeys),
      commonPrefixes: [],
      isTruncated: objects.length > maxKeys,
    };
  };
}

export interface LocalDynamo {
  endpoint: string;
  client: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  /** Creates the state table (stateTableInput) under a unique name, waits until it is ACTIVE. */
  createTable(): Promise<string>;
  deleteTable(name: string): Promise<void>;
  stop(): Promise<void>;
}

export function localDynamoClient(
  endpoint: string,
  overrides: Partial<DynamoDBClientConfig> = {},
): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: FAKE_CREDENTIALS,
    maxAttempts: 1,
    ...overrides,
  });
}

export async function startLocalDynamo(): Promise<LocalDynamo> {
  const server: Server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = localDynamoClient(endpoint);
  const doc = DynamoDBDocumentClient.from(client);
  return {
    endpoint,
    client,
    doc,
    async createTable() {
      const name = uniqueName('state');
      await client.send(new CreateTableCommand(stateTableInput(name)));
      for (let attempt = 0; ; attempt++) {
        const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
        if (Table?.TableStatus === 'ACTIVE') return name;
        if (attempt >= 200) throw new Error(`table ${name} is still ${Table?.TableStatus}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    async deleteTable(name) {
      await client.send(new DeleteTableCommand({ TableName: name }));
    },
    async stop() {
      doc.destroy();
      client.destroy();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}
