import { describe, expect, it } from 'vitest';
import { loadPreparedDataset } from '../../../../shared/data/load.js';
import { LocalDatasetPreparer } from '../../../../shared/data/prepare.js';
import { MemoryObjectStore } from '../../../helpers/memory-object-store.js';

const TRAIN = '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz';
const NAMES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

// Needs Debian's dataset-fashion-mnist (`apt-get install dataset-fashion-mnist`, done by .ci/run):
// where it is absent this fails loudly rather than skipping.
describe('real Fashion-MNIST (dataset-fashion-mnist)', () => {
  it('prepares classes 5-9 with 20 samples each', async () => {
    const objects = new MemoryObjectStore();
    const preparer = new LocalDatasetPreparer(objects);
    const ref = {
      uri: TRAIN,
      format: 'idx' as const,
      classNames: NAMES,
      subset: { classes: [5, 6, 7, 8, 9], perClass: 20, seed: 1 },
    };
    const m = await preparer.prepare(ref, [28, 28, 1], 'dataset');
    expect(m.count).toBe(100);
    expect(m.shape).toEqual([28, 28, 1]);
    expect(m.countsPerClass).toEqual([20, 20, 20, 20, 20]);
    expect(m.classes).toEqual(NAMES.slice(5));
    const { pixels, labels } = await loadPreparedDataset(objects, m, { verifyHash: true });
    expect(pixels).toHaveLength(100 * 28 * 28);
    expect(Math.max(...labels)).toBe(4);
    // Deterministic: a fresh store gives the same content hash.
    const again = await new LocalDatasetPreparer(new MemoryObjectStore()).prepare(
      ref,
      [28, 28, 1],
      'dataset',
    );
    expect(again.hash).toBe(m.hash);
  });
});
