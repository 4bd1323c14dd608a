import { describe, expect, it } from 'vitest';
import { contentHash, loadPreparedDataset } from '../../../../shared/data/load.js';
import { InvalidArtifactError } from '../../../../shared/errors.js';
import type { PreparedDataset } from '../../../../shared/schemas/dataset.js';
import { MemoryObjectStore } from '../../../helpers/memory-object-store.js';

async function stored(pixels: Uint8Array, labels: Uint8Array) {
  const objects = new MemoryObjectStore();
  const hash = contentHash(
    [2, 2, 1],
    ['a', 'b'],
    Uint8Array.from({ length: 12 }, (_, i) => i),
    Uint8Array.of(0, 1, 1),
  );
  const manifest: PreparedDataset = {
    hash,
    source: { uri: '/x', format: 'idx' },
    classes: ['a', 'b'],
    shape: [2, 2, 1],
    count: 3,
    countsPerClass: [1, 2],
    dataKey: `datasets/${hash}/pixels.u8`,
    labelsKey: `datasets/${hash}/labels.u8`,
    manifestKey: `datasets/${hash}/manifest.json`,
    preparedAt: '2025-01-01T00:00:00.000Z',
  };
  await objects.put(manifest.dataKey, pixels);
  await objects.put(manifest.labelsKey, labels);
  return { objects, manifest };
}

const goodPixels = Uint8Array.from({ length: 12 }, (_, i) => i);

describe('loadPreparedDataset', () => {
  it('returns pixels and labels that match the manifest', async () => {
    const { objects, manifest } = await stored(goodPixels, Uint8Array.of(0, 1, 1));
    const out = await loadPreparedDataset(objects, manifest, { verifyHash: true });
    expect(out.pixels).toEqual(goodPixels);
    expect(Array.from(out.labels)).toEqual([0, 1, 1]);
    expect(out.manifest).toBe(manifest);
  });

  it('rejects truncated pixels', async () => {
    const { objects, manifest } = await stored(goodPixels.subarray(0, 10), Uint8Array.of(0, 1, 1));
    await expect(loadPreparedDataset(objects, manifest)).rejects.toThrow(
      /has 10 bytes, expected 12 \(3 images x 2x2x1\): it is truncated; delete/,
    );
  });

  it('rejects wrong label count, out-of-range labels and wrong class counts', async () => {
    for (const [labels, re] of [
      [Uint8Array.of(0, 1), /has 2 labels, expected 3/],
      [Uint8Array.of(0, 1, 5), /label 5 at index 2 is out of range/],
      [Uint8Array.of(0, 0, 1), /counts per class are \[2, 1\]/],
    ] as const) {
      const { objects, manifest } = await stored(goodPixels, labels);
      const err = await loadPreparedDataset(objects, manifest).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArtifactError);
      expect((err as Error).message).toMatch(re);
    }
  });

  it('detects flipped bytes when asked to verify the hash', async () => {
    const bad = goodPixels.slice();
    bad[3] ^= 0xff;
    const { objects, manifest } = await stored(bad, Uint8Array.of(0, 1, 1));
    await expect(loadPreparedDataset(objects, manifest)).resolves.toBeDefined();
    await expect(loadPreparedDataset(objects, manifest, { verifyHash: true })).rejects.toThrow(
      /content hash is/,
    );
  });
});
