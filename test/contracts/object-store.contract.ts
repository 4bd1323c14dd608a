import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ObjectNotFoundError } from '../../shared/errors.js';
import type { ObjectStore } from '../../shared/ports/object-store.js';

export interface ObjectStoreFixture {
  store: ObjectStore;
  cleanup(): Promise<void>;
}

/**
 * The behaviour every ObjectStore adapter promises (see shared/ports/object-store.ts).
 * `make` must return an empty store; `cleanup` removes whatever the test left.
 * @example
 * objectStoreContract('FsObjectStore', async () => {
 *   const root = await mkdtemp(path.join(tmpdir(), 'objects-'));
 *   return { store: new FsObjectStore(root), cleanup: () => rm(root, { recursive: true }) };
 * });
 */
export function objectStoreContract(name: string, make: () => Promise<ObjectStoreFixture>): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let store: ObjectStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await make());
    });

    afterEach(async () => {
      await cleanup();
    });

    const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

    describe('put() and get()', () => {
      it('round-trips a binary body byte for byte', async () => {
        // Prepare
        const body = Uint8Array.from({ length: 512 }, (_, i) => (i * 7) % 256);

        // Act
        await store.put('bin/all-bytes.bin', body);
        const got = await store.get('bin/all-bytes.bin');

        // Assess
        expect(got).toBeInstanceOf(Uint8Array);
        expect(Array.from(got)).toEqual(Array.from(body));
      });

      it('stores only the bytes of a Uint8Array view, not its whole buffer', async () => {
        const backing = Uint8Array.from([9, 9, 1, 2, 3, 9, 9]);
        const view = new Uint8Array(backing.buffer, 2, 3);

        await store.put('bin/view.bin', view);

        expect(Array.from(await store.get('bin/view.bin'))).toEqual([1, 2, 3]);
      });

      it('round-trips a string body as UTF-8', async () => {
        const body = '{"name":"héllo ✓ 模型"}';

        await store.put('sweeps/s1/plan.json', body);
        const got = await store.get('sweeps/s1/plan.json');

        expect(text(got)).toBe(body);
        expect(got.byteLength).toBe(new TextEncoder().encode(body).byteLength);
      });

      it('round-trips an empty body', async () => {
        await store.put('empty.txt', '');

        expect((await store.get('empty.txt')).byteLength).toBe(0);
      });

      it('replaces the body on overwrite, leaving nothing of a longer old body', async () => {
        await store.put('sweeps/s1/status.json', 'a much longer first body');

        await store.put('sweeps/s1/status.json', 'short');

        expect(text(await store.get('sweeps/s1/status.json'))).toBe('short');
        expect(await store.list('sweeps/s1/')).toEqual(['sweeps/s1/status.json']);
      });

      it('lets concurrent readers see the old or the new body in full, never a mix', async () => {
        const size = 1 << 20;
        const oldBody = new Uint8Array(size).fill(0x61);
        const newBody = new Uint8Array(size).fill(0x62);
        await store.put('big/model.bin', oldBody);

        const [, ...reads] = await Promise.all([
          store.put('big/model.bin', newBody),
          ...Array.from({ length: 4 }, () => store.get('big/model.bin')),
        ]);

        for (const read of reads) {
          expect(read.byteLength).toBe(size);
          const first = read[0];
          expect([0x61, 0x62]).toContain(first);
          expect(read.every((byte) => byte === first)).toBe(true);
        }
        expect((await store.get('big/model.bin')).every((byte) => byte === 0x62)).toBe(true);
      });

      it('throws ObjectNotFoundError for a missing key', async () => {
        await store.put('sweeps/s1/plan.json', '{}');

        await expect(store.get('sweeps/s1/missing.json')).rejects.toBeInstanceOf(
          ObjectNotFoundError,
        );
        await expect(store.get('nowhere/at/all.json')).rejects.toBeInstanceOf(ObjectNotFoundError);
      });

      it('throws ObjectNotFoundError for a prefix that only has keys below it', async () => {
        await store.put('sweeps/s1/plan.json', '{}');

        await expect(store.get('sweeps/s1')).rejects.toBeInstanceOf(ObjectNotFoundError);
      });
    });

    describe('exists()', () => {
      it('is true for a stored key and false for a missing one', async () => {
        await store.put('a/b.json', '{}');

        expect(await store.exists('a/b.json')).toBe(true);
        expect(await store.exists('a/c.json')).toBe(false);
        expect(await store.exists('x/y/z.json')).toBe(false);
      });

      it('is false for a prefix that only has keys below it', async () => {
        await store.put('a/b.json', '{}');

        expect(await store.exists('a')).toBe(false);
      });
    });

    describe('list()', () => {
      it('returns an empty list when no key has the prefix', async () => {
        await store.put('a/b.json', '{}');

        expect(await store.list('other/')).toEqual([]);
        expect(await store.list('a/b.json/')).toEqual([]);
      });

      it('returns every key below the prefix, at any depth', async () => {
        await store.put('sweeps/s1/plan.json', '{}');
        await store.put('sweeps/s1/trials/0/result.json', '{}');
        await store.put('sweeps/s1/trials/1/model/weights.bin', new Uint8Array([1]));
        await store.put('sweeps/s2/plan.json', '{}');

        expect(await store.list('sweeps/s1/')).toEqual([
          'sweeps/s1/plan.json',
          'sweeps/s1/trials/0/result.json',
          'sweeps/s1/trials/1/model/weights.bin',
        ]);
      });

      it('treats the prefix as a string: it may end mid-name', async () => {
        await store.put('sweeps/a/x.json', '{}');
        await store.put('sweeps/ab/y.json', '{}');
        await store.put('sweeps/abc.json', '{}');
        await store.put('sweeps/b/z.json', '{}');

        expect(await store.list('sweeps/a')).toEqual([
          'sweeps/a/x.json',
          'sweeps/ab/y.json',
          'sweeps/abc.json',
        ]);
        expect(await store.list('sweeps/a/')).toEqual(['sweeps/a/x.json']);
        expect(await store.list('sweeps/abc')).toEqual(['sweeps/abc.json']);
      });

      it('includes a key equal to the prefix', async () => {
        await store.put('models/champion.json', '{}');

        expect(await store.list('models/champion.json')).toEqual(['models/champion.json']);
      });

      it('lists every key for the empty prefix', async () => {
        await store.put('b.json', '{}');
        await store.put('a/c.json', '{}');

        expect(await store.list('')).toEqual(['a/c.json', 'b.json']);
      });

      it('sorts keys as whole strings by code unit, not folder by folder', async () => {
        // '-' < '/' < '0' < 'B' < 'a': a folder-by-folder walk would put 'k/a/x' elsewhere.
        for (const key of ['k/b', 'k/a0', 'k/a/x', 'k/B', 'k/a-1', 'k/10', 'k/9']) {
          await store.put(key, key);
        }

        expect(await store.list('k/')).toEqual([
          'k/10',
          'k/9',
          'k/B',
          'k/a-1',
          'k/a/x',
          'k/a0',
          'k/b',
        ]);
      });
    });

    describe('delete()', () => {
      it('removes the key and keeps its siblings', async () => {
        await store.put('d/one.json', '1');
        await store.put('d/two.json', '2');

        await store.delete('d/one.json');

        expect(await store.exists('d/one.json')).toBe(false);
        await expect(store.get('d/one.json')).rejects.toBeInstanceOf(ObjectNotFoundError);
        expect(await store.list('d/')).toEqual(['d/two.json']);
        expect(text(await store.get('d/two.json'))).toBe('2');
      });

      it('does nothing for a missing key', async () => {
        await store.put('d/one.json', '1');

        await expect(store.delete('d/missing.json')).resolves.toBeUndefined();
        await expect(store.delete('nowhere/at/all.json')).resolves.toBeUndefined();
        expect(await store.list('')).toEqual(['d/one.json']);
      });

      it('lets the key be written again afterwards', async () => {
        await store.put('d/one.json', 'old');
        await store.delete('d/one.json');

        await store.put('d/one.json', 'new');

        expect(text(await store.get('d/one.json'))).toBe('new');
      });
    });
  });
}
