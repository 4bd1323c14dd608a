import { ValidationError } from '../errors.js';

/**
 * Blob storage by key (`a/b/c.json`, forward slashes, no `..`).
 * Local: a folder under FOLDSWEEP_HOME; AWS: an S3 bucket.
 * Contract: `put` replaces atomically (a reader sees the old or the new body, never a mix);
 * `get` of a missing key throws ObjectNotFoundError; `list` returns keys under a prefix, sorted.
 * @example
 * await objects.put('sweeps/01J/plan.json', JSON.stringify(plan));
 * const plan = JSON.parse(new TextDecoder().decode(await objects.get('sweeps/01J/plan.json')));
 */
export interface ObjectStore {
  put(key: string, body: Uint8Array | string): Promise<void>;
  get(key: string): Promise<Uint8Array>;
  exists(key: string): Promise<boolean>;
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}

export async function getText(objects: ObjectStore, key: string): Promise<string> {
  return new TextDecoder().decode(await objects.get(key));
}

export async function getJson(objects: ObjectStore, key: string): Promise<unknown> {
  return JSON.parse(await getText(objects, key));
}

/** Copies every object under `fromPrefix` to the same relative key under `toPrefix`. */
export async function copyPrefix(
  objects: ObjectStore,
  fromPrefix: string,
  toPrefix: string,
): Promise<string[]> {
  const keys = await objects.list(`${fromPrefix}/`);
  for (const key of keys) {
    await objects.put(`${toPrefix}/${key.slice(fromPrefix.length + 1)}`, await objects.get(key));
  }
  return keys;
}

/** Marks the local store's temporary files; no key may contain it, so keys stay portable. */
export const OBJECT_KEY_TEMP_MARKER = '.foldsweep-tmp-';

/**
 * Throws a ValidationError on `field` unless `key` is relative, uses `/` and has no empty, `.`
 * or `..` segment: the key rules every ObjectStore adapter enforces.
 */
export function assertValidKey(key: string, field: string): void {
  const fail = (why: string) => ValidationError.single(field, `'${key}' ${why}`);
  if (typeof key !== 'string' || key === '') throw fail('must be a non-empty string');
  if (key.includes('\\')) throw fail('must use forward slashes, not backslashes');
  if (key.includes('\0')) throw fail('must not contain NUL characters');
  if (key.startsWith('/')) throw fail('must be relative (no leading "/")');
  for (const segment of key.split('/')) {
    if (segment === '') throw fail('must not have empty segments ("//" or a trailing "/")');
    if (segment === '.' || segment === '..') throw fail('must not have "." or ".." segments');
    if (segment.includes(OBJECT_KEY_TEMP_MARKER)) {
      throw fail(`must not contain "${OBJECT_KEY_TEMP_MARKER}"`);
    }
  }
}
