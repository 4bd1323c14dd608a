/**
 * FsModelImporter on local files: the stored copy and its hash (sha256 of model.json's text, then
 * the weight files in manifest order), a file or its folder, idempotent re-imports, and a
 * ValidationError naming the field and the file for each bad model, weight paths that leave the
 * model's folder included.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsModelImporter } from '../../../../../shared/adapters/local/fs-model-importer.js';
import { InvalidArtifactError, ValidationError } from '../../../../../shared/errors.js';
import { makeTempDir, type TempDir } from '../../../../helpers/images.js';
import { MemoryObjectStore } from '../../../../helpers/memory-object-store.js';

const EXAMPLE = join(import.meta.dirname, '../../../../../examples/fashion-mnist/base-model');

let tmp: TempDir;
beforeEach(async () => {
  tmp = await makeTempDir('foldsweep-fs-model-');
});
afterEach(async () => {
  await tmp.cleanup();
});

/** The example model copied to `<tmp>/<name>/`, with `edit` applied to its model.json. */
async function copyExample(name: string, edit?: (json: Record<string, unknown>) => void) {
  const dir = join(tmp.path, name);
  await mkdir(dir, { recursive: true });
  const json = JSON.parse(await readFile(join(EXAMPLE, 'model.json'), 'utf8'));
  edit?.(json);
  await writeFile(join(dir, 'model.json'), JSON.stringify(json));
  await writeFile(join(dir, 'weights.bin'), await readFile(join(EXAMPLE, 'weights.bin')));
  return dir;
}

async function rejection(promise: Promise<unknown>): Promise<ValidationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  return error as ValidationError;
}

describe('FsModelImporter', () => {
  it('stores model.json and its weights under models/<sha256 of both> and describes the model', async () => {
    const objects = new MemoryObjectStore();
    const file = join(EXAMPLE, 'model.json');
    const ref = await new FsModelImporter(objects).importBaseModel(file, 'baseModel');
    const text = await readFile(file, 'utf8');
    const weights = await readFile(join(EXAMPLE, 'weights.bin'));
    const hash = createHash('sha256').update(text).update(weights).digest('hex');
    expect(ref).toEqual({
      uri: file,
      hash,
      prefix: `models/${hash}`,
      inputShape: [28, 28, 1],
      layers: expect.arrayContaining([{ name: 'fc1', className: 'Dense' }]),
      numClasses: 5,
    });
    expect(ref.layers).toHaveLength(7);
    expect(objects.writes).toEqual([`models/${hash}/weights.bin`, `models/${hash}/model.json`]);
    expect(new TextDecoder().decode(objects.objects.get(`models/${hash}/model.json`))).toBe(text);

    // The folder names the same model; a second import writes nothing.
    const again = await new FsModelImporter(objects).importBaseModel(EXAMPLE, 'baseModel');
    expect(again).toEqual({ ...ref, uri: EXAMPLE });
    expect(objects.writes).toHaveLength(2);
  });

  it('names the field and the file for a missing path, bad JSON, a non-layers model and a missing weight file', async () => {
    const importer = new FsModelImporter(new MemoryObjectStore());
    const missing = join(tmp.path, 'nope', 'model.json');
    expect((await rejection(importer.importBaseModel(missing, 'baseModel'))).issues).toEqual([
      {
        path: 'baseModel',
        message: `${missing} does not exist: give the path of a tfjs layers model.json`,
      },
    ]);

    const bad = join(tmp.path, 'bad.json');
    await writeFile(bad, 'not json');
    const notJson = await rejection(importer.importBaseModel(bad, 'template.baseModel'));
    expect(notJson).toBeInstanceOf(InvalidArtifactError);
    expect(notJson.issues[0]).toEqual({
      path: 'template.baseModel',
      message: `${bad}: is not JSON: give the model.json written by tf.LayersModel.save or tensorflowjs_converter`,
    });

    const graph = join(tmp.path, 'graph.json');
    await writeFile(graph, JSON.stringify({ format: 'graph-model', modelTopology: {} }));
    expect((await rejection(importer.importBaseModel(graph, 'baseModel'))).message).toMatch(
      /format is 'graph-model', expected 'layers-model'/,
    );

    const dir = await copyExample('no-weights', (j) => {
      (j.weightsManifest as { paths: string[] }[])[0].paths = ['shard-1.bin'];
    });
    const error = await rejection(importer.importBaseModel(dir, 'baseModel'));
    expect((error as InvalidArtifactError).file).toBe(join(dir, 'shard-1.bin'));
    expect(error.issues[0].message).toMatch(/weight file named by model\.json is missing/);
  });

  it('refuses weight paths outside the model folder, naming model.json, before reading them', async () => {
    // A file a '..' path would reach: it must never be read into the store.
    await writeFile(join(tmp.path, 'outside.bin'), await readFile(join(EXAMPLE, 'weights.bin')));
    for (const [path, why] of [
      ['../outside.bin', "leaves the model's folder ('..')"],
      ['sub/../../outside.bin', "leaves the model's folder ('..')"],
      [join(tmp.path, 'outside.bin'), 'is absolute (a path or URL of its own)'],
      ['file:///etc/passwd', 'is absolute (a path or URL of its own)'],
      ['sub\\w.bin', 'is not a plain relative path'],
    ]) {
      const objects = new MemoryObjectStore();
      const dir = await copyExample('escape', (j) => {
        (j.weightsManifest as { paths: string[] }[])[0].paths = [path];
      });
      const error = await rejection(
        new FsModelImporter(objects).importBaseModel(join(dir, 'model.json'), 'baseModel'),
      );
      expect(error).toBeInstanceOf(InvalidArtifactError);
      expect((error as InvalidArtifactError).file).toBe(join(dir, 'model.json'));
      expect(error.issues[0].path).toBe('baseModel');
      expect(error.issues[0].message).toContain(`weightsManifest path '${path}' ${why}`);
      expect(error.issues[0].message).toMatch(/weight files must sit in model\.json's folder/);
      expect(objects.writes).toEqual([]);
    }
  });

  it('accepts weight files in a sub-folder of the model', async () => {
    const dir = await copyExample('nested', (j) => {
      (j.weightsManifest as { paths: string[] }[])[0].paths = ['shards/weights.bin'];
    });
    await mkdir(join(dir, 'shards'));
    await writeFile(
      join(dir, 'shards', 'weights.bin'),
      await readFile(join(EXAMPLE, 'weights.bin')),
    );
    const objects = new MemoryObjectStore();
    const ref = await new FsModelImporter(objects).importBaseModel(dir, 'baseModel');
    expect(objects.objects.has(`${ref.prefix}/shards/weights.bin`)).toBe(true);
  });
});
