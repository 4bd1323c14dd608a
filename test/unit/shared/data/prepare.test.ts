import { cp, readFile, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gzipBytes } from '../../../../shared/data/idx.js';
import { loadPreparedDataset } from '../../../../shared/data/load.js';
import { LocalDatasetPreparer, sourcePointerKey } from '../../../../shared/data/prepare.js';
import { ValidationError } from '../../../../shared/errors.js';
import type { ObjectStore } from '../../../../shared/ports/object-store.js';
import { type DatasetRef, PreparedDatasetSchema } from '../../../../shared/schemas/dataset.js';
import {
  makeTempDir,
  recordingLogger,
  solidPixels,
  type TempDir,
  writeIdxPair,
  writeImageFolder,
} from '../../../helpers/images.js';
import { MemoryObjectStore } from '../../../helpers/memory-object-store.js';

let tmp: TempDir;
beforeEach(async () => {
  tmp = await makeTempDir();
});
afterEach(async () => {
  await tmp.cleanup();
});

const LABELS = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2];

async function idxRef(extra: Partial<DatasetRef> = {}): Promise<DatasetRef> {
  const fx = await writeIdxPair(tmp.path, { labels: LABELS, rows: 6, cols: 6, gzip: true });
  return { uri: fx.imagesFile, format: 'idx', ...extra };
}

describe('LocalDatasetPreparer', () => {
  it('stores pixels, labels, manifest and pointer, in that order', async () => {
    const objects = new MemoryObjectStore();
    const preparer = new LocalDatasetPreparer(objects);
    const ref = await idxRef({ classNames: ['x', 'y', 'z'] });
    const out = await preparer.prepareDetailed(ref, [6, 6, 1], 'dataset');
    const m = out.manifest;
    expect(out).toMatchObject({ reused: false, decoded: true });
    expect(PreparedDatasetSchema.parse(m)).toEqual(m);
    expect(m).toMatchObject({
      classes: ['x', 'y', 'z'],
      shape: [6, 6, 1],
      count: 12,
      countsPerClass: [4, 4, 4],
      dataKey: `datasets/${m.hash}/pixels.u8`,
      labelsKey: `datasets/${m.hash}/labels.u8`,
      manifestKey: `datasets/${m.hash}/manifest.json`,
      source: ref,
    });
    expect(objects.writes).toEqual([
      m.dataKey,
      m.labelsKey,
      m.manifestKey,
      sourcePointerKey(out.fingerprint),
    ]);
    const loaded = await loadPreparedDataset(objects, m, { verifyHash: true });
    expect(Array.from(loaded.labels)).toEqual(LABELS);
    expect(loaded.pixels).toHaveLength(12 * 36);
  });

  it('reuses a prepared dataset for the same source without decoding it', async () => {
    const objects = new MemoryObjectStore();
    const { logger, records } = recordingLogger();
    const preparer = new LocalDatasetPreparer(objects, logger);
    const ref = await idxRef();
    const first = await preparer.prepare(ref, [6, 6, 1], 'dataset');
    const writes = objects.writes.length;
    const second = await preparer.prepareDetailed(ref, [6, 6, 1], 'dataset');
    expect(second).toMatchObject({ reused: 'source', decoded: false, decodeMs: 0 });
    expect(preparer.lastPrepare).toBe(second);
    expect(second.manifest).toEqual(first);
    expect(objects.writes).toHaveLength(writes);
    expect(records.map((r) => [r.level, r.obj.reused])).toEqual([
      ['info', false],
      ['info', 'source'],
    ]);
    expect(records[0].obj.decodeMs).toEqual(expect.any(Number));
  });

  it('decodes again when a source file changes, but reuses identical content', async () => {
    const objects = new MemoryObjectStore();
    const preparer = new LocalDatasetPreparer(objects);
    const ref = await idxRef();
    const first = await preparer.prepareDetailed(ref, [6, 6, 1], 'dataset');
    const later = new Date(Date.now() + 60_000);
    await utimes(ref.uri, later, later);
    const writes = objects.writes.length;
    const second = await preparer.prepareDetailed(ref, [6, 6, 1], 'dataset');
    expect(second).toMatchObject({ reused: 'content', decoded: true });
    expect(second.fingerprint).not.toBe(first.fingerprint);
    expect(second.manifest).toEqual(first.manifest);
    expect(objects.writes.slice(writes)).toEqual([sourcePointerKey(second.fingerprint)]);
  });

  it('gives the same content hash for the same content from different sources', async () => {
    const ref = await idxRef({ subset: { classes: [2, 0], perClass: 3, seed: 5 } });
    // Same bytes, uncompressed, in another folder.
    const other = join(tmp.path, 'copy');
    const fx = await writeIdxPair(other, {
      labels: LABELS,
      rows: 6,
      cols: 6,
      pixels: (await writeIdxPair(join(tmp.path, 'tmp'), { labels: LABELS, rows: 6, cols: 6 }))
        .pixels,
    });
    const a = await new LocalDatasetPreparer(new MemoryObjectStore()).prepare(ref, [6, 6, 1], 'd');
    const b = await new LocalDatasetPreparer(new MemoryObjectStore()).prepare(
      { ...ref, uri: fx.imagesFile },
      [6, 6, 1],
      'd',
    );
    expect(b.hash).toBe(a.hash);
    expect(a.countsPerClass).toEqual([3, 3]);
    const c = await new LocalDatasetPreparer(new MemoryObjectStore()).prepare(
      { ...ref, subset: { classes: [2, 0], perClass: 3, seed: 6 } },
      [6, 6, 1],
      'd',
    );
    expect(c.hash).not.toBe(a.hash);
  });

  it('resizes IDX images and expands them to RGB', async () => {
    const ref = await idxRef();
    const objects = new MemoryObjectStore();
    const m = await new LocalDatasetPreparer(objects).prepare(ref, [3, 4, 3], 'dataset');
    expect(m.shape).toEqual([3, 4, 3]);
    const { pixels } = await loadPreparedDataset(objects, m);
    expect(pixels).toHaveLength(12 * 3 * 4 * 3);
    for (let p = 0; p < pixels.length; p += 3) {
      expect(pixels[p + 1]).toBe(pixels[p]);
      expect(pixels[p + 2]).toBe(pixels[p]);
    }
  });

  it('accepts file:// URIs and paths relative to the working directory', async () => {
    const ref = await idxRef();
    const viaUrl = await new LocalDatasetPreparer(new MemoryObjectStore()).prepare(
      { ...ref, uri: pathToFileURL(ref.uri).href },
      [6, 6, 1],
      'dataset',
    );
    const viaRelative = await new LocalDatasetPreparer(new MemoryObjectStore()).prepare(
      { ...ref, uri: relative(process.cwd(), ref.uri) },
      [6, 6, 1],
      'dataset',
    );
    expect(viaRelative.hash).toBe(viaUrl.hash);
  });

  it('rejects other URI schemes and wrong classNames with field paths', async () => {
    const preparer = new LocalDatasetPreparer(new MemoryObjectStore());
    await expect(
      preparer.prepare({ uri: 's3://b/k', format: 'idx' }, [6, 6, 1], 'spec.dataset'),
    ).rejects.toSatisfy(
      (e) => e instanceof ValidationError && e.issues[0].path === 'spec.dataset.uri',
    );
    const ref = await idxRef({ classNames: ['a', 'b'] });
    await expect(preparer.prepare(ref, [6, 6, 1], 'spec.dataset')).rejects.toSatisfy(
      (e) =>
        e instanceof ValidationError &&
        e.issues[0].path === 'spec.dataset.classNames' &&
        /give exactly 3 names/.test(e.message),
    );
    await expect(
      preparer.prepare(
        { ...ref, classNames: undefined, subset: { classes: [0, 9], seed: 0 } },
        [6, 6, 1],
        'spec.dataset',
      ),
    ).rejects.toSatisfy(
      (e) => e instanceof ValidationError && e.issues[0].path === 'spec.dataset.subset.classes',
    );
  });

  it('prepares an image folder with a subset, decoding only the selected files', async () => {
    const img = (v: number) =>
      ({ width: 4, height: 4, channels: 1, pixels: solidPixels(4, 4, v) }) as const;
    await writeImageFolder(tmp.path, {
      ant: { '1.png': img(10), '2.png': img(11), '3.png': img(12) },
      bee: { '1.png': img(20), '2.jpg': img(21) },
      cow: { '1.png': img(30), '2.png': img(31), '3.png': img(32) },
    });
    // A corrupt file in an unselected class is never decoded.
    await writeFile(join(tmp.path, 'bee', 'broken.png'), 'garbage');
    const objects = new MemoryObjectStore();
    const preparer = new LocalDatasetPreparer(objects);
    const ref: DatasetRef = {
      uri: tmp.path,
      format: 'image-folder',
      subset: { classes: [2, 0], perClass: 2, seed: 1 },
    };
    const m = await preparer.prepare(ref, [2, 2, 1], 'dataset');
    expect(m.classes).toEqual(['cow', 'ant']);
    expect(m.countsPerClass).toEqual([2, 2]);
    const { pixels, labels } = await loadPreparedDataset(objects, m);
    for (let i = 0; i < m.count; i++) {
      const v = pixels[i * 4];
      expect(labels[i] === 0 ? v >= 30 : v < 20).toBe(true);
    }
    expect((await preparer.prepareDetailed(ref, [2, 2, 1], 'dataset')).reused).toBe('source');
    // Adding a file changes the fingerprint.
    await writeFile(join(tmp.path, 'ant', '4.png'), await readFile(join(tmp.path, 'ant', '1.png')));
    expect((await preparer.prepareDetailed(ref, [2, 2, 1], 'dataset')).decoded).toBe(true);
  });

  it('leaves no pointer behind when a write fails, and recovers on the next call', async () => {
    const objects = new MemoryObjectStore();
    const failing: ObjectStore = {
      ...objects,
      get: (k) => objects.get(k),
      exists: (k) => objects.exists(k),
      list: (p) => objects.list(p),
      delete: (k) => objects.delete(k),
      put: async (k, body) => {
        if (k.endsWith('manifest.json')) throw new Error('disk full');
        await objects.put(k, body);
      },
    };
    const ref = await idxRef();
    await expect(new LocalDatasetPreparer(failing).prepare(ref, [6, 6, 1], 'd')).rejects.toThrow(
      'disk full',
    );
    expect(await objects.list('datasets/by-source/')).toEqual([]);
    const out = await new LocalDatasetPreparer(objects).prepareDetailed(ref, [6, 6, 1], 'd');
    expect(out.reused).toBe(false);
    expect(await objects.exists(out.manifest.manifestKey)).toBe(true);
  });

  it('decodes again when the pointed-at manifest is gone', async () => {
    const objects = new MemoryObjectStore();
    const preparer = new LocalDatasetPreparer(objects);
    const ref = await idxRef();
    const m = await preparer.prepare(ref, [6, 6, 1], 'd');
    await objects.delete(m.manifestKey);
    const out = await preparer.prepareDetailed(ref, [6, 6, 1], 'd');
    expect(out.reused).toBe(false);
    expect(out.manifest.hash).toBe(m.hash);
  });

  it('reads raw (non-gzip) IDX written next to a gzip one', async () => {
    const fx = await writeIdxPair(tmp.path, { labels: LABELS, rows: 6, cols: 6, prefix: 'raw' });
    await writeFile(`${fx.imagesFile}.gz`, await gzipBytes(await readFile(fx.imagesFile)));
    await cp(fx.labelsFile, `${fx.labelsFile}.gz`);
    const preparer = new LocalDatasetPreparer(new MemoryObjectStore());
    const raw = await preparer.prepare({ uri: fx.imagesFile, format: 'idx' }, [6, 6, 1], 'd');
    const gz = await preparer.prepare(
      { uri: `${fx.imagesFile}.gz`, format: 'idx' },
      [6, 6, 1],
      'd',
    );
    expect(gz.hash).toBe(raw.hash);
  });
});
