import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { FoldsweepError, ObjectNotFoundError, ValidationError } from '../../errors.js';
import {
  assertValidKey,
  OBJECT_KEY_TEMP_MARKER,
  type ObjectStore,
} from '../../ports/object-store.js';
import { storageProblem } from './home.js';

/** Marks in-flight temp files; `list` skips them and keys may not contain it. */
const TEMP_MARKER = OBJECT_KEY_TEMP_MARKER;

/**
 * ObjectStore over a folder: key `a/b/c.json` is the file `<root>/a/b/c.json`.
 * `put` writes a temp file in the target folder, fsyncs it and renames it over the key, so a
 * reader sees the old or the new body. A key cannot also be a folder of other keys (S3 allows
 * `a` and `a/b` together; a file system does not): such a `put` throws a FoldsweepError, and so
 * does a put on a full disk, a read-only file system or a folder it may not write
 * (HomeUnusableError, naming the folder and what to do).
 * @example
 * const objects = new FsObjectStore(path.join(home, 'objects'));
 * await objects.put('sweeps/01J/plan.json', JSON.stringify(plan));
 */
export class FsObjectStore implements ObjectStore {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  async put(key: string, body: Uint8Array | string): Promise<void> {
    const file = this.fileOf(key);
    const dir = path.dirname(file);
    const temp = path.join(
      dir,
      `${path.basename(file)}${TEMP_MARKER}${randomBytes(6).toString('hex')}`,
    );
    // A concurrent delete may prune the freshly made folder; make it again and retry.
    for (let attempt = 1; ; attempt++) {
      try {
        await mkdir(dir, { recursive: true });
        await writeSynced(temp, body);
        await rename(temp, file);
        return;
      } catch (error) {
        await rm(temp, { force: true }).catch(() => undefined);
        if (errorCode(error) === 'ENOENT' && attempt < 3) continue;
        if (['EISDIR', 'ENOTDIR', 'EEXIST', 'ENOTEMPTY'].includes(errorCode(error) ?? '')) {
          throw new FoldsweepError(
            `cannot put object '${key}': it clashes with a folder or file of another key under ${this.root} (the local store cannot hold both 'a' and 'a/b')`,
            { cause: error },
          );
        }
        // A full disk, a read-only file system, no permission: one line naming the folder.
        throw (
          storageProblem(error, this.root, `writing ${key}`, {
            label: 'object store',
            only: ['full', 'read-only', 'not-writable'],
          }) ?? error
        );
      }
    }
  }

  async get(key: string): Promise<Uint8Array> {
    const file = this.fileOf(key);
    try {
      const buffer = await readFile(file);
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    } catch (error) {
      if (isMissing(error)) throw new ObjectNotFoundError(key);
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    const file = this.fileOf(key);
    try {
      return (await stat(file)).isFile();
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    if (typeof prefix !== 'string' || prefix.includes('\\')) {
      throw ValidationError.single('prefix', `'${prefix}' must use forward slashes`);
    }
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash === -1 ? '' : prefix.slice(0, slash);
    if (dirKey !== '') assertValidKey(dirKey, 'prefix');
    const keys: string[] = [];
    await this.walk(dirKey, keys);
    return keys.filter((key) => key.startsWith(prefix)).sort();
  }

  async delete(key: string): Promise<void> {
    const file = this.fileOf(key);
    try {
      await unlink(file);
    } catch (error) {
      if (isMissing(error)) return;
      // macOS reports unlink() of a folder as EPERM: a folder is not an object, so nothing to do.
      if (
        errorCode(error) === 'EPERM' &&
        (await stat(file).catch(() => undefined))?.isDirectory()
      ) {
        return;
      }
      throw error;
    }
    await this.pruneEmptyFolders(path.dirname(file));
  }

  private fileOf(key: string): string {
    assertValidKey(key, 'key');
    return path.join(this.root, ...key.split('/'));
  }

  /** Appends every key below the folder `dirKey` ('' for the root), temp files excluded. */
  private async walk(dirKey: string, into: string[]): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await readdir(path.join(this.root, ...dirKey.split('/')), { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    for (const entry of entries) {
      const key = dirKey === '' ? entry.name : `${dirKey}/${entry.name}`;
      if (entry.isDirectory()) await this.walk(key, into);
      else if (entry.isFile() && !entry.name.includes(TEMP_MARKER)) into.push(key);
    }
  }

  /** Removes folders left empty by a delete, up to (not including) the root. */
  private async pruneEmptyFolders(dir: string): Promise<void> {
    let current = dir;
    while (current !== this.root && current.startsWith(this.root + path.sep)) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty, already gone or busy: leave it
      }
      current = path.dirname(current);
    }
  }
}

async function writeSynced(file: string, body: Uint8Array | string): Promise<void> {
  const handle = await open(file, 'wx');
  try {
    await handle.writeFile(body);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String((error as { code: unknown }).code)
    : undefined;
}

/** The key or one of its folders does not exist, or the key names a folder: no such object. */
function isMissing(error: unknown): boolean {
  return ['ENOENT', 'ENOTDIR', 'EISDIR'].includes(errorCode(error) ?? '');
}
