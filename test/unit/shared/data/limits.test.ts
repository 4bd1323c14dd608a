/**
 * Data-side limits: a gzip bomb as an IDX file (bounded memory, measured in a child process), an
 * image whose PNG header declares too many pixels (rejected before decoding), too many image
 * files, a dataset over the size limit, and the environment variables that raise each limit.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { crc32, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeIdxImages, encodeIdxLabels, readIdxDataset } from '../../../../shared/data/idx.js';
import { listImageFolder } from '../../../../shared/data/image-folder.js';
import { DEFAULT_DATA_LIMITS, dataLimitsFromEnv } from '../../../../shared/data/limits.js';
import { LocalDatasetPreparer } from '../../../../shared/data/prepare.js';
import { InvalidArtifactError, ValidationError } from '../../../../shared/errors.js';
import {
  makeTempDir,
  solidPixels,
  type TempDir,
  writeIdxPair,
  writeImageFolder,
} from '../../../helpers/images.js';
import { MemoryObjectStore } from '../../../helpers/memory-object-store.js';

const run = promisify(execFile);

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir('foldsweep-limits-');
});
afterAll(() => tmp.cleanup());

async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: Error) => e,
  );
}

/**
 * A gzip file of about 1 MB that inflates to `16 + 1 GiB` bytes: the IDX header `head`, then
 * zeros. Built from concatenated gzip members (gunzip reads them as one stream), each 1 MiB of
 * zeros compressed to about 1 KB.
 */
function gzipBomb(head: Uint8Array): Buffer {
  const zeros = gzipSync(new Uint8Array(1024 * 1024), { level: 9 });
  const members = [gzipSync(head)];
  for (let i = 0; i < 1024; i++) members.push(zeros);
  return Buffer.concat(members);
}

function idxHeader(count: number, rows: number, cols: number): Uint8Array {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x803, false);
  view.setUint32(4, count, false);
  view.setUint32(8, rows, false);
  view.setUint32(12, cols, false);
  return out;
}

/** Reads `file` as an IDX dataset in a fresh Node process; its error and peak RSS. */
async function readInChild(imagesFile: string, labelsFile: string) {
  const script = join(tmp.path, 'read-idx.mjs');
  const idxModule = new URL('../../../../shared/data/idx.ts', import.meta.url).href;
  await writeFile(
    script,
    `const { readIdxDataset } = await import(${JSON.stringify(idxModule)});
const before = process.memoryUsage().rss;
let error = null;
try {
  await readIdxDataset(${JSON.stringify(imagesFile)}, ${JSON.stringify(labelsFile)}, 'dataset');
} catch (e) {
  error = { name: e.name, message: e.message };
}
process.stdout.write(JSON.stringify({ error, rssBefore: before, maxRss: process.resourceUsage().maxRSS * 1024 }));
`,
  );
  // --import tsx resolves from cwd (this project), so the script may live in a temp folder.
  const { stdout } = await run(process.execPath, ['--import', 'tsx', script], {
    cwd: new URL('../../../../', import.meta.url).pathname,
    timeout: 60_000,
  });
  return JSON.parse(stdout) as {
    error: { name: string; message: string } | null;
    rssBefore: number;
    maxRss: number;
  };
}

describe('IDX gzip bombs', () => {
  it('stops inflating at the size the header promises: a 1 MB bomb costs its header, not 1 GiB', async () => {
    // Prepare: an honest-looking header (100 images of 28x28 = 78,400 bytes) on 1 GiB of zeros.
    const imagesFile = join(tmp.path, 'bomb-images-idx3-ubyte.gz');
    const labelsFile = join(tmp.path, 'bomb-labels-idx1-ubyte');
    const bomb = gzipBomb(idxHeader(100, 28, 28));
    expect(bomb.length).toBeLessThan(1.2 * 1024 * 1024);
    await writeFile(imagesFile, bomb);
    await writeFile(labelsFile, encodeIdxLabels(new Uint8Array(100)));

    // Act
    const out = await readInChild(imagesFile, labelsFile);

    // Assess
    expect(out.error?.name).toBe('InvalidArtifactError');
    expect(out.error?.message).toContain(imagesFile);
    expect(out.error?.message).toMatch(
      /decompresses to more than the 78416 bytes its header declares \(inflating stopped there\)/,
    );
    // Peak RSS of the whole child (Node + tsx + the read): far below the 1 GiB it inflates to.
    expect(out.maxRss).toBeLessThan(200 * 1024 * 1024);
    expect(out.maxRss - out.rssBefore).toBeLessThan(50 * 1024 * 1024);
    process.stdout.write(
      `gzip bomb ${bomb.length} bytes -> 1 GiB: child RSS before ${(out.rssBefore / 2 ** 20).toFixed(1)} MiB, peak ${(out.maxRss / 2 ** 20).toFixed(1)} MiB\n`,
    );
  }, 60_000);

  it('rejects a header that declares more than maxDatasetBytes before inflating its data', async () => {
    // Prepare: 4,000,000 images of 28x28 = 3.1 GB declared.
    const imagesFile = join(tmp.path, 'huge-images-idx3-ubyte.gz');
    await writeFile(imagesFile, gzipBomb(idxHeader(4_000_000, 28, 28)));
    await writeFile(join(tmp.path, 'huge-labels-idx1-ubyte'), encodeIdxLabels(new Uint8Array(4)));

    // Act
    const err = await rejection(readIdxDataset(imagesFile, undefined, 'dataset'));

    // Assess
    expect(err).toBeInstanceOf(InvalidArtifactError);
    expect(err.message).toMatch(
      /declares 2\.9 GiB of images \(4000000 images of 28x28\), more than the limit of 1\.0 GiB \(maxDatasetBytes\)/,
    );
    expect(err.message).toMatch(/set FOLDSWEEP_MAX_DATASET_BYTES to at least 3136000000/);
  });

  it('rejects a bomb whose header is not IDX after reading 16 bytes', async () => {
    const imagesFile = join(tmp.path, 'zeros-images-idx3-ubyte.gz');
    await writeFile(imagesFile, gzipBomb(new Uint8Array(16)));
    await writeFile(join(tmp.path, 'zeros-labels-idx1-ubyte'), encodeIdxLabels(new Uint8Array(4)));
    const err = await rejection(readIdxDataset(imagesFile, undefined, 'dataset'));
    expect(err).toBeInstanceOf(InvalidArtifactError);
    expect(err.message).toMatch(/is magic 0x00000000, expected an IDX images file/);
  });

  it('a raw IDX file longer than its header declares is rejected without reading it', async () => {
    const fx = await writeIdxPair(tmp.path, { labels: [0, 1], rows: 2, cols: 2, prefix: 'long' });
    await writeFile(
      fx.imagesFile,
      Buffer.concat([
        encodeIdxImages({ count: 2, rows: 2, cols: 2, pixels: fx.pixels }),
        Buffer.alloc(9),
      ]),
    );
    const err = await rejection(readIdxDataset(fx.imagesFile, undefined, 'dataset'));
    expect(err.message).toMatch(
      /declares 24 bytes with the header but has 33 bytes: the file is longer/,
    );
  });
});

/** A PNG of a few bytes whose IHDR declares width x height (nothing else is valid to decode). */
function pngHeaderOnly(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', gzipSync(Buffer.alloc(1))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('image-folder limits', () => {
  it('rejects an oversized PNG header before decoding, naming the file and the limit', async () => {
    // Prepare: a 50000x50000 PNG header (2.5 gigapixels, 7.5 GB decoded) in a 100-byte file.
    const root = join(tmp.path, 'huge-png');
    const red = {
      width: 4,
      height: 4,
      channels: 3 as const,
      pixels: solidPixels(4, 4, [255, 0, 0]),
    };
    await writeImageFolder(root, { a: { 'ok.png': red }, b: { 'ok.png': red } });
    const huge = join(root, 'b', 'huge.png');
    await writeFile(huge, pngHeaderOnly(50_000, 50_000));
    const preparer = new LocalDatasetPreparer(new MemoryObjectStore());

    // Act
    const started = performance.now();
    const err = await rejection(
      preparer.prepare({ uri: root, format: 'image-folder' }, [4, 4, 3], 'dataset'),
    );

    // Assess
    expect(err).toBeInstanceOf(InvalidArtifactError);
    expect((err as InvalidArtifactError).file).toBe(huge);
    expect(err.message).toMatch(
      /is 50000x50000 \(2500000000 pixels, from its header; not decoded\), more than the limit of 25000000 pixels per image \(maxImagePixels\)/,
    );
    expect(err.message).toMatch(/set FOLDSWEEP_MAX_IMAGE_PIXELS to at least 2500000000/);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('a lower maxImagePixels rejects ordinary images, and raising it lets them through', async () => {
    const root = join(tmp.path, 'small-limit');
    const img = { width: 8, height: 8, channels: 3 as const, pixels: solidPixels(8, 8, [9, 9, 9]) };
    await writeImageFolder(root, { a: { '1.png': img }, b: { '1.png': img } });
    const ref = { uri: root, format: 'image-folder' as const };
    const strict = new LocalDatasetPreparer(new MemoryObjectStore(), undefined, {
      limits: { maxImagePixels: 63 },
    });
    await expect(strict.prepare(ref, [4, 4, 1], 'dataset')).rejects.toThrow(
      /is 8x8 \(64 pixels, from its header; not decoded\), more than the limit of 63/,
    );
    const raised = new LocalDatasetPreparer(new MemoryObjectStore(), undefined, {
      limits: { maxImagePixels: 64 },
    });
    expect((await raised.prepare(ref, [4, 4, 1], 'dataset')).count).toBe(2);
  });

  it('rejects too many image files from the listing, before any is opened', async () => {
    const root = join(tmp.path, 'many');
    const img = { width: 2, height: 2, channels: 1 as const, pixels: solidPixels(2, 2, 7) };
    const files = Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`${i}.png`, img]));
    await writeImageFolder(root, { a: files, b: files });
    const err = await rejection(listImageFolder(root, 'dataset', 6));
    expect(err).toBeInstanceOf(InvalidArtifactError);
    expect((err as InvalidArtifactError).file).toBe(root);
    expect(err.message).toMatch(
      /has more than 6 image files \(8 in its first 2 of 2 class folders; limit maxImageFiles\): use a subset of the folder, or set FOLDSWEEP_MAX_IMAGE_FILES/,
    );
    expect((await listImageFolder(root, 'dataset', 8)).files).toHaveLength(8);
    const preparer = new LocalDatasetPreparer(new MemoryObjectStore(), undefined, {
      limits: { maxImageFiles: 7 },
    });
    await expect(
      preparer.prepare({ uri: root, format: 'image-folder' }, [2, 2, 1], 'dataset'),
    ).rejects.toThrow(/has more than 7 image files/);
  });

  it('bounds the prepared dataset size before decoding', async () => {
    const root = join(tmp.path, 'many');
    const preparer = new LocalDatasetPreparer(new MemoryObjectStore(), undefined, {
      limits: { maxDatasetBytes: 8 * 32 * 32 * 3 - 1 },
    });
    const err = await rejection(
      preparer.prepare({ uri: root, format: 'image-folder' }, [32, 32, 3], 'dataset'),
    );
    expect(err).toBeInstanceOf(InvalidArtifactError);
    expect(err.message).toMatch(
      /would prepare 8 images of 32x32x3 = 24\.0 KiB, more than the limit of 24\.0 KiB \(maxDatasetBytes\): take a subset/,
    );
  });
});

describe('dataLimitsFromEnv()', () => {
  it('defaults, raises from the environment, and names a bad variable', () => {
    expect(dataLimitsFromEnv({})).toEqual(DEFAULT_DATA_LIMITS);
    expect(
      dataLimitsFromEnv({
        FOLDSWEEP_MAX_IMAGE_PIXELS: '100000000',
        FOLDSWEEP_MAX_IMAGE_FILES: '2_000_000',
        FOLDSWEEP_MAX_DATASET_BYTES: '4294967296',
      }),
    ).toEqual({ maxImagePixels: 1e8, maxImageFiles: 2e6, maxDatasetBytes: 2 ** 32 });
    expect(() => dataLimitsFromEnv({ FOLDSWEEP_MAX_IMAGE_FILES: 'lots' })).toThrow(ValidationError);
    expect(() => dataLimitsFromEnv({ FOLDSWEEP_MAX_IMAGE_FILES: '-1' })).toThrow(
      /FOLDSWEEP_MAX_IMAGE_FILES: '-1' is not a positive integer/,
    );
  });
});
