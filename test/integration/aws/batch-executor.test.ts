import { BatchClient } from '@aws-sdk/client-batch';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BatchExecutor,
  type BatchExecutorOptions,
} from '../../../shared/adapters/aws/batch-executor.js';
import { BATCH_RETRY_STRATEGY } from '../../../shared/adapters/aws/batch-retry.js';
import { BatchJobStateChangeEventSchema } from '../../../shared/schemas/events.js';
import type { Plan } from '../../../shared/schemas/plan.js';
import type {
  BatchApiError,
  BatchEmulatorOptions,
  ContainerContext,
  ContainerExit,
} from '../../batch-emulator/emulator.js';
import {
  EMULATOR_CREDENTIALS,
  type RunningBatchEmulator,
  startBatchEmulator,
} from '../../batch-emulator/server.js';
import { planFactory } from '../../helpers/factories.js';

const QUEUE = 'foldsweep-queue';
const DEFINITION = 'foldsweep-trainer';

/** A plan with `n` trials (the executor only reads the sweep id and the trial count). */
function planWithTrials(n: number, sweepId = 'sweep-batch'): Plan {
  const plan = planFactory({ sweepId });
  return {
    ...plan,
    trials: Array.from({ length: n }, (_, index) => ({
      index,
      variantId: plan.variants[0].id,
      variantIndex: 0,
      fold: index % plan.folds,
    })),
  };
}

/** The trial a container runs, computed as trainer/config.ts does. */
const trialOf = (env: Record<string, string>) =>
  env.FOLDSWEEP_TRIAL_INDEX !== undefined
    ? Number(env.FOLDSWEEP_TRIAL_INDEX)
    : Number(env.FOLDSWEEP_TRIAL_OFFSET) + Number(env.AWS_BATCH_JOB_ARRAY_INDEX);

let batch: RunningBatchEmulator | undefined;

afterEach(async () => {
  await batch?.close();
  batch = undefined;
});

async function setUp(
  container: (ctx: ContainerContext) => Promise<ContainerExit>,
  options: Partial<BatchEmulatorOptions> = {},
  executorOptions: Partial<BatchExecutorOptions> = {},
) {
  const running = await startBatchEmulator({
    jobQueues: [QUEUE],
    jobDefinitions: { [DEFINITION]: { run: container } },
    concurrency: 8,
    timeScale: 0.001,
    ...options,
  });
  batch = running;
  const client = new BatchClient({
    endpoint: running.endpoint,
    region: 'us-east-1',
    credentials: EMULATOR_CREDENTIALS,
    maxAttempts: 1,
  });
  const executor = new BatchExecutor({
    client,
    jobQueue: `arn:aws:batch:us-east-1:123456789012:job-queue/${QUEUE}`,
    jobDefinition: DEFINITION,
    bucket: 'foldsweep-test-bucket',
    backoff: { baseDelayMs: 1, sleep: async () => {} },
    ...executorOptions,
  });
  return { batch: running, emulator: running.emulator, executor };
}

const succeed = async (): Promise<ContainerExit> => ({ exitCode: 0 });

describe('BatchExecutor against the Batch emulator', () => {
  it('submits ONE array job; child i runs trial i with the environment Batch sets', async () => {
    const seen: Record<string, string>[] = [];
    const { batch, emulator, executor } = await setUp(async ({ env }) => {
      seen.push(env);
      return { exitCode: 0 };
    });

    await executor.submit(planWithTrials(9));
    await emulator.idle();

    expect(batch.calls).toEqual({ SubmitJob: 1 });
    expect(seen.map(trialOf).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(seen[0]).toMatchObject({
      FOLDSWEEP_PLAN_KEY: 'sweeps/sweep-batch/plan.json',
      FOLDSWEEP_BUCKET: 'foldsweep-test-bucket',
      FOLDSWEEP_SWEEP_ID: 'sweep-batch',
      FOLDSWEEP_TRIAL_OFFSET: '0',
      AWS_BATCH_JOB_ATTEMPT: '1',
      AWS_BATCH_JQ_NAME: QUEUE,
    });
    expect(seen[0].AWS_BATCH_JOB_ID).toMatch(/^[0-9a-f-]{36}:\d$/);
    const parent = [...emulator.jobs.values()].find((j) => j.size === 9);
    expect(parent).toMatchObject({
      jobName: 'foldsweep-sweep-batch',
      status: 'SUCCEEDED',
      tags: { 'foldsweep:sweep-id': 'sweep-batch', 'foldsweep:part': '0', 'foldsweep:parts': '1' },
      retryStrategy: BATCH_RETRY_STRATEGY,
      attemptDurationSeconds: 4 * 3600,
    });
    // The events are EventBridge's real shape: our schema parses every one of them.
    for (const event of emulator.events) BatchJobStateChangeEventSchema.parse(event);
    const parentEvents = emulator.events.filter((e) => e.detail.jobId === parent?.jobId);
    expect(parentEvents.map((e) => e.detail.status)).toEqual(['PENDING', 'SUCCEEDED']);
  });

  it('makes one SDK call to Batch for a sweep of 1,000 trials (one SubmitJob)', async () => {
    const ran = new Set<number>();
    const { batch, emulator, executor } = await setUp(
      async ({ env }) => {
        ran.add(trialOf(env));
        return { exitCode: 0 };
      },
      { concurrency: 200 },
    );

    await executor.submit(planWithTrials(1000, 'sweep-1000'));
    await emulator.idle();

    expect(batch.calls).toEqual({ SubmitJob: 1 });
    expect(batch.totalCalls()).toBe(1);
    expect(ran.size).toBe(1000);
  });

  it('splits a sweep larger than the array limit into balanced array jobs with trial offsets', async () => {
    const ran: number[] = [];
    const { batch, emulator, executor } = await setUp(
      async ({ env }) => {
        ran.push(trialOf(env));
        return { exitCode: 0 };
      },
      {},
      { maxArraySize: 4 },
    );

    await executor.submit(planWithTrials(9));
    await emulator.idle();

    expect(batch.calls).toEqual({ SubmitJob: 3 });
    expect(ran.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const parents = [...emulator.jobs.values()].filter((j) => j.size !== undefined);
    expect(parents.map((p) => [p.jobName, p.size, p.tags['foldsweep:trial-offset']])).toEqual([
      ['foldsweep-sweep-batch-part1of3', 3, '0'],
      ['foldsweep-sweep-batch-part2of3', 3, '3'],
      ['foldsweep-sweep-batch-part3of3', 3, '6'],
    ]);
  });

  it('honours the retry strategy: SIGKILL retries up to 3 attempts, failed trials and OOM do not', async () => {
    const attempts = new Map<number, number>();
    const { emulator, executor } = await setUp(async ({ env, attempt }) => {
      const trial = trialOf(env);
      attempts.set(trial, attempt);
      if (trial === 1 && attempt === 1) return { exitCode: 137 }; // SIGKILLed
      if (trial === 2) return { exitCode: 2 }; // TRAINER_EXIT.trialFailed
      if (trial === 3)
        return { exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage' };
      if (trial === 4) return { exitCode: 137 }; // killed on every attempt
      return { exitCode: 0 };
    });

    await executor.submit(planWithTrials(6));
    await emulator.idle();

    const parent = [...emulator.jobs.values()].find((j) => j.size === 6);
    const child = (i: number) => emulator.job(`${parent?.jobId}:${i}`);
    expect([0, 1, 2, 3, 4, 5].map((i) => child(i).status)).toEqual([
      'SUCCEEDED',
      'SUCCEEDED',
      'FAILED',
      'FAILED',
      'FAILED',
      'SUCCEEDED',
    ]);
    expect(Object.fromEntries(attempts)).toEqual({ 0: 1, 1: 2, 2: 1, 3: 1, 4: 3, 5: 1 });
    expect(parent?.status).toBe('FAILED');
  });

  it('retries a child whose host is reclaimed (status reason Host EC2...)', async () => {
    const { emulator, executor } = await setUp(({ attempt, signal }) =>
      attempt === 1
        ? new Promise((resolve) =>
            signal.addEventListener('abort', () => resolve({ exitCode: 137 })),
          )
        : succeed(),
    );

    await executor.submit(planWithTrials(2));
    const parent = await waitForParent(emulator);
    await emulator.waitFor(() => emulator.job(`${parent}:0`).status === 'RUNNING');
    emulator.reclaimHost(`${parent}:0`);
    emulator.reclaimHost(`${parent}:1`);
    await emulator.idle();

    const child = emulator.job(`${parent}:0`);
    expect(child.status).toBe('SUCCEEDED');
    expect(child.attempts.map((a) => a.statusReason)).toEqual([
      'Host EC2 (instance i-0e4d5c6b7a8f9e0d1) terminated.',
      'Essential container in task exited',
    ]);
  });

  it('fails an attempt that exceeds its timeout, without retrying it', async () => {
    const { emulator, executor } = await setUp(
      ({ signal }) =>
        new Promise((resolve) =>
          signal.addEventListener('abort', () => resolve({ exitCode: 143 })),
        ),
      {},
      { attemptTimeoutSeconds: 60 },
    );

    await executor.submit(planWithTrials(2));
    await emulator.idle();

    const children = [...emulator.jobs.values()].filter((j) => j.index !== undefined);
    expect(children.map((c) => [c.status, c.statusReason, c.attempts.length])).toEqual([
      ['FAILED', 'Job attempt duration exceeded timeout', 1],
      ['FAILED', 'Job attempt duration exceeded timeout', 1],
    ]);
  });

  it('backs off and resubmits when SubmitJob is throttled', async () => {
    let throttles = 2;
    const { batch, emulator, executor } = await setUp(succeed, {
      intercept: (op): BatchApiError | undefined =>
        op === 'SubmitJob' && throttles-- > 0
          ? { status: 429, type: 'ClientException', message: 'Too Many Requests.' }
          : undefined,
    });

    await executor.submit(planWithTrials(3));
    await emulator.idle();

    expect(batch.calls).toEqual({ SubmitJob: 3 });
    expect([...emulator.jobs.values()].filter((j) => j.size !== undefined)).toHaveLength(1);
  });

  it('does not submit twice when a SubmitJob succeeded but its response was lost', async () => {
    let lose = 1;
    const { batch, emulator, executor } = await setUp(succeed, {
      intercept: (op): BatchApiError | undefined =>
        op === 'SubmitJob' && lose-- > 0
          ? { status: 500, type: 'ServerException', message: 'internal', afterHandling: true }
          : undefined,
    });

    await executor.submit(planWithTrials(3));
    await emulator.idle();

    expect(batch.calls).toEqual({ SubmitJob: 1, ListJobs: 1 });
    expect([...emulator.jobs.values()].filter((j) => j.size !== undefined)).toHaveLength(1);
  });

  it('rethrows a client error at once (no retry)', async () => {
    const { batch, executor } = await setUp(succeed, {}, { jobQueue: 'no-such-queue' });

    await expect(executor.submit(planWithTrials(3))).rejects.toThrow(/no-such-queue not found/);
    expect(batch.calls).toEqual({ SubmitJob: 1 });
  });

  it('cancel() terminates the array parents; Batch terminates their children', async () => {
    const { batch, emulator, executor } = await setUp(
      ({ signal }) =>
        new Promise((resolve) =>
          signal.addEventListener('abort', () => resolve({ exitCode: 143 })),
        ),
      { concurrency: 2 },
      { maxArraySize: 3 },
    );
    await executor.submit(planWithTrials(6));
    await emulator.waitFor(
      () => [...emulator.jobs.values()].filter((j) => j.status === 'RUNNING').length === 2,
    );

    await executor.cancel('sweep-batch');
    await emulator.idle();

    const children = [...emulator.jobs.values()].filter((j) => j.index !== undefined);
    expect(children.every((c) => c.status === 'FAILED' && c.isTerminated)).toBe(true);
    expect(children.filter((c) => c.isCancelled)).toHaveLength(4);
    expect(batch.calls).toMatchObject({ ListJobs: 1, TerminateJob: 2 });
  });

  it('describe() reports each trial from its child job', async () => {
    const release: (() => void)[] = [];
    const { emulator, executor } = await setUp(
      async ({ env }) => {
        if (trialOf(env) === 0) return { exitCode: 0 };
        if (trialOf(env) === 1) return { exitCode: 2 };
        return new Promise((resolve) => release.push(() => resolve({ exitCode: 0 })));
      },
      { concurrency: 1 },
    );
    await executor.submit(planWithTrials(4));
    const parent = await waitForParent(emulator);
    const running = (i: number) => () => emulator.job(`${parent}:${i}`).status === 'RUNNING';
    await emulator.waitFor(running(2));

    const during = await executor.describe('sweep-batch');
    release[0]();
    await emulator.waitFor(running(3));
    release[1]();
    await emulator.idle();
    const after = await executor.describe('sweep-batch');

    expect(during.trials).toEqual([
      { index: 0, status: 'succeeded' },
      { index: 1, status: 'failed' },
      { index: 2, status: 'running' },
      { index: 3, status: 'pending' },
    ]);
    expect(after.trials.map((t) => t.status)).toEqual([
      'succeeded',
      'failed',
      'succeeded',
      'succeeded',
    ]);
  });
});

async function waitForParent(emulator: RunningBatchEmulator['emulator']): Promise<string> {
  await emulator.waitFor(() => [...emulator.jobs.values()].some((j) => j.size !== undefined));
  return [...emulator.jobs.values()].find((j) => j.size !== undefined)?.jobId as string;
}
