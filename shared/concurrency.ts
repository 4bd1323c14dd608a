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
