/**
 * Runs `task(0..count-1)` with at most `limit` running at once. After a failure it starts no more
 * tasks, waits for the running ones to settle (so nothing races a cleanup), then throws the first
 * error.
 */
export async function forEachBounded(
  count: number,
  limit: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (errors.length === 0 && next < count) {
      const index = next++;
      await task(index).catch((error: unknown) => {
        errors.push(error);
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, count)) }, worker));
  if (errors.length > 0) throw errors[0];
}

/** `items.map(fn)` with at most `limit` calls in flight; results keep the input order. */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  await forEachBounded(items.length, limit, async (i) => {
    out[i] = await fn(items[i], i);
  });
  return out;
}

/**
 * `Promise.all` whose failure does not depend on timing: it waits for every promise to settle and
 * throws the rejection of the first one in argument order, so the same bad input always gets the
 * same message (the images file's problem before the labels file's).
 */
export async function allInOrder<T extends readonly unknown[]>(
  promises: readonly [...{ [K in keyof T]: Promise<T[K]> }],
): Promise<T> {
  const settled = await Promise.allSettled(promises);
  for (const result of settled) if (result.status === 'rejected') throw result.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
