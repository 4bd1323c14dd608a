/**
 * `foldsweep run` as a user runs it: the real bin/foldsweep.mjs in a child process, real trainer
 * processes, a tiny model and dataset.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { foldsweep } from '../helpers/cli.js';
import { makeWorkspace } from '../helpers/workspace.js';

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
beforeAll(async () => {
  ws = await makeWorkspace({ samples: 45 });
});
afterAll(() => ws.cleanup());

describe('foldsweep run', () => {
  it('runs a sweep from a spec file with relative paths, prints the leaderboard and the champion', async () => {
    const spec = ws.spec({
      folds: 2,
      searchSpace: { strategy: ['finetune', 'bottleneck-linear'], freezeDepth: [0] },
    });
    // Paths relative to the spec file's folder, as a user writes them.
    const specFile = join(ws.dir, 'specs', 'tiny.json');
    await writeFile(
      join(ws.dir, 'tiny.json'),
      JSON.stringify({
        ...spec,
        baseModel: relative(ws.dir, ws.modelPath),
        dataset: { ...spec.dataset, uri: relative(ws.dir, ws.idx.imagesFile) },
      }),
    );
    const home = join(ws.dir, 'cli-home');
    const result = await foldsweep(
      ['run', 'tiny.json', '--home', home, '--concurrency', '2'],
      ws.dir,
    );
    expect(result.stderr).toContain('preparing data and model');
    expect(result.code, result.stderr + result.stdout).toBe(0);
    expect(result.stdout).toMatch(/Sweep \S+ \(tiny\): completed in [\d.]+ s/);
    expect(result.stdout).toMatch(/1 +finetune freeze=0 lr×0\.1|1 +bottleneck-linear C=1/);
    const championLine = result.stdout.match(/champion: (\S+model\.json)/);
    expect(championLine).not.toBeNull();
    expect(existsSync(championLine?.[1] ?? '')).toBe(true);
    const report = result.stdout.match(/report: (\S+)/)?.[1] ?? '';
    expect(await readFile(report, 'utf8')).toContain('finetune freeze=0');
    expect(existsSync(specFile)).toBe(false);
  });

  it('rejects an invalid spec with exit code 2, every bad field named, and runs nothing', async () => {
    await writeFile(
      join(ws.dir, 'bad.json'),
      JSON.stringify(
        ws.spec({
          folds: 1,
          searchSpace: { strategy: ['finetune'], svmC: [0] },
        }),
      ),
    );
    const home = join(ws.dir, 'bad-home');
    const result = await foldsweep(['run', 'bad.json', '--home', home], ws.dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/problems:/);
    expect(result.stderr).toMatch(/- folds: folds must be at least 2/);
    expect(result.stderr).toMatch(/- searchSpace\.svmC/);
    expect(existsSync(join(home, 'objects', 'sweeps'))).toBe(false);
  });

  it('names a missing spec file and an unknown option', async () => {
    const missing = await foldsweep(['run', 'nope.json'], ws.dir);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/error: <spec>: cannot read nope\.json/);
    const unknown = await foldsweep(['run', 'tiny.json', '--turbo'], ws.dir);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--turbo/);
  });
});
