/**
 * `foldsweep list|show|leaderboard --json` on the home a tiny `foldsweep run` left, and `serve` on
 * a busy port: the real bin/foldsweep.mjs in a child process.
 */
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { foldsweep } from '../helpers/cli.js';
import { makeWorkspace } from '../helpers/workspace.js';

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
let home: string;
let sweepId: string;
let runStderr: string;
beforeAll(async () => {
  ws = await makeWorkspace({ samples: 45 });
  home = join(ws.dir, 'inspect-home');
  const spec = join(ws.dir, 'tiny.json');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(
    spec,
    JSON.stringify(
      ws.spec({ folds: 2, champion: 'refit', searchSpace: { strategy: ['bottleneck-linear'] } }),
    ),
  );
  const result = await foldsweep(
    ['run', spec, '--home', home, '--concurrency', '2', '--json'],
    ws.dir,
  );
  expect(result.code, result.stderr).toBe(0);
  const doc = JSON.parse(result.stdout);
  expect(doc.sweep.status).toBe('completed');
  expect(doc.leaderboard.rows.length).toBeGreaterThan(0);
  expect(doc.champion.modelPath).toMatch(/model\.json$/);
  sweepId = doc.sweep.id;
  runStderr = result.stderr;
}, 180_000);
afterAll(() => ws.cleanup());

describe('list, show, leaderboard --json', () => {
  it('run (not a terminal) prints elapsed time and an ETA on each trial line', () => {
    // 2 fold trials and the refit on every image.
    expect(runStderr).toMatch(/\[\d+s elapsed, ETA \d+s\] trial 1\/3 /);
    expect(runStderr).toMatch(/trial 3\/3 refit on every non-holdout image: trained/);
    expect(runStderr).toMatch(/\[\d+s elapsed\] trial 3\/3 /);
  });

  it('list --json is one JSON array holding the sweep', async () => {
    const result = await foldsweep(['list', '--home', home, '--json'], ws.dir);
    expect(result.code, result.stderr).toBe(0);
    const sweeps = JSON.parse(result.stdout) as { id: string; status: string }[];
    expect(sweeps).toEqual([expect.objectContaining({ id: sweepId, status: 'completed' })]);
    const none = await foldsweep(['list', '--home', home, '--status', 'failed', '--json'], ws.dir);
    expect(JSON.parse(none.stdout)).toEqual([]);
  });

  it('show --json has status, progress and the champion with its path', async () => {
    const result = await foldsweep(['show', sweepId, '--home', home, '--json'], ws.dir);
    expect(result.code, result.stderr).toBe(0);
    const doc = JSON.parse(result.stdout);
    expect(doc).toMatchObject({ id: sweepId, status: 'completed' });
    expect(doc.progress.succeeded).toBe(doc.progress.trialsTotal);
    expect(doc.champion.modelPath).toMatch(/model\.json$/);
    expect(typeof doc.champion.objectiveMean).toBe('number');
    const text = await foldsweep(['show', sweepId, '--home', home], ws.dir);
    expect(text.stdout).toContain(`sweep ${sweepId}`);
    expect(text.stdout).toContain('champion:');
  });

  it('leaderboard --json has ranked rows and the best variant', async () => {
    const result = await foldsweep(['leaderboard', sweepId, '--home', home, '--json'], ws.dir);
    expect(result.code, result.stderr).toBe(0);
    const board = JSON.parse(result.stdout);
    expect(board.sweepId).toBe(sweepId);
    expect(board.rows.length).toBeGreaterThan(0);
    expect(board.bestVariantId).toEqual(expect.any(String));
  });

  it('show of an unknown sweep exits non-zero with a message', async () => {
    const result = await foldsweep(['show', 'nope', '--home', home], ws.dir);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('nope');
  });
});

describe('serve on a busy port', () => {
  let blocker: Server;
  afterAll(() => new Promise<void>((done) => blocker.close(() => done())));

  it('prints one line naming the port and exits 2', async () => {
    blocker = createServer();
    const port = await new Promise<number>((done) =>
      blocker.listen(0, '127.0.0.1', () => done((blocker.address() as { port: number }).port)),
    );
    const result = await foldsweep(
      ['serve', '--home', join(ws.dir, 'serve-home'), '--port', String(port)],
      ws.dir,
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`port ${port}`);
    expect(result.stderr).toContain('--port');
    expect(result.stderr).not.toContain('EADDRINUSE');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});
