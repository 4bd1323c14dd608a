import {
  BatchClient,
  ListJobsCommand,
  SubmitJobCommand,
  TerminateJobCommand,
} from '@aws-sdk/client-batch';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  BatchExecutor,
  isThrottle,
  isTransient,
  splitTrials,
} from '../../../../../shared/adapters/aws/batch-executor.js';
import {
  BATCH_ATTEMPTS,
  BATCH_RETRY_RULES,
  BATCH_RETRY_STRATEGY,
  evaluateOnExit,
  FINAL_EXIT_CODES,
} from '../../../../../shared/adapters/aws/batch-retry.js';
import type { Plan } from '../../../../../shared/schemas/plan.js';
import { TRAINER_EXIT } from '../../../../../shared/schemas/runtime-env.js';
import { EXIT, readTrainerEnv, resolveTrialIndex } from '../../../../../trainer/config.js';
import { planFactory } from '../../../../helpers/factories.js';

const batch = mockClient(BatchClient);

function planWithTrials(n: number, sweepId = '01JD3SWEEP'): Plan {
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

const sdkError = (name: string, status: number | undefined, message = name) =>
  Object.assign(new Error(message), {
    name,
    $metadata: status === undefined ? {} : { httpStatusCode: status },
  });

function executor(sleeps: number[] = []) {
  return new BatchExecutor({
    client: new BatchClient({ region: 'us-east-1' }),
    jobQueue: 'foldsweep-gpu',
    jobDefinition: 'foldsweep-trainer',
    bucket: 'foldsweep-data',
    backoff: {
      baseDelayMs: 100,
      maxAttempts: 4,
      random: () => 1,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    },
  });
}

beforeEach(() => {
  batch.reset();
});

describe('splitTrials()', () => {
  it.each([
    [2, [2]],
    [1000, [1000]],
    [10_000, [10_000]],
    [10_001, [5001, 5000]],
    [25_000, [8334, 8333, 8333]],
  ])('splits %i trials into array jobs of %j', (n, sizes) => {
    const parts = splitTrials(n);

    expect(parts.map((p) => p.size)).toEqual(sizes);
    expect(parts.map((p) => p.offset)).toEqual(
      sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0)),
    );
    expect(parts.every((p) => p.parts === sizes.length)).toBe(true);
  });

  it('never makes an array smaller than Batch allows (2)', () => {
    for (const n of [3, 5, 7, 10_001, 20_001, 30_001]) {
      expect(splitTrials(n, 4).length > 0 && splitTrials(n).every((p) => p.size >= 2)).toBe(true);
    }
    expect(splitTrials(5, 4).map((p) => p.size)).toEqual([3, 2]);
  });

  it('makes one plain job for a single trial', () => {
    expect(splitTrials(1)).toEqual([{ part: 0, parts: 1, offset: 0, size: 1 }]);
  });
});

describe('BatchExecutor.submitJobInput()', () => {
  it('describes the whole sweep in one array job request', () => {
    const input = executor().submitJobInput(planWithTrials(1000), splitTrials(1000)[0]);

    expect(input).toEqual({
      jobName: 'foldsweep-01JD3SWEEP',
      jobQueue: 'foldsweep-gpu',
      jobDefinition: 'foldsweep-trainer',
      arrayProperties: { size: 1000 },
      containerOverrides: {
        environment: [
          { name: 'FOLDSWEEP_PLAN_KEY', value: 'sweeps/01JD3SWEEP/plan.json' },
          { name: 'FOLDSWEEP_BUCKET', value: 'foldsweep-data' },
          { name: 'FOLDSWEEP_SWEEP_ID', value: '01JD3SWEEP' },
          { name: 'FOLDSWEEP_TRIAL_OFFSET', value: '0' },
        ],
      },
      retryStrategy: BATCH_RETRY_STRATEGY,
      timeout: { attemptDurationSeconds: 14_400 },
      tags: {
        'foldsweep:sweep-id': '01JD3SWEEP',
        'foldsweep:part': '0',
        'foldsweep:parts': '1',
        'foldsweep:trial-offset': '0',
      },
      propagateTags: true,
    });
  });

  it('sends a one-trial sweep as a plain job naming its trial', () => {
    const input = executor().submitJobInput(planWithTrials(1), splitTrials(1)[0]);

    expect(input.arrayProperties).toBeUndefined();
    expect(input.containerOverrides?.environment).toContainEqual({
      name: 'FOLDSWEEP_TRIAL_INDEX',
      value: '0',
    });
  });
});

describe('BatchExecutor.submit()', () => {
  it('makes ONE SubmitJob call for 1,000 trials', async () => {
    batch.on(SubmitJobCommand).resolves({ jobId: 'job-1', jobName: 'foldsweep-01JD3SWEEP' });

    await executor().submit(planWithTrials(1000));

    expect(batch.calls()).toHaveLength(1);
    expect(batch.commandCalls(SubmitJobCommand)[0].args[0].input.arrayProperties).toEqual({
      size: 1000,
    });
  });

  it('submits one array job per 10,000 trials, each with its trial offset', async () => {
    batch.on(SubmitJobCommand).callsFake((input) => ({ jobId: `job-${input.jobName}` }));

    await executor().submit(planWithTrials(20_001));

    const inputs = batch.commandCalls(SubmitJobCommand).map((c) => c.args[0].input);
    expect(
      inputs.map((i) => [i.jobName, i.arrayProperties?.size, i.tags?.['foldsweep:trial-offset']]),
    ).toEqual([
      ['foldsweep-01JD3SWEEP-part1of3', 6667, '0'],
      ['foldsweep-01JD3SWEEP-part2of3', 6667, '6667'],
      ['foldsweep-01JD3SWEEP-part3of3', 6667, '13334'],
    ]);
  });

  it('terminates the parts already submitted when a later part fails, then throws', async () => {
    batch
      .on(SubmitJobCommand)
      .resolvesOnce({ jobId: 'job-a' })
      .rejects(sdkError('ClientException', 400, 'Job definition not found'));
    batch.on(TerminateJobCommand).resolves({});

    await expect(executor().submit(planWithTrials(15_000))).rejects.toThrow(/not found/);

    expect(batch.commandCalls(TerminateJobCommand).map((c) => c.args[0].input.jobId)).toEqual([
      'job-a',
    ]);
  });

  it('backs off exponentially while SubmitJob is throttled', async () => {
    const sleeps: number[] = [];
    batch
      .on(SubmitJobCommand)
      .rejectsOnce(sdkError('ClientException', 429, 'Too Many Requests.'))
      .rejectsOnce(sdkError('ClientException', 429, 'Too Many Requests.'))
      .resolves({ jobId: 'job-1' });

    await executor(sleeps).submit(planWithTrials(10));

    expect(batch.commandCalls(SubmitJobCommand)).toHaveLength(3);
    expect(batch.commandCalls(ListJobsCommand)).toHaveLength(0);
    expect(sleeps).toEqual([100, 200]);
  });

  it('looks for the job before resubmitting after a server error, and adopts it', async () => {
    batch
      .on(SubmitJobCommand)
      .rejectsOnce(sdkError('ServerException', 500))
      .resolves({ jobId: 'x' });
    batch.on(ListJobsCommand).resolves({
      jobSummaryList: [{ jobId: 'job-1', jobName: 'foldsweep-01JD3SWEEP', createdAt: 1 }],
    });

    await executor().submit(planWithTrials(10));

    expect(batch.commandCalls(SubmitJobCommand)).toHaveLength(1);
    expect(batch.commandCalls(ListJobsCommand)[0].args[0].input).toMatchObject({
      jobQueue: 'foldsweep-gpu',
      filters: [{ name: 'JOB_NAME', values: ['foldsweep-01JD3SWEEP'] }],
    });
  });

  it('resubmits after a server error when the job does not exist', async () => {
    batch
      .on(SubmitJobCommand)
      .rejectsOnce(sdkError('ServerException', 503))
      .resolves({ jobId: 'j' });
    batch.on(ListJobsCommand).resolves({ jobSummaryList: [] });

    await executor().submit(planWithTrials(10));

    expect(batch.commandCalls(SubmitJobCommand)).toHaveLength(2);
  });

  it('gives up after maxAttempts and rethrows the last error', async () => {
    batch.on(SubmitJobCommand).rejects(sdkError('ClientException', 429, 'Too Many Requests.'));

    await expect(executor().submit(planWithTrials(10))).rejects.toThrow('Too Many Requests.');
    expect(batch.commandCalls(SubmitJobCommand)).toHaveLength(4);
  });

  it('does not retry a client error', async () => {
    batch.on(SubmitJobCommand).rejects(sdkError('ClientException', 400, 'bad queue'));

    await expect(executor().submit(planWithTrials(10))).rejects.toThrow('bad queue');
    expect(batch.commandCalls(SubmitJobCommand)).toHaveLength(1);
  });
});

describe('isThrottle() / isTransient()', () => {
  it('classifies SDK errors', () => {
    expect(isThrottle(sdkError('ClientException', 429, 'Too Many Requests.'))).toBe(true);
    expect(isThrottle(sdkError('ClientException', 400))).toBe(false);
    expect(isTransient(sdkError('ServerException', 500))).toBe(true);
    expect(isTransient(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBe(
      true,
    );
    expect(isTransient(sdkError('ClientException', 400))).toBe(false);
  });
});

describe('BATCH_RETRY_STRATEGY', () => {
  it('fits Batch limits: at most 5 rules, 1-10 attempts, a catch-all EXIT last', () => {
    expect(BATCH_RETRY_RULES.length).toBeLessThanOrEqual(5);
    expect(BATCH_ATTEMPTS).toBeGreaterThanOrEqual(1);
    expect(BATCH_ATTEMPTS).toBeLessThanOrEqual(10);
    expect(BATCH_RETRY_RULES.at(-1)).toEqual({ onReason: '*', action: 'EXIT' });
  });

  it.each([
    ['a Spot reclaim', { statusReason: 'Host EC2 (instance i-0abc) terminated.' }, 'RETRY'],
    [
      'a SIGKILLed container',
      { exitCode: 137, statusReason: 'Essential container in task exited' },
      'RETRY',
    ],
    [
      'an out-of-memory kill',
      { exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage' },
      'EXIT',
    ],
    ['a failed trial (exit 2)', { exitCode: TRAINER_EXIT.trialFailed }, 'EXIT'],
    ['a bad environment (exit 3)', { exitCode: TRAINER_EXIT.config }, 'EXIT'],
    ['a crash (exit 1)', { exitCode: 1 }, 'EXIT'],
  ])('answers %s with %s', (_, attempt, action) => {
    expect(evaluateOnExit(BATCH_RETRY_RULES, attempt)).toBe(action);
  });

  it("treats the trainer's failure exit codes as final", () => {
    for (const code of FINAL_EXIT_CODES) {
      expect(evaluateOnExit(BATCH_RETRY_RULES, { exitCode: code })).toBe('EXIT');
    }
    expect(EXIT).toBe(TRAINER_EXIT);
  });

  it('retries by default when no rule matches (Batch semantics)', () => {
    expect(evaluateOnExit([{ onExitCode: '1', action: 'EXIT' }], { exitCode: 2 })).toBe('RETRY');
    expect(
      evaluateOnExit([{ onExitCode: '13*', action: 'exit' as 'EXIT' }], { exitCode: 137 }),
    ).toBe('EXIT');
  });
});

describe('the job environment, as the trainer reads it on Batch', () => {
  const batchEnv = (input: ReturnType<BatchExecutor['submitJobInput']>, arrayIndex?: number) => ({
    ...Object.fromEntries(
      (input.containerOverrides?.environment ?? []).map((e) => [e.name, e.value]),
    ),
    AWS_BATCH_JOB_ID: arrayIndex === undefined ? 'job-1' : `job-1:${arrayIndex}`,
    AWS_BATCH_JOB_ATTEMPT: '2',
    ...(arrayIndex === undefined ? {} : { AWS_BATCH_JOB_ARRAY_INDEX: String(arrayIndex) }),
  });

  it('gives child i of part p trial offset(p) + i, its attempt, and S3 storage', () => {
    const parts = splitTrials(20_001);
    const input = executor().submitJobInput(planWithTrials(20_001), parts[2]);

    const env = readTrainerEnv(batchEnv(input, 41));

    expect(env).toMatchObject({
      trialIndex: parts[2].offset + 41,
      attempt: 2,
      FOLDSWEEP_PLAN_KEY: 'sweeps/01JD3SWEEP/plan.json',
      storage: { kind: 's3', bucket: 'foldsweep-data' },
    });
  });

  it('gives a one-trial job its trial index', () => {
    const input = executor().submitJobInput(planWithTrials(1), splitTrials(1)[0]);

    expect(readTrainerEnv(batchEnv(input))).toMatchObject({ trialIndex: 0, attempt: 2 });
  });

  it('keeps the local path on the file system', () => {
    expect(
      readTrainerEnv({
        FOLDSWEEP_PLAN_KEY: 'p.json',
        FOLDSWEEP_TRIAL_INDEX: '3',
        FOLDSWEEP_HOME: '/h',
      }),
    ).toMatchObject({ trialIndex: 3, attempt: 1, storage: { kind: 'fs', home: '/h' } });
  });

  it('refuses to run on Batch without the bucket, naming the variable', () => {
    expect(() =>
      readTrainerEnv({
        FOLDSWEEP_PLAN_KEY: 'p.json',
        AWS_BATCH_JOB_ID: 'j:0',
        AWS_BATCH_JOB_ARRAY_INDEX: '0',
      }),
    ).toThrow(/FOLDSWEEP_BUCKET/);
  });
});

describe('BatchExecutor with successive-halving rungs', () => {
  const batchEnv = (input: ReturnType<BatchExecutor['submitJobInput']>, arrayIndex?: number) => ({
    ...Object.fromEntries(
      (input.containerOverrides?.environment ?? []).map((e) => [e.name, e.value]),
    ),
    AWS_BATCH_JOB_ID: arrayIndex === undefined ? 'job-1' : `job-1:${arrayIndex}`,
    ...(arrayIndex === undefined ? {} : { AWS_BATCH_JOB_ARRAY_INDEX: String(arrayIndex) }),
  });
  const rung = { rung: 2, trials: [5, 11, 20] };

  beforeEach(() => {
    batch.reset();
  });

  it('submits ONE array job per rung, named and tagged with the rung, sized to its trials', async () => {
    // Prepare
    batch.on(SubmitJobCommand).resolves({ jobId: 'rung-2-job', jobName: 'x' });

    // Act
    const { jobIds } = await executor().submit(planWithTrials(30), { rung });

    // Assess
    expect(jobIds).toEqual(['rung-2-job']);
    const calls = batch.commandCalls(SubmitJobCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0].args[0].input;
    expect(input.jobName).toBe('foldsweep-01JD3SWEEP-rung2');
    expect(input.arrayProperties).toEqual({ size: 3 });
    expect(input.tags).toMatchObject({ 'foldsweep:rung': '2', 'foldsweep:trial-offset': '0' });
  });

  it('gives child i the rung list position offset + i, resolved to the listed trial', async () => {
    // Prepare
    const input = executor().submitJobInput(planWithTrials(30), {
      ...splitTrials(3)[0],
      rung,
    });
    const env = readTrainerEnv(batchEnv(input, 1));

    // Act
    const trial = await resolveTrialIndex(env, async (key) => {
      expect(key).toBe('sweeps/01JD3SWEEP/rungs/002.json');
      return { rung: 2, trials: rung.trials };
    });

    // Assess
    expect(env.FOLDSWEEP_TRIAL_LIST_KEY).toBe('sweeps/01JD3SWEEP/rungs/002.json');
    expect(trial).toBe(11);
    await expect(resolveTrialIndex({ ...env, trialIndex: 3 }, async () => rung)).rejects.toThrow(
      /position 3 is outside/,
    );
  });

  it('gives a one-trial rung its trial index directly (a plain job)', () => {
    // Act
    const input = executor().submitJobInput(planWithTrials(30), {
      ...splitTrials(1)[0],
      rung: { rung: 1, trials: [17] },
    });

    // Assess
    expect(input.arrayProperties).toBeUndefined();
    expect(readTrainerEnv(batchEnv(input))).toMatchObject({ trialIndex: 17 });
  });
});
