/**
 * The sweep lifecycle against real processes on one home: `foldsweep run`, `serve`, `cancel` and
 * `resume` as a user runs them (bin/foldsweep.mjs in child processes, real trainer processes),
 * with Ctrl-C, kill -9 and a second process on the same home. Trainer processes are found in the
 * process table by their FOLDSWEEP_HOME.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { localDeps } from '../../functions/deps/local.js';
import { FsObjectStore } from '../../shared/adapters/local/fs-object-store.js';
import { SqliteStateStore } from '../../shared/adapters/local/sqlite-state-store.js';
import { getJson } from '../../shared/ports/object-store.js';
import { championPrefix, trialResultKey } from '../../shared/schemas/plan.js';
import { prepareSweep, submitSweep } from '../../shared/service/lifecycle.js';
import { recordingLogger } from '../helpers/images.js';
import { makeWorkspace } from '../helpers/workspace.js';

const BIN = join(import.meta.dirname, '../../bin/foldsweep.mjs');
const LEASE_MS = 1500;

interface Cli {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function cli(args: string[], env: Record<string, string> = {}): Cli {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, FOLDSWEEP_LEASE_MS: String(LEASE_MS), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (d) => {
    text += d;
  });
  child.stderr?.on('data', (d) => {
    text += d;
  });
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, out: () => text, exited };
}

const children: ChildProcess[] = [];
function track(c: Cli) {
  children.push(c.child);
  return c;
}

/** Pids of trainer processes (trainer/main.ts) working on `home`, from /proc. */
async function trainerPids(home: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmd.includes('trainer/main.ts')) continue;
      const env = await readFile(`/proc/${entry}/environ`, 'utf8');
      if (env.split('\0').includes(`FOLDSWEEP_HOME=${home}`)) pids.push(Number(entry));
    } catch {
      // The process ended while being read.
    }
  }
  return pids;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
let specFile: string;
/** The same sweep with 3x the epochs: still running after the three lease periods it waits. */
let longSpecFile: string;
beforeAll(async () => {
  ws = await makeWorkspace({ samples: 45 });
  specFile = join(ws.dir, 'slow.json');
  // Long enough to interrupt: 3 variants x 3 folds, 20 epochs each, no early stopping.
  await writeFile(
    specFile,
    JSON.stringify(
      ws.spec({
        searchSpace: { strategy: ['finetune', 'scratch'], freezeDepth: [0, 2], lrMultiplier: [1] },
        training: {
          learningRate: 0.02,
          epochs: 20,
          batchSize: 8,
          patience: 20,
          objective: 'val_accuracy',
        },
      }),
    ),
  );
  longSpecFile = join(ws.dir, 'long.json');
  const long = JSON.parse(await readFile(specFile, 'utf8'));
  await writeFile(
    longSpecFile,
    JSON.stringify({ ...long, training: { ...long.training, epochs: 60, patience: 60 } }),
  );
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});
afterAll(() => ws.cleanup());

async function stateOf(home: string) {
  const state = new SqliteStateStore(join(home, 'state.db'));
  try {
    const [sweep] = await state.listSweeps({ limit: 1 });
    return { sweep, trials: sweep ? await state.listTrials(sweep.id) : [] };
  } finally {
    await state.close();
  }
}

const finishedCount = async (home: string) =>
  (await stateOf(home)).trials.filter((t) => t.status === 'succeeded').length;

async function boardOf(home: string, id: string) {
  const board = (await getJson(
    new FsObjectStore(join(home, 'objects')),
    `sweeps/${id}/leaderboard.json`,
  )) as { rows: { variantId: string; mean: number }[] };
  return Object.fromEntries(board.rows.map((r) => [r.variantId, r.mean]));
}

/** Starts `foldsweep serve` on `home` (the workspace as a data root) and POSTs the spec in `file`. */
async function serveAndSubmit(home: string, file: string, concurrency: number) {
  const serve = track(
    cli([
      'serve',
      '--home',
      home,
      '--data-root',
      ws.dir,
      '--port',
      '0',
      '--concurrency',
      String(concurrency),
    ]),
  );
  const url = await until('the server', async () => serve.out().match(/on (http:\S+)/)?.[1]);
  const res = await fetch(`${url}/sweeps`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: await readFile(file, 'utf8'),
  });
  expect(res.status).toBe(202);
  const { sweep } = (await res.json()) as { sweep: { id: string } };
  return { serve, url, sweep };
}

describe('sweep lifecycle with real processes', () => {
  it('Ctrl-C on run cancels the sweep and stops its trainers; resume completes it with the leaderboard of an uninterrupted run', async () => {
    const home = join(ws.dir, 'ctrl-c');
    const run = track(cli(['run', specFile, '--home', home, '--concurrency', '1']));
    await until('two finished trials', async () => (await finishedCount(home)) >= 2);

    run.child.kill('SIGINT');
    const code = await run.exited;

    // Exit code 4: cancelled (README, "Exit codes").
    expect(code, run.out()).toBe(4);
    expect(run.out()).toMatch(/cancelling sweep \S+ \(Ctrl-C again to exit now/);
    expect(run.out()).toMatch(/sweep cancelled: resume it with foldsweep resume/);
    const { sweep, trials } = await stateOf(home);
    expect(sweep.status).toBe('cancelled');
    expect(trials.some((t) => t.status === 'pending')).toBe(true);
    expect(trials.some((t) => t.status === 'running')).toBe(false);
    expect(await trainerPids(home)).toEqual([]);

    const resume = track(cli(['resume', sweep.id, '--home', home, '--concurrency', '2']));
    expect(await resume.exited, resume.out()).toBe(0);
    expect(resume.out()).toMatch(/resuming sweep \S+: \d+ unfinished trial\(s\)/);
    expect((await stateOf(home)).sweep.status).toBe('completed');

    const straight = join(ws.dir, 'straight');
    const full = track(cli(['run', specFile, '--home', straight, '--concurrency', '2']));
    expect(await full.exited, full.out()).toBe(0);
    const other = (await stateOf(straight)).sweep.id;
    const resumed = await boardOf(home, sweep.id);
    expect(Object.keys(resumed)).toHaveLength(3);
    expect(resumed).toEqual(await boardOf(straight, other));
  }, 240_000);

  it('foldsweep cancel from another process stops the serving process trainers within 5 s', async () => {
    const home = join(ws.dir, 'cancel');
    const { serve, url, sweep } = await serveAndSubmit(home, specFile, 2);
    await until('a running trainer', async () => (await trainerPids(home)).length > 0 || undefined);

    const cancel = track(cli(['cancel', sweep.id, '--home', home]));
    expect(await cancel.exited, cancel.out()).toBe(0);
    const cancelledAt = Date.now();
    await until(
      'no trainer of the sweep',
      async () => (await trainerPids(home)).length === 0,
      5000,
    );

    expect(Date.now() - cancelledAt).toBeLessThan(5000);
    const view = (await (await fetch(`${url}/sweeps/${sweep.id}`)).json()) as {
      status: string;
      progress: { running: number };
    };
    expect(view.status).toBe('cancelled');
    expect(view.progress.running).toBe(0);
    serve.child.kill('SIGTERM');
    await serve.exited;
  }, 120_000);

  it('serve leaves a live run alone, takes it over once the killed run lease expires, and trains no finished trial again', async () => {
    const home = join(ws.dir, 'takeover');
    const run = track(cli(['run', longSpecFile, '--home', home, '--concurrency', '1']));
    await until('a finished trial', async () => (await finishedCount(home)) >= 1);
    const serve = track(
      cli(['serve', '--home', home, '--data-root', ws.dir, '--port', '0', '--concurrency', '2']),
    );
    const url = await until('the server', async () => serve.out().match(/on (http:\S+)/)?.[1]);

    // Three lease periods with both alive: serve must not touch the run's sweep.
    await new Promise((r) => setTimeout(r, 3 * LEASE_MS));
    const before = await stateOf(home);
    expect(before.sweep.status).toBe('running');
    expect(before.sweep.owner?.id).toContain(`:${run.child.pid}:`);
    expect(serve.out()).not.toMatch(/took over/);

    const objects = new FsObjectStore(join(home, 'objects'));
    const finishedBefore = new Map<number, string>();
    for (const t of (await stateOf(home)).trials.filter((x) => x.status === 'succeeded')) {
      const result = (await getJson(objects, trialResultKey(before.sweep.id, t.trialIndex))) as {
        startedAt: string;
      };
      finishedBefore.set(t.trialIndex, result.startedAt);
    }
    run.child.kill('SIGKILL');
    await run.exited;
    // Its trainer dies with it (the IPC channel closes).
    await until(
      'the killed run trainers to exit',
      async () => (await trainerPids(home)).length === 0 || undefined,
      10_000,
    ).catch(() => undefined);

    await until(
      'serve to take the sweep over',
      async () => /took over 1 sweep/.test(serve.out()) || undefined,
      20_000,
    );
    const done = await until(
      'the sweep to complete',
      async () => {
        const view = (await (await fetch(`${url}/sweeps/${before.sweep.id}`)).json()) as {
          status: string;
        };
        return view.status === 'completed' ? view : undefined;
      },
      120_000,
    );
    expect(done.status).toBe('completed');
    for (const [index, startedAt] of finishedBefore) {
      const result = (await getJson(objects, trialResultKey(before.sweep.id, index))) as {
        startedAt: string;
      };
      expect(result.startedAt, `trial ${index} was trained again`).toBe(startedAt);
    }
    serve.child.kill('SIGTERM');
    await serve.exited;
  }, 240_000);

  it('kill -9 of foldsweep serve mid-sweep: a restarted serve takes the sweep over and completes it, training no finished trial again', async () => {
    const home = join(ws.dir, 'serve-killed');
    const { serve: first, sweep } = await serveAndSubmit(home, longSpecFile, 1);
    await until('a finished trial', async () => (await finishedCount(home)) >= 1);
    const objects = new FsObjectStore(join(home, 'objects'));
    const finishedBefore = new Map<number, string>();
    for (const t of (await stateOf(home)).trials.filter((x) => x.status === 'succeeded')) {
      const result = (await getJson(objects, trialResultKey(sweep.id, t.trialIndex))) as {
        startedAt: string;
      };
      finishedBefore.set(t.trialIndex, result.startedAt);
    }

    first.child.kill('SIGKILL');
    await first.exited;
    await until(
      'the killed server trainers to exit',
      async () => (await trainerPids(home)).length === 0 || undefined,
      10_000,
    );
    // The killed server held the lease: its trials are left 'running' until it runs out.
    expect((await stateOf(home)).sweep.status).toBe('running');

    const second = track(
      cli(['serve', '--home', home, '--data-root', ws.dir, '--port', '0', '--concurrency', '2']),
    );
    const url2 = await until(
      'the new server',
      async () => second.out().match(/on (http:\S+)/)?.[1],
    );
    await until(
      'the sweep to complete',
      async () => {
        const view = (await (await fetch(`${url2}/sweeps/${sweep.id}`)).json()) as {
          status: string;
        };
        return view.status === 'completed' || undefined;
      },
      180_000,
    );
    const { trials } = await stateOf(home);
    expect(trials.every((t) => t.status === 'succeeded')).toBe(true);
    for (const [index, startedAt] of finishedBefore) {
      const result = (await getJson(objects, trialResultKey(sweep.id, index))) as {
        startedAt: string;
      };
      expect(result.startedAt, `trial ${index} was trained again`).toBe(startedAt);
    }
    second.child.kill('SIGTERM');
    await second.exited;
  }, 300_000);

  it('resume finishes an aggregation its process died in, leaving one complete champion', async () => {
    const home = join(ws.dir, 'aggregation');
    // A process that dies while aggregating: its evaluator never returns (the champion's model
    // files are copied, its metadata and record are not), and it never releases its lease.
    const dying = localDeps({
      home,
      concurrency: 2,
      backend: 'wasm',
      leaseMs: LEASE_MS,
      logger: recordingLogger().logger,
    });
    dying.evaluator = { evaluate: () => new Promise(() => {}) };
    const spec = JSON.parse(await readFile(specFile, 'utf8'));
    const submitted = await submitSweep(dying, {
      ...spec,
      holdoutFraction: 0.2,
      training: { ...spec.training, epochs: 2 },
    });
    dying.driving.add(submitted.id);
    await prepareSweep(dying, submitted.id);
    await until(
      'aggregation to start',
      async () => (await stateOf(home)).sweep.status === 'aggregating' || undefined,
    );
    await until(
      'the champion copy',
      async () =>
        (await new FsObjectStore(join(home, 'objects')).exists(
          `${championPrefix(submitted.id)}/model.json`,
        )) || undefined,
    );
    const stuck = await stateOf(home);
    expect(stuck.sweep.status).toBe('aggregating');
    // Its heartbeat stops with it.
    dying.driving.clear();
    await new Promise((r) => setTimeout(r, LEASE_MS + 200));

    const resume = track(cli(['resume', submitted.id, '--home', home]));
    expect(await resume.exited, resume.out()).toBe(0);

    const objects = new FsObjectStore(join(home, 'objects'));
    const state = new SqliteStateStore(join(home, 'state.db'));
    const champion = await state.getChampion(submitted.id);
    await state.close();
    expect(champion).toBeDefined();
    const metadata = (await getJson(objects, `${championPrefix(submitted.id)}/metadata.json`)) as {
      lineage: { sweepId: string };
      metrics: { holdout?: { accuracy: number } };
    };
    expect(metadata.lineage.sweepId).toBe(submitted.id);
    expect(metadata.metrics.holdout?.accuracy).toBe(champion?.holdoutAccuracy);
    expect((await stateOf(home)).sweep.status).toBe('completed');
    await dying.close();
  }, 240_000);
});
