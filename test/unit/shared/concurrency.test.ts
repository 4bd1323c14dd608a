import { describe, expect, it } from 'vitest';
import { allInOrder } from '../../../shared/concurrency.js';

const later = <T>(ms: number, value: T, fail = false) =>
  new Promise<T>((resolve, reject) =>
    setTimeout(() => (fail ? reject(new Error(String(value))) : resolve(value)), ms),
  );

describe('allInOrder()', () => {
  it('returns the values in argument order', async () => {
    await expect(allInOrder([later(20, 'a'), later(1, 2)])).resolves.toEqual(['a', 2]);
  });

  it('throws the first failure in argument order, not the first in time', async () => {
    // The second promise fails 40 ms sooner; the first one's error is still the one reported.
    await expect(
      allInOrder([later(50, 'images', true), later(10, 'labels', true)]),
    ).rejects.toThrow('images');
    await expect(allInOrder([later(5, 'ok'), later(10, 'labels', true)])).rejects.toThrow('labels');
  });
});
