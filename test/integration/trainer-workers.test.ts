import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ProcessPoolExecutor } from '../../shared/adapters/local/process-pool-executor.js';
import { getJson } from '../../shared/ports/object-store.js';
import { planKey, trialResultKey } from '../../shared/schemas/plan.js';
import { type TrialResult, TrialResultSchema } from '../../shared/schemas/trial-result.js';
import { createSweep } from '../../shared/service/sweeps.js';
import { selectBackend } from '../../trainer/backend.js';
import { runTrialFromEnv } from '../../trainer/worker.js';
import { makeWorkspace } from '../helpers/workspace.js';

const CRASHING_TRAINER = fileURLToPath(new URL('../helpers/crashing-trainer.ts', import.meta.url));

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
const executors: ProcessPoolExecutor[] = [];

beforeEach(async () => {
  ws = await makeWorkspace({ samples: 45 });
});
afterEach(async () => {
  delete process.env.FOLDSWEEP_TEST_CRASH_TRIAL;
  delete process.env.FOLDSWEEP_TEST_PID_LOG;
  await Promise.all(executors.splice(0).map((e) => e.close()));
  await ws.cleanup();
});

/** Runs a sweep of the tiny workspace on a pool; returns its trial results and which pid ran what. */
async function sweepOn(
  trainerProcess: 'worker' | 'per-trial',
  concurrency: number,
  spec = ws.spec({
    searchSpace: {
      strategy: ['finetune', 'bottleneck-linear', 'scratch'],
      freezeDepth: [0],
      lrMultiplier: [1],
    },
  }),
) {
  const pidLog = join(ws.dir, `pids-${trainerProcess}-${Date.now()}.txt`);
  process.env.FOLDSWEEP_TEST_PID_LOG = pidLog;
  const executor = new ProcessPoolExecutor({
    home: ws.home,
    objects: ws.objects,
    state: ws.state,
    concurrency,
    backend: 'wasm',
    trainerEntry: CRASHING_TRAINER,
    trainerProcess,
  });
  executors.push(executor);
  const { sweep, plan } = await createSweep({ ...ws.deps, executor }, spec);
  await executor.waitFor(sweep.id);
  const results = await Promise.all(
    plan.trials.map(async (t) =>
      TrialResultSchema.parse(await getJson(ws.objects, trialResultKey(sweep.id, t.index))),
    ),
  );
  const runs = readFileSync(pidLog, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(' ').map(Number) as [number, number]);
  return { plan, results, runs };
}

describe('ProcessPoolExecutor trainer workers', () => {
  it('runs several trials per worker process, with the results of one process per trial', async () => {
    const reused = await sweepOn('worker', 2);
    const fresh = await sweepOn('per-trial', 2);

    // 9 trials (3 variants x 3 folds) on 2 workers; one process per trial otherwise.
    expect(reused.results).toHaveLength(9);
    expect(new Set(reused.runs.map(([pid]) => pid)).size).toBe(2);
    expect(new Set(fresh.runs.map(([pid]) => pid)).size).toBe(9);
    // Each trial is seeded on its own: a worker's earlier trials do not change its result.
    const outcome = (r: (typeof reused.results)[number]) => ({
      status: r.status,
      objective: r.objective,
      epochs: r.epochs?.map((e) => [e.loss, e.accuracy, e.valLoss, e.valAccuracy]),
    });
    expect(reused.results.map((r) => r.status)).toEqual(Array(9).fill('succeeded'));
    expect(reused.results.map(outcome)).toEqual(fresh.results.map(outcome));
  }, 180_000);

  it('replaces a worker that died: a trial killed on every attempt fails alone, with its reason and attempts', async () => {
    process.env.FOLDSWEEP_TEST_CRASH_TRIAL = '1';
    // One worker: trials 0 and 1 start on it; each retry of trial 1 and then trial 2 need a
    // replacement.
    const { results, runs } = await sweepOn(
      'worker',
      1,
      ws.spec({ searchSpace: { strategy: ['scratch'] } }),
    );

    expect(results.map((r) => r.status)).toEqual(['succeeded', 'failed', 'succeeded']);
    expect(results[1].reason).toMatch(
      /trainer process killed by SIGKILL without writing a result \(attempt 3 of 3; earlier attempts: killed by SIGKILL, killed by SIGKILL\): about to be killed/,
    );
    expect(results[1].attempt).toBe(3);
    expect(runs.map(([, trial]) => trial)).toEqual([0, 1, 1, 1, 2]);
    const pids = runs.map(([pid]) => pid);
    expect(pids[1]).toBe(pids[0]);
    expect(new Set(pids.slice(1)).size).toBe(4);
  }, 120_000);
});

describe('runTrialFromEnv() in a long-lived process', () => {
  beforeAll(async () => {
    process.env.FOLDSWEEP_LOG_LEVEL = 'silent';
    await selectBackend({ prefer: 'wasm' });
  });

  it('leaves no tensors behind after each trial, and a rerun gives the same result', async () => {
    const { sweep, plan } = await createSweep(
      ws.deps,
      ws.spec({
        searchSpace: {
          strategy: ['finetune', 'bottleneck-linear', 'scratch'],
          freezeDepth: [2],
          lrMultiplier: [1],
        },
      }),
    );
    const { tf } = await selectBackend({ prefer: 'wasm' });
    const env = (trialIndex: number) => ({
      FOLDSWEEP_HOME: ws.home,
      FOLDSWEEP_PLAN_KEY: planKey(sweep.id),
      FOLDSWEEP_TRIAL_INDEX: String(trialIndex),
      FOLDSWEEP_BACKEND: 'wasm',
    });
    const read = async (i: number) =>
      TrialResultSchema.parse(await getJson(ws.objects, trialResultKey(sweep.id, i)));
    // One trial of each strategy (variants 0, 1, 2 of fold 0).
    const trials = [0, 1, 2].map((v) => plan.trials.findIndex((t) => t.variantIndex === v));

    const first: TrialResult[] = [];
    for (const i of trials) {
      const before = tf.memory().numTensors;
      expect(await runTrialFromEnv(env(i))).toBe(0);
      expect(tf.memory().numTensors).toBe(before);
      first.push(await read(i));
    }
    // Again, in reverse order, after the other trials ran in this process.
    for (const i of [...trials].reverse()) await ws.objects.delete(trialResultKey(sweep.id, i));
    for (const i of [...trials].reverse()) {
      const before = tf.memory().numTensors;
      expect(await runTrialFromEnv(env(i))).toBe(0);
      expect(tf.memory().numTensors).toBe(before);
    }
    const again = await Promise.all(trials.map(read));
    const strategies = trials.map((i) => plan.variants[plan.trials[i].variantIndex].strategy);
    expect(strategies.sort()).toEqual(['bottleneck-linear', 'finetune', 'scratch']);
    const outcome = (r: TrialResult) => [
      r.status,
      r.objective,
      r.epochs.map(({ durationMs: _, ...metrics }) => metrics),
    ];
    expect(again.map(outcome)).toEqual(first.map(outcome));
  }, 120_000);
});
