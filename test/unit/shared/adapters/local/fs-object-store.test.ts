import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsObjectStore } from '../../../../../shared/adapters/local/fs-object-store.js';
import { FoldsweepError, ValidationError } from '../../../../../shared/errors.js';
import { objectStoreContract } from '../../../../contracts/object-store.contract.js';

objectStoreContract('FsObjectStore', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'fs-object-store-'));
  return {
    store: new FsObjectStore(root),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

/** Every file under `dir`, relative, with forward slashes. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

describe('FsObjectStore', () => {
  let tmp: string;
  let root: string;
  let store: FsObjectStore;

  beforeEach(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'fs-object-store-unit-'));
    root = path.join(tmp, 'objects');
    store = new FsObjectStore(root);
  });

  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('writes a key to the file of the same relative path under root, creating folders', async () => {
    await store.put('sweeps/s1/trials/0/result.json', '{"ok":true}');

    expect(await readFile(path.join(root, 'sweeps/s1/trials/0/result.json'), 'utf8')).toBe(
      '{"ok":true}',
    );
  });

  it('lists an empty or missing root as no keys', async () => {
    expect(await store.list('')).toEqual([]);
    expect(await store.list('sweeps/')).toEqual([]);
  });

  describe('key validation', () => {
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
    ];

    it.each(badKeys)('rejects key %j with a ValidationError on every method', async (key, why) => {
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
      expect(await filesUnder(tmp)).toEqual([]);
    });

    it('rejects a list prefix that would leave the root', async () => {
      await writeFile(path.join(tmp, 'outside.json'), '{}');

      await expect(store.list('../')).rejects.toBeInstanceOf(ValidationError);
      await expect(store.list('a/../../')).rejects.toBeInstanceOf(ValidationError);
      await expect(store.list('a\\b')).rejects.toBeInstanceOf(ValidationError);
    });

    it('accepts names that only look like dots', async () => {
      await store.put('a/..b/.hidden/x..y', 'ok');

      expect(await store.list('a/')).toEqual(['a/..b/.hidden/x..y']);
    });
  });

  describe('put()', () => {
    it('leaves no temp files after many writes, concurrent ones included', async () => {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.put(`c/key-${i % 4}.json`, `body ${i}`)),
      );

      expect(await filesUnder(root)).toEqual([
        'c/key-0.json',
        'c/key-1.json',
        'c/key-2.json',
        'c/key-3.json',
      ]);
    });

    it('fails clearly when a key clashes with a folder of other keys, leaving no temp file', async () => {
      await store.put('a/b.json', '{}');

      const error = await store.put('a', 'x').then(
        () => undefined,
        (e: unknown) => e,
      );

      expect(error).toBeInstanceOf(FoldsweepError);
      expect((error as Error).message).toMatch(/'a'.*clashes/);
      expect(await filesUnder(root)).toEqual(['a/b.json']);
    });

    it('fails clearly when a folder of the key is another key', async () => {
      await store.put('a', 'x');

      await expect(store.put('a/b.json', '{}')).rejects.toThrow(/'a\/b.json'.*clashes/);
      expect(await filesUnder(root)).toEqual(['a']);
    });
  });

  describe('list()', () => {
    it('skips temp files left by a crashed writer', async () => {
      await store.put('s/plan.json', '{}');
      await writeFile(path.join(root, 's/plan.json.foldsweep-tmp-deadbeef0000'), 'partial');

      expect(await store.list('s/')).toEqual(['s/plan.json']);
    });

    it('skips empty folders', async () => {
      await mkdir(path.join(root, 'empty/deeper'), { recursive: true });
      await store.put('full/x.json', '{}');

      expect(await store.list('')).toEqual(['full/x.json']);
    });
  });

  describe('delete()', () => {
    it('removes folders left empty, but not the root', async () => {
      await store.put('x/y/z.json', '{}');
      await store.put('keep.json', '{}');

      await store.delete('x/y/z.json');

      await expect(stat(path.join(root, 'x'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect((await stat(root)).isDirectory()).toBe(true);
    });

    it('lets a key take the name of a folder emptied by a delete', async () => {
      await store.put('x/y.json', '{}');
      await store.delete('x/y.json');

      await store.put('x', 'now a key');

      expect(new TextDecoder().decode(await store.get('x'))).toBe('now a key');
    });

    it('does nothing for a key that names a folder of other keys', async () => {
      await store.put('x/y.json', '{}');

      await store.delete('x');

      expect(await store.list('')).toEqual(['x/y.json']);
    });

    it('keeps folders that still hold other keys', async () => {
      await store.put('x/a.json', '1');
      await store.put('x/b.json', '2');

      await store.delete('x/a.json');

      expect(await store.list('x/')).toEqual(['x/b.json']);
    });
  });
});
