import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataRoots, rootedModelImporter } from '../../../../../shared/adapters/local/data-roots.js';
import { ValidationError } from '../../../../../shared/errors.js';
import { makeTempDir, type TempDir } from '../../../../helpers/images.js';

let tmp: TempDir;
beforeEach(async () => {
  tmp = await makeTempDir();
  await mkdir(join(tmp.path, 'start', 'models'), { recursive: true });
  await mkdir(join(tmp.path, 'extra'), { recursive: true });
  await mkdir(join(tmp.path, 'start-sibling'), { recursive: true });
  await writeFile(join(tmp.path, 'outside.json'), '{}');
});
afterEach(async () => {
  await tmp.cleanup();
});

const messageOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).message;
  }
  throw new Error('expected a ValidationError');
};

describe('DataRoots', () => {
  it('holds the start folder, /usr/share/datasets and the extra roots', () => {
    const roots = DataRoots.fromOptions(join(tmp.path, 'start'), ['../extra'], '/srv/a:/srv/b');
    expect(roots.roots).toEqual([
      join(tmp.path, 'start'),
      '/usr/share/datasets',
      join(tmp.path, 'extra'),
      '/srv/a',
      '/srv/b',
    ]);
  });

  it('resolves relative paths against the start folder, not the working directory', () => {
    const roots = new DataRoots(join(tmp.path, 'start'));
    expect(roots.resolve('models/model.json', 'baseModel')).toBe(
      join(tmp.path, 'start', 'models', 'model.json'),
    );
    expect(roots.resolve('/usr/share/datasets/x/y.gz', 'dataset.uri')).toBe(
      '/usr/share/datasets/x/y.gz',
    );
    expect(roots.resolve('s3://bucket/model.json', 'baseModel')).toBe('s3://bucket/model.json');
  });

  it.each([
    ['/etc/passwd'],
    ['/nonexistent/x'],
    ['../outside.json'],
    ['../start-sibling/x'],
    ['file:///etc/passwd'],
    ['models/\0x'],
  ])('refuses %j with the one answer, naming the field, the roots and --data-root', (path) => {
    const roots = new DataRoots(join(tmp.path, 'start'));
    const message = messageOf(() => roots.resolve(path, 'baseModel'));
    expect(message).toBe(
      `baseModel: '${path}' is outside the folders this server reads (its data roots: ${roots.roots.join(', ')}): ` +
        'put the model or dataset under one of them, or start foldsweep serve with --data-root <folder> ' +
        `(or FOLDSWEEP_DATA_ROOTS); relative paths resolve against ${roots.base}`,
    );
  });

  it('refuses a link inside a root that leads out, existing target or not', async () => {
    const roots = new DataRoots(join(tmp.path, 'start'));
    await symlink(tmp.path, join(tmp.path, 'start', 'up'));
    for (const path of ['up/outside.json', 'up/missing/file']) {
      await expect(roots.resolveReal(path, 'baseModel')).rejects.toThrow(/is outside the folders/);
    }
    await expect(roots.resolveReal('models/missing.json', 'baseModel')).resolves.toBe(
      join(tmp.path, 'start', 'models', 'missing.json'),
    );
  });

  it('hands the importer the resolved path', async () => {
    const roots = new DataRoots(join(tmp.path, 'start'));
    const seen: string[] = [];
    const importer = rootedModelImporter(
      {
        async importBaseModel(uri) {
          seen.push(uri);
          throw new Error('stop');
        },
      },
      roots,
    );
    await expect(importer.importBaseModel('models/model.json', 'baseModel')).rejects.toThrow(
      'stop',
    );
    await expect(importer.importBaseModel('/etc/passwd', 'baseModel')).rejects.toThrow(/outside/);
    expect(seen).toEqual([join(tmp.path, 'start', 'models', 'model.json')]);
  });
});
