import { readFile } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  MULTIPART_PART_SIZE,
  S3ObjectStore,
} from '../../../shared/adapters/aws/s3-object-store.js';
import { ObjectNotFoundError, ValidationError } from '../../../shared/errors.js';
import { objectStoreContract } from '../../contracts/object-store.contract.js';
import { type LocalS3, localS3Client, startLocalS3 } from '../../helpers/local-aws.js';

let s3: LocalS3;

beforeAll(async () => {
  s3 = await startLocalS3();
});

afterAll(async () => {
  await s3?.stop();
});

// Buckets are left in s3rver's temp folder, which stop() removes.
objectStoreContract('S3ObjectStore on s3rver', async () => ({
  store: new S3ObjectStore({ client: s3.client, bucket: await s3.createBucket() }),
  cleanup: async () => undefined,
}));

objectStoreContract('S3ObjectStore on s3rver, with a prefix and 2-key list pages', async () => ({
  store: new S3ObjectStore({
    client: s3.client,
    bucket: await s3.createBucket(),
    prefix: 'env/dev',
    listPageSize: 2,
  }),
  cleanup: async () => undefined,
}));

/** Bytes whose every position differs from its neighbours, so a shifted or spliced copy fails. */
function patterned(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + (i >>> 8)) & 0xff;
  return bytes;
}

/** Names of the commands sent through `client` while `act` runs. */
async function commandsSent(client: S3Client, act: () => Promise<unknown>): Promise<string[]> {
  const send = vi.spyOn(client, 'send');
  try {
    await act();
    return send.mock.calls.map(([command]) => command.constructor.name);
  } finally {
    send.mockRestore();
  }
}

describe('S3ObjectStore', () => {
  describe('put() of a body over 8 MiB', () => {
    it('uploads it in 8 MiB parts and reads it back byte for byte', async () => {
      // Prepare
      const store = new S3ObjectStore({ client: s3.client, bucket: await s3.createBucket() });
      const body = patterned(2 * MULTIPART_PART_SIZE + 12_345);

      // Act
      const sent = await commandsSent(s3.client, () => store.put('models/big/weights.bin', body));
      const got = await store.get('models/big/weights.bin');

      // Assess
      expect(sent).toEqual([
        'CreateMultipartUploadCommand',
        'UploadPartCommand',
        'UploadPartCommand',
        'UploadPartCommand',
        'CompleteMultipartUploadCommand',
      ]);
      expect(got.byteLength).toBe(body.byteLength);
      expect(Buffer.from(got).equals(Buffer.from(body))).toBe(true);
    });

    it('sends a body of exactly 8 MiB in one PutObject', async () => {
      const store = new S3ObjectStore({ client: s3.client, bucket: await s3.createBucket() });
      const body = patterned(MULTIPART_PART_SIZE);

      const sent = await commandsSent(s3.client, () => store.put('exact.bin', body));

      expect(sent).toEqual(['PutObjectCommand']);
      expect(Buffer.from(await store.get('exact.bin')).equals(Buffer.from(body))).toBe(true);
    });
  });

  describe('bytes on the server', () => {
    it('stores exactly the body, with no aws-chunked framing, single-part and multipart', async () => {
      const bucket = await s3.createBucket();
      const store = new S3ObjectStore({ client: s3.client, bucket, prefix: 'p' });
      const small = patterned(70_000);
      const large = patterned(MULTIPART_PART_SIZE + 1);

      await store.put('small.bin', small);
      await store.put('large.bin', large);

      const onDisk = await readFile(s3.objectFile(bucket, 'p/small.bin'));
      expect(onDisk.equals(Buffer.from(small))).toBe(true);
      const largeOnDisk = await readFile(s3.objectFile(bucket, 'p/large.bin'));
      expect(largeOnDisk.equals(Buffer.from(large))).toBe(true);
    });

    it('stores exactly the body even through a client with the SDK default checksum settings', async () => {
      // Production clients keep the defaults: the adapter sends whole byte arrays (never
      // streams), so the SDK puts its checksum in a header rather than an aws-chunked trailer.
      const client = localS3Client(s3.endpoint, {
        requestChecksumCalculation: 'WHEN_SUPPORTED',
        responseChecksumValidation: 'WHEN_SUPPORTED',
      });
      const bucket = await s3.createBucket();
      const store = new S3ObjectStore({ client, bucket });
      const body = patterned(100_000);

      try {
        await store.put('default-client.bin', body);

        expect(
          (await readFile(s3.objectFile(bucket, 'default-client.bin'))).equals(Buffer.from(body)),
        ).toBe(true);
        expect(Buffer.from(await store.get('default-client.bin')).equals(Buffer.from(body))).toBe(
          true,
        );
      } finally {
        client.destroy();
      }
    });
  });

  describe('list()', () => {
    it('follows continuation tokens until the last page', async () => {
      const store = new S3ObjectStore({
        client: s3.client,
        bucket: await s3.createBucket(),
        listPageSize: 3,
      });
      const keys = Array.from(
        { length: 10 },
        (_, i) => `t/${String(i).padStart(5, '0')}/result.json`,
      );
      await Promise.all(keys.map((key) => store.put(key, '{}')));
      await store.put('u/outside.json', '{}');

      let listed: string[] = [];
      const sent = await commandsSent(s3.client, async () => {
        listed = await store.list('t/');
      });

      expect(listed).toEqual(keys);
      expect(sent).toEqual(Array(4).fill('ListObjectsV2Command'));
    });

    it('lists only keys of its own prefix, without the prefix', async () => {
      const bucket = await s3.createBucket();
      const dev = new S3ObjectStore({ client: s3.client, bucket, prefix: 'env/dev/' });
      const prod = new S3ObjectStore({ client: s3.client, bucket, prefix: 'env/prod' });
      await dev.put('a.json', 'dev');
      await prod.put('a.json', 'prod');

      expect(await dev.list('')).toEqual(['a.json']);
      expect(new TextDecoder().decode(await prod.get('a.json'))).toBe('prod');
      expect(await new S3ObjectStore({ client: s3.client, bucket }).list('env/')).toEqual([
        'env/dev/a.json',
        'env/prod/a.json',
      ]);
    });
  });

  describe('key validation (same rules as FsObjectStore)', () => {
    const badKeys: [string, RegExp][] = [
      ['', /non-empty/],
      ['/etc/passwd', /relative/],
      ['..', /"\.\."/],
      ['a/../../b', /"\.\."/],
      ['a/./b', /"\."/],
      ['a\\b', /backslash/],
      ['a//b', /empty segments/],
      ['a/', /empty segments/],
      ['a\0b', /NUL/],
      ['a/b.foldsweep-tmp-1234', /foldsweep-tmp/],
      [`${'k'.repeat(1020)}/x.json`, /too long/],
    ];

    it.each(badKeys)(
      'rejects key %j with a ValidationError before sending anything',
      async (key, why) => {
        const store = new S3ObjectStore({ client: s3.client, bucket: 'never-used' });

        const sent = await commandsSent(s3.client, async () => {
          for (const call of [
            () => store.put(key, 'x'),
            () => store.get(key),
            () => store.exists(key),
            () => store.delete(key),
          ]) {
            const error = await call().then(
              () => undefined,
              (e: unknown) => e,
            );
            expect(error).toBeInstanceOf(ValidationError);
            expect((error as ValidationError).issues[0].path).toBe('key');
            expect((error as ValidationError).message).toMatch(why);
          }
        });

        expect(sent).toEqual([]);
      },
    );

    it('rejects a bad store prefix or list page size when constructed', () => {
      expect(() => new S3ObjectStore({ client: s3.client, bucket: 'b', prefix: 'a/../b' })).toThrow(
        ValidationError,
      );
      expect(() => new S3ObjectStore({ client: s3.client, bucket: 'b', listPageSize: 0 })).toThrow(
        /listPageSize/,
      );
      expect(() => new S3ObjectStore({ client: s3.client, bucket: '' })).toThrow(/bucket/);
    });
  });

  describe('errors', () => {
    it('rethrows NoSuchBucket untranslated, not as a missing object', async () => {
      const store = new S3ObjectStore({ client: s3.client, bucket: 'no-such-bucket-here' });

      const error = await store.get('a.json').then(
        () => undefined,
        (e: unknown) => e,
      );

      expect(error).not.toBeInstanceOf(ObjectNotFoundError);
      expect(error).toMatchObject({ name: 'NoSuchBucket' });
      await expect(store.put('a.json', '{}')).rejects.toMatchObject({ name: 'NoSuchBucket' });
      await expect(store.list('')).rejects.toMatchObject({ name: 'NoSuchBucket' });
    });

    describe('that no local server produces (mocked client)', () => {
      const client = new S3Client({
        region: 'us-east-1',
        credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      });
      const mock = mockClient(client);
      const store = new S3ObjectStore({ client, bucket: 'bucket' });
      const serviceError = (name: string, httpStatusCode: number) =>
        new S3ServiceException({
          name,
          $fault: 'client',
          $metadata: { httpStatusCode },
          message: `${name} (mocked)`,
        });

      afterEach(() => {
        mock.reset();
      });

      afterAll(() => {
        mock.restore();
        client.destroy();
      });

      it('rethrows AccessDenied from every method as the SDK raised it', async () => {
        const denied = serviceError('AccessDenied', 403);
        mock.on(GetObjectCommand).rejects(denied);
        mock.on(PutObjectCommand).rejects(denied);
        mock.on(ListObjectsV2Command).rejects(denied);

        await expect(store.get('a.json')).rejects.toBe(denied);
        await expect(store.put('a.json', '{}')).rejects.toBe(denied);
        await expect(store.list('')).rejects.toBe(denied);
      });

      it('rethrows a 403 from HeadObject instead of answering false', async () => {
        const forbidden = serviceError('Forbidden', 403);
        mock.on(HeadObjectCommand).rejects(forbidden);

        await expect(store.exists('a.json')).rejects.toBe(forbidden);
      });

      it('aborts the multipart upload when a part fails, and rethrows the part error', async () => {
        const slowDown = serviceError('SlowDown', 503);
        mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
        mock
          .on(UploadPartCommand)
          .resolves({ ETag: '"etag"' })
          .on(UploadPartCommand, { PartNumber: 2 })
          .rejects(slowDown);
        mock.on(AbortMultipartUploadCommand).resolves({});

        const put = store.put('big.bin', new Uint8Array(3 * MULTIPART_PART_SIZE));

        await expect(put).rejects.toBe(slowDown);
        expect(mock.commandCalls(AbortMultipartUploadCommand)).toHaveLength(1);
        expect(mock.commandCalls(AbortMultipartUploadCommand)[0].args[0].input).toEqual({
          Bucket: 'bucket',
          Key: 'big.bin',
          UploadId: 'upload-1',
        });
        expect(mock.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
      });

      it('rethrows the part error even when the abort fails too', async () => {
        const slowDown = serviceError('SlowDown', 503);
        mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-2' });
        mock.on(UploadPartCommand).rejects(slowDown);
        mock.on(AbortMultipartUploadCommand).rejects(serviceError('NoSuchUpload', 404));

        await expect(store.put('big.bin', new Uint8Array(MULTIPART_PART_SIZE + 1))).rejects.toBe(
          slowDown,
        );
      });
    });
  });
});
