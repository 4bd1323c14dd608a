/**
 * The exit codes of `foldsweep run` that need trainers: a sweep whose trials all fail exits 1,
 * and one cancelled by Ctrl-C exits 4 (bad input 2 and internal error 3 are in the hostile-inputs
 * catalog). The real bin/foldsweep.mjs in a child process, as a script runs it.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FOLDSWEEP_BIN, foldsweep } from '../helpers/cli.js';
import { makeWorkspace } from '../helpers/workspace.js';

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
beforeAll(async () => {
  ws = await makeWorkspace({ samples: 45 });
});
afterAll(() => ws.cleanup());

describe('foldsweep run exit codes', () => {
  it('exits 1 when the sweep ends failed (every trial failed)', async () => {
    // A model.json whose weights name no layer of the model: it imports (sizes match), and
    // every trainer fails to load it.
    const json = JSON.parse(await readFile(ws.modelPath, 'utf8'));
    for (const group of json.weightsManifest) {
      for (const w of group.weights) w.name = `renamed_${w.name}`;
    }
    const broken = join(ws.dir, 'model', 'broken.json');
    await writeFile(broken, JSON.stringify(json));
    const specFile = join(ws.dir, 'failing.json');
    await writeFile(
      specFile,
      JSON.stringify(
        ws.spec({
          baseModel: broken,
          folds: 2,
          searchSpace: { strategy: ['finetune'], freezeDepth: [0] },
        }),
      ),
    );

    const result = await foldsweep(
      ['run', specFile, '--home', join(ws.dir, 'home-failed'), '--concurrency', '1'],
      ws.dir,
    );

    expect(result.stderr, result.stdout).toMatch(/sweep failed/);
    expect(result.code).toBe(1);
  }, 180_000);

  it('exits 4 when Ctrl-C cancels the sweep, naming foldsweep resume', async () => {
    const specFile = join(ws.dir, 'long.json');
    await writeFile(
      specFile,
      JSON.stringify(
        ws.spec({
          folds: 3,
          searchSpace: { strategy: ['finetune'], freezeDepth: [0, 1], lrMultiplier: [1, 0.1] },
          training: { learningRate: 0.001, epochs: 200, batchSize: 4, patience: 200 },
        }),
      ),
    );
    const child = spawn(
      process.execPath,
      [FOLDSWEEP_BIN, 'run', specFile, '--home', join(ws.dir, 'home-cancel'), '--concurrency', '1'],
      { cwd: ws.dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    let interrupted = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      // Interrupt once the sweep runs (its first trial line or progress bar).
      if (!interrupted && /trial|epoch|\d+\/12/i.test(stderr.split('preparing')[1] ?? '')) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    child.stdout.resume();
    const code = await new Promise<number | null>((done) => child.on('close', done));

    expect(stderr).toMatch(/cancelling sweep \S+/);
    expect(stderr).toMatch(/foldsweep resume \S+/);
    expect(code).toBe(4);
  }, 180_000);
});
