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
