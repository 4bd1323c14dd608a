import { ObjectNotFoundError, ValidationError } from '../../shared/errors.js';
import type { ObjectStore } from '../../shared/ports/object-store.js';

/**
 * In-memory ObjectStore for tests, faithful to the port contract: `put` stores a copy (replacing
 * atomically), `get` of a missing key throws ObjectNotFoundError and returns a copy, `list` returns
 * the keys under a prefix sorted, keys are checked like the file-system store checks them.
 * `writes` records every put key in order, so tests can assert what was written and when.
 */
export class MemoryObjectStore implements ObjectStore {
  readonly objects = new Map<string, Uint8Array>();
  readonly writes: string[] = [];

  async put(key: string, body: Uint8Array | string): Promise<void> {
    checkKey(key);
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body.slice();
    this.objects.set(key, bytes);
    this.writes.push(key);
  }

  async get(key: string): Promise<Uint8Array> {
    checkKey(key);
    const body = this.objects.get(key);
    if (!body) throw new ObjectNotFoundError(key);
    return body.slice();
  }

  async exists(key: string): Promise<boolean> {
    checkKey(key);
    return this.objects.has(key);
  }

  async list(prefix: string): Promise<string[]> {
    if (prefix.includes('\\')) {
      throw ValidationError.single('prefix', `'${prefix}' must use forward slashes`);
    }
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    this.objects.delete(key);
  }
}

function checkKey(key: string): void {
  const fail = (why: string) => ValidationError.single('key', `'${key}' ${why}`);
  if (typeof key !== 'string' || key === '') throw fail('must be a non-empty string');
  if (key.includes('\\')) throw fail('must use forward slashes, not backslashes');
  if (key.includes('\0')) throw fail('must not contain NUL characters');
  if (key.startsWith('/')) throw fail('must be relative (no leading "/")');
  for (const segment of key.split('/')) {
    if (segment === '') throw fail('must not have empty segments ("//" or a trailing "/")');
    if (segment === '.' || segment === '..') throw fail('must not have "." or ".." segments');
  }
}
