/**
 * The Executor contract (shared/ports/executor.ts): every executor runs the same suite on real
 * trainer processes and tiny plans (test/helpers/workspace.ts: an 8x8 model, about a second a
 * trial). The fixture gives the executor and what the suite needs to observe it; the suite plays
 * the deployment's part around it (it stores the job ids on the sweep record and marks the sweep
 * cancelled or running again, as shared/service/lifecycle.ts does).
 * @example
 * executorContract('ProcessPoolExecutor', async () => ({ executor, objects, state, ... }));
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  Executor,
  ExecutorDescription,
  ExecutorProgress,
} from '../../shared/ports/executor.js';
import { getText, type ObjectStore } from '../../shared/ports/object-store.js';
import type { StateStore } from '../../shared/ports/state-store.js';
import { type Plan, trialResultKey } from '../../shared/schemas/plan.js';
import type { SweepSpecInput } from '../../shared/schemas/sweep-spec.js';
import { type TrialResult, TrialResultSchema } from '../../shared/schemas/trial-result.js';

export interface ExecutorFixture {
  executor: Executor;
  /** Where the trainers (and the executor or the drained path) write the TrialResults. */
  objects: ObjectStore;
  /** Where the sweep record lives (the suite stores job ids and statuses as the service does). */
  state: StateStore;
  /**
   * A planned sweep (record `running`, plan and prepared data in `objects`) that nothing runs
   * yet; `spec` overrides the tiny workspace's spec.
   */
  plan(spec: Partial<SweepSpecInput>): Promise<Plan>;
  /** Job ids `submit` returns for a plan of `trials` trials (pool: 0; Batch: one per part). */
  jobIdsFor(trials: number): number;
  /** Before submit: the trainer of this trial dies without writing a result. */
  crash(trialIndex: number): void;
  /** Resolves when the executor is done with the sweep: every trial terminal (or cancelled), the drained path run. */
  waitUntilTerminal(sweepId: string): Promise<void>;
  /** Trial index of every trainer start so far (a trial appears once per start, retries and reruns included). */
  startedTrials(sweepId: string): Promise<number[]>;
  /** Trainers of the sweep alive now (pool: processes that ran its trials; Batch: running children). */
  liveTrainers(sweepId: string): Promise<number>;
  /**
   * How a resume treats finished trials: 'skipped' (not started again) or 'rerun-skipping' (the
   * trainer starts and exits at once on the succeeded result: Batch resubmits the whole array).
   */
  resumeFinished: 'skipped' | 'rerun-skipping';
  /** Executor-specific evidence of a finished cancel (Batch: TerminateJob on the array jobs). */
  assertCancelled?(sweepId: string, jobIds: readonly string[]): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * 2 variants x 2 folds = 4 trials, 2 epochs each. The best fold's model is the champion: the
 * refit (one more trial after the folds, the default) has its own tests
 * (test/unit/shared/service/refit.test.ts, test/e2e/aws-lifecycle.test.ts).
 */
const FOUR: Partial<SweepSpecInput> = {
  champion: 'best-fold',
  folds: 2,
  searchSpace: { strategy: ['finetune'], freezeDepth: [0, 2], lrMultiplier: [1] },
  training: { learningRate: 0.02, epochs: 2, batchSize: 8, patience: 2, objective: 'val_accuracy' },
};
/** 3 variants x 2 folds = 6 trials. */
const SIX: Partial<SweepSpecInput> = {
  ...FOUR,
  searchSpace: { strategy: ['finetune', 'scratch'], freezeDepth: [0, 2], lrMultiplier: [1] },
};

const TIMEOUT = 120_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(100);
  }
}

async function readResult(objects: ObjectStore, plan: Plan, index: number) {
  const key = trialResultKey(plan.sweepId, index);
  if (!(await objects.exists(key))) return undefined;
  const text = await getText(objects, key);
  return { text, result: TrialResultSchema.parse(JSON.parse(text)) as TrialResult };
}

async function results(objects: ObjectStore, plan: Plan) {
  return Promise.all(plan.trials.map((t) => readResult(objects, plan, t.index)));
}

const terminal = (d: ExecutorDescription) =>
  d.trials.filter((t) => t.status === 'succeeded' || t.status === 'failed').length;

export function executorContract(name: string, make: () => Promise<ExecutorFixture>) {
  describe(`${name} (Executor contract)`, () => {
    let f: ExecutorFixture;
    beforeEach(async () => {
      f = await make();
    });
    afterEach(async () => {
      await f.cleanup();
    });

    /** Submits as the service does: the job ids go on the sweep record. */
    async function submit(plan: Plan, finished?: ReadonlyMap<number, 'succeeded' | 'failed'>) {
      const { jobIds } = await f.executor.submit(plan, finished ? { finished } : {});
      if (jobIds.length > 0) await f.state.updateSweep(plan.sweepId, { jobIds });
      return jobIds;
    }

    it(
      'submit returns before the trials finish, with its job ids; every trial ends with a TrialResult',
      async () => {
        const plan = await f.plan(FOUR);
        expect(plan.trials).toHaveLength(4);
        const started = Date.now();
        const jobIds = await submit(plan);
        // Generous bound: submit accepts the trials, it does not wait for them.
        expect(Date.now() - started).toBeLessThan(15_000);
        expect(jobIds).toHaveLength(f.jobIdsFor(4));
        expect(new Set(jobIds).size).toBe(jobIds.length);
        const early = await results(f.objects, plan);
        expect(early.filter(Boolean).length).toBeLessThan(4);

        await f.waitUntilTerminal(plan.sweepId);

        const done = await results(f.objects, plan);
        for (const [index, r] of done.entries()) {
          expect(r?.result).toMatchObject({
            sweepId: plan.sweepId,
            trialIndex: index,
            status: 'succeeded',
          });
        }
        expect([...(await f.startedTrials(plan.sweepId))].sort((a, b) => a - b)).toEqual([
          0, 1, 2, 3,
        ]);
      },
      TIMEOUT,
    );

    it(
      'reports progress while trials run, rising to all terminal',
      async () => {
        const plan = await f.plan(FOUR);
        const jobIds = await submit(plan);
        const descriptions: ExecutorDescription[] = [];
        const progress: ExecutorProgress[] = [];
        let finished = false;
        const waiting = f.waitUntilTerminal(plan.sweepId).finally(() => {
          finished = true;
        });
        while (!finished) {
          descriptions.push(await f.executor.describe(plan.sweepId));
          const p = await f.executor.progress?.(plan.sweepId, jobIds);
          if (p) progress.push(p);
          await sleep(400);
        }
        await waiting;
        descriptions.push(await f.executor.describe(plan.sweepId));
        const last = await f.executor.progress?.(plan.sweepId, jobIds);
        if (last) progress.push(last);

        for (const d of descriptions) {
          expect(d.sweepId).toBe(plan.sweepId);
          expect(d.trials.map((t) => t.index)).toEqual([0, 1, 2, 3]);
        }
        // It saw trials running, and the count of terminal trials only rose, to all of them.
        expect(descriptions.some((d) => d.trials.some((t) => t.status === 'running'))).toBe(true);
        const counts = descriptions.map(terminal);
        expect(counts[0]).toBeLessThan(4);
        expect(counts).toEqual([...counts].sort((a, b) => a - b));
        expect(descriptions.at(-1)?.trials.map((t) => t.status)).toEqual(
          Array(4).fill('succeeded'),
        );
        if (f.executor.progress && f.jobIdsFor(4) > 0) {
          expect(progress.length).toBe(descriptions.length);
          for (const p of progress) expect(p.pending + p.running + p.succeeded + p.failed).toBe(4);
          expect(progress.some((p) => p.running > 0)).toBe(true);
          const done = progress.map((p) => p.succeeded + p.failed);
          expect(done).toEqual([...done].sort((a, b) => a - b));
          expect(progress.at(-1)).toEqual({ pending: 0, running: 0, succeeded: 4, failed: 0 });
        }
      },
      TIMEOUT,
    );

    it(
      'fails a crashing trial alone, with a failed TrialResult naming why',
      async () => {
        const plan = await f.plan(FOUR);
        f.crash(1);
        await submit(plan);
        await f.waitUntilTerminal(plan.sweepId);

        const done = await results(f.objects, plan);
        expect(done.map((r) => r?.result.status)).toEqual([
          'succeeded',
          'failed',
          'succeeded',
          'succeeded',
        ]);
        expect(done[1]?.result.reason).toMatch(/without writing a result/);
        expect(done[1]?.result).toMatchObject({ sweepId: plan.sweepId, trialIndex: 1 });
        const described = await f.executor.describe(plan.sweepId);
        expect(described.trials.map((t) => t.status)).toEqual([
          'succeeded',
          'failed',
          'succeeded',
          'succeeded',
        ]);
      },
      TIMEOUT,
    );

    it(
      'cancel starts no further trial and stops the running ones, which write no result; a resume runs the rest',
      async () => {
        const plan = await f.plan(SIX);
        expect(plan.trials).toHaveLength(6);
        const jobIds = await submit(plan);
        await until('a trial has finished', async () =>
          (await results(f.objects, plan)).some(Boolean),
        );

        // As cancelSweep does: the sweep is cancelled, then the executor is told.
        await f.state.updateSweep(plan.sweepId, { status: 'cancelled' });
        await f.executor.cancel(plan.sweepId, jobIds);
        const startedAtCancel = await f.startedTrials(plan.sweepId);
        // Some trials had not started: the cancel has something to hold back.
        expect(new Set(startedAtCancel).size).toBeLessThan(6);
        await until(
          'none of the sweep trainers runs',
          async () => (await f.liveTrainers(plan.sweepId)) === 0,
        );
        await f.waitUntilTerminal(plan.sweepId);
        await sleep(1000);
        expect(await f.startedTrials(plan.sweepId)).toEqual(startedAtCancel);
        expect(await f.liveTrainers(plan.sweepId)).toBe(0);
        await f.assertCancelled?.(plan.sweepId, jobIds);

        // Only trials that finished have results, succeeded ones: a stopped trial writes none.
        const afterCancel = await results(f.objects, plan);
        const finished = new Map<number, 'succeeded' | 'failed'>();
        const before = new Map<number, string>();
        for (const [index, r] of afterCancel.entries()) {
          if (!r) continue;
          expect(r.result.status).toBe('succeeded');
          expect(startedAtCancel).toContain(index);
          finished.set(index, 'succeeded');
          before.set(index, r.text);
        }
        expect(finished.size).toBeGreaterThan(0);
        expect(finished.size).toBeLessThan(6);

        // Resume, as resumeSweep does: running again, the finished trials passed along.
        await f.state.updateSweep(plan.sweepId, { status: 'running' });
        const resumedIds = await submit(plan, finished);
        expect(resumedIds).toHaveLength(f.jobIdsFor(6));
        await f.waitUntilTerminal(plan.sweepId);

        const resumed = await results(f.objects, plan);
        expect(resumed.map((r) => r?.result.status)).toEqual(Array(6).fill('succeeded'));
        // The finished trials were not trained again: their results are untouched.
        for (const [index, text] of before) expect(resumed[index]?.text).toBe(text);
        const startedAgain = (await f.startedTrials(plan.sweepId)).slice(startedAtCancel.length);
        const unfinished = plan.trials.map((t) => t.index).filter((i) => !finished.has(i));
        if (f.resumeFinished === 'skipped') {
          expect([...startedAgain].sort((a, b) => a - b)).toEqual(unfinished);
        } else {
          for (const i of unfinished) expect(startedAgain).toContain(i);
        }
      },
      TIMEOUT,
    );
  });
}
