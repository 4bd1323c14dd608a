/**
 * Datasets in S3 (s3rver) through the dataset preparer: the same content hash as the same files
 * read locally, reuse without downloading when no object changed (GetObject calls counted by a
 * middleware on the real client), re-preparation when one did, and a ValidationError naming the
 * field for every bad location.
 */
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defaultS3DatasetSource } from '../../../shared/adapters/aws/default-s3-dataset-source.js';
import { S3DatasetSource } from '../../../shared/adapters/aws/s3-dataset-source.js';
import { LocalDatasetPreparer } from '../../../shared/data/prepare.js';
import { InvalidArtifactError, ValidationError } from '../../../shared/errors.js';
import type { DatasetRef, ImageShape } from '../../../shared/schemas/dataset.js';
import {
  makeTempDir,
  solidPixels,
  type TempDir,
  writeIdxPair,
  writeImageFolder,
} from '../../helpers/images.js';
import {
  type LocalS3,
  localS3Client,
  startLocalS3,
  uploadFolder,
} from '../../helpers/local-aws.js';
import { MemoryObjectStore } from '../../helpers/memory-object-store.js';

let s3: LocalS3;
let tmp: TempDir;
let bucket: string;
/** The client the source uses, and what it sent. */
let client: S3Client;
let sent: string[];
const savedTmpdir = process.env.TMPDIR;

beforeAll(async () => {
  s3 = await startLocalS3();
});
afterAll(async () => {
  await s3?.stop();
});

beforeEach(async () => {
  tmp = await makeTempDir('foldsweep-s3-dataset-');
  // The preparer's download folders go under os.tmpdir(): a folder of the test's own, to check
  // that nothing is left behind.
  process.env.TMPDIR = join(tmp.path, 'os-tmp');
  await mkdir(join(tmp.path, 'os-tmp'));
  bucket = await s3.createBucket();
  client = localS3Client(s3.endpoint);
  sent = [];
  client.middlewareStack.add(
    (next, context) => (args) => {
      sent.push(context.commandName as string);
      return next(args);
    },
    { step: 'initialize' },
  );
});
afterEach(async () => {
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  client.destroy();
  await tmp.cleanup();
});

const gets = () => sent.filter((c) => c === 'GetObjectCommand').length;
const leftInTmp = () => readdir(join(tmp.path, 'os-tmp'));

function preparers(options: { listPageSize?: number } = {}) {
  const objects = new MemoryObjectStore();
  return {
    objects,
    s3: new LocalDatasetPreparer(objects, undefined, {
      sources: [new S3DatasetSource({ client, ...options })],
    }),
    local: new LocalDatasetPreparer(new MemoryObjectStore()),
  };
}

async function put(key: string, body: Uint8Array | string) {
  await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

const LABELS = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2];
const SHAPE: ImageShape = [6, 6, 1];

/** A gzipped IDX pair in `<tmp>/idx/`, uploaded under `mnist/`. */
async function idxInS3(seed = 1) {
  const fx = await writeIdxPair(join(tmp.path, 'idx'), {
    labels: LABELS,
    rows: 6,
    cols: 6,
    gzip: true,
    seed,
  });
  await uploadFolder(s3.client, bucket, 'mnist/', join(tmp.path, 'idx'));
  return { fx, uri: `s3://${bucket}/mnist/train-images-idx3-ubyte.gz` };
}

const grey = (value: number) => ({
  width: 5,
  height: 4,
  channels: 1 as const,
  pixels: solidPixels(5, 4, value),
});

/** Three classes of PNG/JPEG images in `<tmp>/folder/`, uploaded under `pets/`. */
async function folderInS3() {
  const root = join(tmp.path, 'folder');
  await writeImageFolder(root, {
    cat: { 'a.png': grey(10), 'b.png': grey(20) },
    dog: { 'a.png': grey(100), 'c.jpg': grey(120) },
    owl: { 'z.png': grey(240) },
  });
  await uploadFolder(s3.client, bucket, 'pets/', root);
  return { root, uri: `s3://${bucket}/pets/` };
}

/** The ValidationError `promise` rejects with. */
async function rejection(promise: Promise<unknown>): Promise<ValidationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  return error as ValidationError;
}

describe('S3DatasetSource: IDX files', () => {
  it('prepares the same content hash as the same files locally, downloading each object once', async () => {
    const { fx, uri } = await idxInS3();
    const p = preparers();
    const fromS3 = await p.s3.prepareDetailed({ uri, format: 'idx' }, SHAPE, 'dataset');
    const local = await p.local.prepare({ uri: fx.imagesFile, format: 'idx' }, SHAPE, 'dataset');
    expect(fromS3).toMatchObject({ reused: false, decoded: true });
    expect(fromS3.manifest.hash).toBe(local.hash);
    expect(fromS3.manifest).toMatchObject({ count: 12, countsPerClass: [4, 4, 4] });
    expect(fromS3.manifest.source).toEqual({ uri, format: 'idx' });
    expect(gets()).toBe(2); // images + labels (derived by the local naming rule)
    expect(await leftInTmp()).toEqual([]);
  });

  it('reuses an unchanged dataset without downloading it, and re-prepares a changed one', async () => {
    const { uri } = await idxInS3(1);
    const p = preparers();
    const ref: DatasetRef = { uri, format: 'idx' };
    const first = await p.s3.prepareDetailed(ref, SHAPE, 'dataset');
    const before = gets();

    const again = await p.s3.prepareDetailed(ref, SHAPE, 'dataset');
    expect(again).toMatchObject({ reused: 'source', decoded: false });
    expect(again.manifest.hash).toBe(first.manifest.hash);
    expect(gets()).toBe(before); // listed only

    // New pixels under the same key: a new ETag, a new fingerprint, a new hash.
    await idxInS3(2);
    const changed = await p.s3.prepareDetailed(ref, SHAPE, 'dataset');
    expect(changed).toMatchObject({ reused: false, decoded: true });
    expect(changed.manifest.hash).not.toBe(first.manifest.hash);
    expect(changed.fingerprint).not.toBe(first.fingerprint);
    expect(gets()).toBe(before + 2);
    expect(await leftInTmp()).toEqual([]);
  });

  it('takes labelsUri from S3 when given', async () => {
    const { uri } = await idxInS3();
    await s3.client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'elsewhere/labels.gz',
        Body: await readFile(join(tmp.path, 'idx', 'train-labels-idx1-ubyte.gz')),
      }),
    );
    const p = preparers();
    const m = await p.s3.prepare(
      { uri, format: 'idx', labelsUri: `s3://${bucket}/elsewhere/labels.gz` },
      SHAPE,
      'dataset',
    );
    expect(m.countsPerClass).toEqual([4, 4, 4]);
  });
});

describe('S3DatasetSource: image folders', () => {
  it('prepares the same content hash as the same folder locally (listing in pages)', async () => {
    const { root, uri } = await folderInS3();
    await put('pets/README.md', 'not an image'); // beside the class folders: ignored
    await put('pets/cat/.hidden.png', 'hidden'); // hidden: ignored, as locally
    const p = preparers({ listPageSize: 2 });
    const shape: ImageShape = [4, 5, 1];
    const fromS3 = await p.s3.prepareDetailed({ uri, format: 'image-folder' }, shape, 'dataset');
    const local = await p.local.prepare({ uri: root, format: 'image-folder' }, shape, 'dataset');
    expect(fromS3.manifest.hash).toBe(local.hash);
    expect(fromS3.manifest).toMatchObject({
      classes: ['cat', 'dog', 'owl'],
      count: 5,
      countsPerClass: [2, 2, 1],
    });
    expect(gets()).toBe(5); // the images only
    // The prefix without its trailing slash names the same folder.
    const noSlash = await p.s3.prepareDetailed(
      { uri: uri.slice(0, -1), format: 'image-folder' },
      shape,
      'dataset',
    );
    expect(noSlash.manifest.hash).toBe(local.hash);
    expect(await leftInTmp()).toEqual([]);
  });

  it('reuses an unchanged folder without downloading; a new image or a replaced one changes the hash', async () => {
    const { uri } = await folderInS3();
    const p = preparers();
    const ref: DatasetRef = { uri, format: 'image-folder' };
    const shape: ImageShape = [4, 5, 1];
    const first = await p.s3.prepareDetailed(ref, shape, 'dataset');
    const afterFirst = gets();
    expect(await p.s3.prepareDetailed(ref, shape, 'dataset')).toMatchObject({
      reused: 'source',
      decoded: false,
    });
    expect(gets()).toBe(afterFirst);

    // A new object: prepared again, a new hash with one more sample.
    const extra = join(tmp.path, 'extra');
    await writeImageFolder(extra, { owl: { 'y.png': grey(200) } });
    await uploadFolder(s3.client, bucket, 'pets/', extra);
    const grown = await p.s3.prepareDetailed(ref, shape, 'dataset');
    expect(grown).toMatchObject({ reused: false, decoded: true });
    expect(grown.manifest.countsPerClass).toEqual([2, 2, 2]);
    expect(grown.manifest.hash).not.toBe(first.manifest.hash);
    expect(gets()).toBe(afterFirst + 6);

    // Same key, other pixels: a new ETag, so a new hash with the same counts.
    const replaced = join(tmp.path, 'replaced');
    await writeImageFolder(replaced, { owl: { 'y.png': grey(50) } });
    await uploadFolder(s3.client, bucket, 'pets/', replaced);
    const changed = await p.s3.prepareDetailed(ref, shape, 'dataset');
    expect(changed.manifest.countsPerClass).toEqual([2, 2, 2]);
    expect(changed.manifest.hash).not.toBe(grown.manifest.hash);
  });

  it('names the S3 object, not the temp copy, when an image cannot be decoded', async () => {
    await folderInS3();
    await put('pets/dog/broken.png', 'this is not a PNG');
    const p = preparers();
    const error = await rejection(
      p.s3.prepare({ uri: `s3://${bucket}/pets/`, format: 'image-folder' }, [4, 5, 1], 'dataset'),
    );
    expect(error).toBeInstanceOf(InvalidArtifactError);
    expect((error as InvalidArtifactError).file).toBe(`s3://${bucket}/pets/dog/broken.png`);
    expect(error.issues[0].path).toBe('dataset.uri');
    expect(error.message).toContain(`s3://${bucket}/pets/dog/broken.png`);
    expect(error.message).not.toContain(tmp.path);
    expect(await leftInTmp()).toEqual([]);
  });

  it('fails when an object changes between listing and download', async () => {
    const { uri } = await folderInS3();
    let replaced = false;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'GetObjectCommand' && !replaced) {
          replaced = true;
          const input = (args as { input: { Key: string } }).input;
          await put(input.Key, 'replaced meanwhile');
        }
        return next(args);
      },
      { step: 'initialize' },
    );
    const error = await rejection(
      preparers().s3.prepare({ uri, format: 'image-folder' }, [4, 5, 1], 'dataset'),
    );
    expect(error.issues[0]).toMatchObject({
      path: 'dataset.uri',
      message: expect.stringMatching(/changed while it was being read.*try again/),
    });
    expect(await leftInTmp()).toEqual([]);
  });
});

describe('S3DatasetSource: bad locations', () => {
  /** The issue of the ValidationError preparing `ref` throws, at `path`. */
  async function issue(ref: DatasetRef, path = 'dataset.uri', p = preparers().s3) {
    const error = await rejection(p.prepare(ref, SHAPE, 'dataset'));
    expect(error.issues[0].path).toBe(path);
    return error.issues[0].message;
  }

  it('a missing bucket', async () => {
    expect(
      await issue({ uri: 's3://no-such-bucket-here/k/train-images-idx3-ubyte', format: 'idx' }),
    ).toMatch(
      /^s3:\/\/no-such-bucket-here\/k\/train-images-idx3-ubyte does not exist: there is no bucket 'no-such-bucket-here'/,
    );
    expect(await issue({ uri: 's3://no-such-bucket-here/pets/', format: 'image-folder' })).toMatch(
      /does not exist: there is no bucket/,
    );
  });

  it('a missing key, and missing labels named on labelsUri', async () => {
    expect(
      await issue({ uri: `s3://${bucket}/mnist/train-images-idx3-ubyte.gz`, format: 'idx' }),
    ).toBe(
      `s3://${bucket}/mnist/train-images-idx3-ubyte.gz does not exist: no object with key ` +
        `'mnist/train-images-idx3-ubyte.gz' in bucket '${bucket}': check the key (keys are case-sensitive)`,
    );
    await put('only/train-images-idx3-ubyte', 'x');
    expect(
      await issue(
        { uri: `s3://${bucket}/only/train-images-idx3-ubyte`, format: 'idx' },
        'dataset.labelsUri',
      ),
    ).toMatch(/only\/train-labels-idx1-ubyte does not exist/);
    expect(
      await issue({ uri: `s3://${bucket}/only/images.idx`, format: 'idx' }, 'dataset.labelsUri'),
    ).toMatch(/cannot derive the labels file .*give labelsUri/);
    expect(
      await issue(
        { uri: `s3://${bucket}/only/train-images-idx3-ubyte`, format: 'idx', labelsUri: '/tmp/l' },
        'dataset.labelsUri',
      ),
    ).toMatch(/give labelsUri as an s3:\/\/ URI too/);
  });

  it('access denied', async () => {
    const denied = localS3Client(s3.endpoint, {
      credentials: { accessKeyId: 'NOT-S3RVER', secretAccessKey: 'wrong' },
    });
    const p = new LocalDatasetPreparer(new MemoryObjectStore(), undefined, {
      sources: [new S3DatasetSource({ client: denied })],
    });
    try {
      expect(
        await issue({ uri: `s3://${bucket}/pets/`, format: 'image-folder' }, undefined, p),
      ).toMatch(
        new RegExp(
          `^s3://${bucket}/pets/ cannot be read: access denied \\(.+\\): .*foldsweep:datasetBuckets`,
        ),
      );
    } finally {
      denied.destroy();
    }
  });

  it('an empty prefix, and a prefix without class folders', async () => {
    expect(await issue({ uri: `s3://${bucket}/pets/`, format: 'image-folder' })).toMatch(
      new RegExp(`^s3://${bucket}/pets/ does not exist or is empty: no object has this prefix`),
    );
    await put('flat/a.png', 'x');
    await put('flat/b.png', 'x');
    expect(await issue({ uri: `s3://${bucket}/flat/`, format: 'image-folder' })).toMatch(
      new RegExp(
        `^s3://${bucket}/flat/ has no class folders: its 2 objects sit directly under the prefix`,
      ),
    );
  });

  it('one class folder, or an empty one, as the local reader says it (with the S3 location)', async () => {
    const root = join(tmp.path, 'one');
    await writeImageFolder(root, { cat: { 'a.png': grey(1) } });
    await uploadFolder(s3.client, bucket, 'one/', root);
    expect(await issue({ uri: `s3://${bucket}/one/`, format: 'image-folder' })).toBe(
      `s3://${bucket}/one: has 1 class sub-folder ('cat'): an image-folder dataset needs one sub-folder per class and at least 2 classes`,
    );
    await put('one/dog/notes.txt', 'no images here');
    expect(await issue({ uri: `s3://${bucket}/one/`, format: 'image-folder' })).toMatch(
      new RegExp(`^s3://${bucket}/one/dog: class folder 'dog' has no PNG/JPEG images`),
    );
  });

  it('malformed and mismatched URIs', async () => {
    expect(await issue({ uri: 's3://', format: 'idx' })).toMatch(/is not an S3 location/);
    expect(await issue({ uri: 's3://Bad_Bucket/k', format: 'idx' })).toMatch(/valid bucket name/);
    expect(await issue({ uri: `s3://${bucket}/mnist/`, format: 'idx' })).toMatch(
      /is a prefix: an idx dataset's uri is the key of its images file/,
    );
    await put('data/train-images-idx3-ubyte/a.png', 'x');
    await put('data/labels', 'x');
    expect(
      await issue({
        uri: `s3://${bucket}/data/train-images-idx3-ubyte`,
        format: 'idx',
        labelsUri: `s3://${bucket}/data/labels`,
      }),
    ).toMatch(/does not exist: .*it is a prefix of other objects: .*format 'image-folder'/);
  });

  it('without an S3 source, an s3:// URI says where it can be read', async () => {
    const error = await rejection(
      new LocalDatasetPreparer(new MemoryObjectStore()).prepare(
        { uri: `s3://${bucket}/pets/`, format: 'image-folder' },
        SHAPE,
        'dataset',
      ),
    );
    expect(error.issues[0]).toMatchObject({
      path: 'dataset.uri',
      message: expect.stringMatching(/read by the AWS deployment, or locally with AWS credentials/),
    });
  });
});

describe('defaultS3DatasetSource (local runs)', () => {
  it('without AWS credentials, says what to set, naming the field', async () => {
    const keys = [
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_SESSION_TOKEN',
      'AWS_PROFILE',
      'AWS_SHARED_CREDENTIALS_FILE',
      'AWS_CONFIG_FILE',
      'AWS_EC2_METADATA_DISABLED',
      'AWS_REGION',
      'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
      'AWS_CONTAINER_CREDENTIALS_FULL_URI',
      'AWS_WEB_IDENTITY_TOKEN_FILE',
    ];
    const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
    for (const k of keys) delete process.env[k];
    Object.assign(process.env, {
      AWS_SHARED_CREDENTIALS_FILE: join(tmp.path, 'no-credentials'),
      AWS_CONFIG_FILE: join(tmp.path, 'no-config'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_REGION: 'eu-west-1',
    });
    try {
      const p = new LocalDatasetPreparer(new MemoryObjectStore(), undefined, {
        sources: [defaultS3DatasetSource()],
      });
      const error = await rejection(
        p.prepare({ uri: 's3://some-bucket/pets/', format: 'image-folder' }, SHAPE, 'spec.dataset'),
      );
      expect(error.issues[0]).toMatchObject({
        path: 'spec.dataset.uri',
        message: expect.stringMatching(
          /^s3:\/\/some-bucket\/pets\/ cannot be read: no AWS credentials or region \(.+\): locally, s3:\/\/ datasets are read with the default AWS credentials/,
        ),
      });
    } finally {
      for (const k of keys) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });
});
