/**
 * A sweep's lifecycle on the AWS path, on loopback stand-ins (s3rver, dynalite, the Batch
 * emulator, a Lambda Invoke stand-in): the base model and the full Fashion-MNIST training IDX
 * (60,000 images) live in S3; the api handler answers 202 before any preparation; the prepare
 * function (invoked asynchronously) prepares and submits; progress rises while the array job
 * runs; the aggregator settles only the stored job id, promotes once, does no work for
 * duplicates, fails a poisoned aggregation after Lambda's three attempts; cancel terminates the
 * array job and no further trial starts.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStateStore } from '../../shared/adapters/aws/dynamo-state-store.js';
import { trialModelPrefix, trialResultKey } from '../../shared/schemas/plan.js';
import type { BatchEventOutcome } from '../../shared/service/batch-events.js';
import type { SweepView } from '../../shared/service/sweeps.js';
import { batchStateChangeEventFactory } from '../batch-emulator/events.js';
import {
  apiGatewayEvent,
  type LocalAwsStack,
  startLocalAwsStack,
  TEST_PREPARE_FUNCTION,
} from '../helpers/local-aws-stack.js';

const FAULT_TRAINER = fileURLToPath(new URL('../batch-emulator/fault-trainer.ts', import.meta.url));
const FASHION = '/usr/share/datasets/fashion-mnist';
const BASE_MODEL = fileURLToPath(
  new URL('../../examples/fashion-mnist/base-model', import.meta.url),
);

type ApiHandler = (event: unknown) => Promise<{ statusCode: number; body: string }>;
type Aggregator = (event: unknown) => Promise<BatchEventOutcome>;

let stack: LocalAwsStack;
let api: ApiHandler;
let aggregator: Aggregator;
let state: DynamoStateStore;
/** Every aggregator outcome, in delivery order (the emulator retries a throw twice). */
const outcomes: { sweepId?: string; outcome?: BatchEventOutcome; error?: string }[] = [];
/** Runs before the aggregator on a sweep's parent event (a test's fault). */
const beforeAggregation = new Map<string, () => Promise<void>>();

async function call<T>(method: string, path: string, body?: unknown) {
  const res = await api(apiGatewayEvent(method, path, body));
  return { status: res.statusCode, body: JSON.parse(res.body) as T };
}

async function put(key: string, file: string) {
  await stack.s3.client.send(
    new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: await readFile(file) }),
  );
}

beforeAll(async () => {
  stack = await startLocalAwsStack({ trainer: FAULT_TRAINER });
  state = new DynamoStateStore({ client: stack.dynamo.doc, table: stack.table });
  ({ handler: api } = (await import('../../functions/api/lambda.js')) as unknown as {
    handler: ApiHandler;
  });
  ({ handler: aggregator } = await import('../../functions/aggregator/lambda.js'));
  stack.onBatchEvent(async (event) => {
    const sweepId = (event as { detail?: { tags?: Record<string, string> } }).detail?.tags?.[
      'foldsweep:sweep-id'
    ];
    const isParent = !(event as { detail: { jobId: string } }).detail.jobId.includes(':');
    const fault = sweepId && isParent ? beforeAggregation.get(sweepId) : undefined;
    try {
      await fault?.();
      const outcome = await aggregator(event);
      outcomes.push({ sweepId, outcome });
      return outcome;
    } catch (error) {
      outcomes.push({ sweepId, error: (error as Error).message });
      throw error;
    }
  });
  // The user's data and model in S3: the full training IDX pair and the example base model.
  await put(
    'datasets-input/fashion/train-images-idx3-ubyte.gz',
    join(FASHION, 'train-images-idx3-ubyte.gz'),
  );
  await put(
    'datasets-input/fashion/train-labels-idx1-ubyte.gz',
    join(FASHION, 'train-labels-idx1-ubyte.gz'),
  );
  await put('models-input/fashion/model.json', join(BASE_MODEL, 'model.json'));
  await put('models-input/fashion/weights.bin', join(BASE_MODEL, 'weights.bin'));
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

const spec = (overrides: Record<string, unknown> = {}) => ({
  name: 'fashion-s3',
  baseModel: `s3://${stack.bucket}/models-input/fashion/model.json`,
  dataset: {
    uri: `s3://${stack.bucket}/datasets-input/fashion/train-images-idx3-ubyte.gz`,
    format: 'idx',
    subset: { classes: [5, 6, 7, 8, 9], perClass: 8, seed: 1 },
  },
  folds: 2,
  seed: 3,
  searchSpace: { strategy: ['finetune'], freezeDepth: [0, 5], lrMultiplier: [1] },
  training: { learningRate: 0.003, epochs: 2, batchSize: 16, patience: 2 },
  ...overrides,
});

async function submit(body: unknown) {
  await call('GET', '/health'); // a warm function, as a deployed one mostly is
  const started = performance.now();
  const res = await call<{ sweep: { id: string; status: string } }>('POST', '/sweeps', body);
  return { ...res, ms: performance.now() - started };
}

async function poll<T>(what: string, probe: () => Promise<T | undefined>, ms = 180_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const parentEventOf = (sweepId: string) =>
  stack.batch.emulator.events.find((e) => {
    const detail = e.detail as { tags?: Record<string, string>; jobId: string; status: string };
    return (
      detail.tags?.['foldsweep:sweep-id'] === sweepId &&
      !detail.jobId.includes(':') &&
      detail.status === 'SUCCEEDED'
    );
  });

async function lastModified(key: string) {
  const head = await stack.s3.client.send(
    new HeadObjectCommand({ Bucket: stack.bucket, Key: key }),
  );
  return head.LastModified?.getTime();
}

describe('the sweep lifecycle on the AWS path', () => {
  it('answers 202 at once, prepares in its own step, shows progress rising, ignores a foreign job id, promotes once and does no work for duplicates', async () => {
    const created = await submit(spec());

    expect(created.status).toBe(202);
    expect(created.ms).toBeLessThan(1000);
    expect(created.body.sweep.status).toBe('pending');
    const id = created.body.sweep.id;
    expect(stack.lambda.invocations).toContainEqual(
      expect.objectContaining({
        functionName: TEST_PREPARE_FUNCTION,
        type: 'Event',
        event: { sweepId: id },
      }),
    );

    const seen: { status: string; fraction: number }[] = [];
    let foreign: BatchEventOutcome | undefined;
    let trialsBeforeForeign: unknown;
    const done = await poll('the sweep to complete', async () => {
      const view = (await call<SweepView>('GET', `/sweeps/${id}`)).body;
      seen.push({ status: view.status, fraction: view.progress.fraction });
      if (view.status === 'running' && !foreign) {
        // A SUCCEEDED event that carries the sweep's tags but not its job id.
        trialsBeforeForeign = await state.listTrials(id);
        foreign = await aggregator(
          batchStateChangeEventFactory({ sweepId: id, size: 4, jobId: 'f00dfeed-not-ours' }),
        );
        expect((await state.getSweep(id))?.status).toBe('running');
        expect(await state.listTrials(id)).toEqual(trialsBeforeForeign);
      }
      return view.status === 'completed' || view.status === 'failed' ? view : undefined;
    });

    expect(done.status).toBe('completed');
    // The aggregator invocation returns after the sweep reads completed (it writes the report).
    await stack.batch.emulator.idle(60_000);
    expect(foreign).toMatchObject({ handled: false });
    expect((foreign as { reason: string }).reason).toMatch(/is not sweep .* part 0/);
    const statuses = [...new Set(seen.map((s) => s.status))];
    expect(statuses).toEqual(expect.arrayContaining(['running', 'completed']));
    const running = seen.filter((s) => s.status === 'running').map((s) => s.fraction);
    expect(running.some((f) => f > 0 && f < 1)).toBe(true);
    const fractions = seen.map((s) => s.fraction);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    const sweep = await state.getSweep(id);
    // The folds' array job, then the refit's job.
    expect(sweep?.jobIds).toHaveLength(2);
    expect(sweep?.rungJobIds).toEqual([[sweep?.jobIds?.[1]]]);
    const promoted = outcomes.filter(
      (o) => o.sweepId === id && o.outcome?.handled && o.outcome.aggregate?.status === 'completed',
    );
    expect(promoted).toHaveLength(1);
    const champion = await state.getChampion(id);
    expect(champion).toBeDefined();

    // Five duplicate deliveries after completion: cheap no-ops.
    const event = parentEventOf(id);
    expect(event).toBeDefined();
    const metadataKey = `${champion?.modelPrefix}/metadata.json`;
    const before = await lastModified(metadataKey);
    const boardBefore = await lastModified(`sweeps/${id}/leaderboard.json`);
    for (let i = 0; i < 5; i++) {
      const outcome = await aggregator(event);
      expect(outcome).toMatchObject({ handled: false });
      expect((outcome as { reason: string }).reason).toMatch(/already completed/);
    }
    expect(await lastModified(metadataKey)).toBe(before);
    expect(await lastModified(`sweeps/${id}/leaderboard.json`)).toBe(boardBefore);
    expect(await state.getChampion(id)).toEqual(champion);
  }, 300_000);

  it('runs successive halving as one array SubmitJob per rung, each settled by its stored job id', async () => {
    // 4 variants x 2 folds, eta 3: rung 0 = fold 0 of all 4, rung 1 = fold 1 of the best 2.
    const created = await submit(
      spec({
        searchSpace: { strategy: ['finetune'], freezeDepth: [0, 3, 5, 7], lrMultiplier: [1] },
        search: { scheduler: { type: 'successive-halving', eta: 3 } },
      }),
    );
    const id = created.body.sweep.id;

    const done = await poll('the halving sweep to finish', async () => {
      const view = (await call<SweepView>('GET', `/sweeps/${id}`)).body;
      return view.status === 'completed' || view.status === 'failed' ? view : undefined;
    });
    await stack.batch.emulator.idle(60_000);

    expect(done.status).toBe('completed');
    const parents = [...stack.batch.emulator.jobs.values()]
      .filter((j) => !j.parent && j.tags['foldsweep:sweep-id'] === id)
      .sort((a, b) => a.createdAt - b.createdAt);
    expect(
      parents.map((j) => [j.jobName.replace(id, '<id>'), j.size, j.tags['foldsweep:rung']]),
    ).toEqual([
      ['foldsweep-<id>-rung0', 4, '0'],
      ['foldsweep-<id>-rung1', 2, '1'],
      // The refit of the winner on every image: one more Batch job (plain: no array size)
      // after the last rung.
      ['foldsweep-<id>-rung2', undefined, '2'],
    ]);
    expect(parents[1].environment.FOLDSWEEP_TRIAL_LIST_KEY).toBe(`sweeps/${id}/rungs/001.json`);
    expect(parents[2].environment.FOLDSWEEP_TRIAL_INDEX).toBe('8');
    const sweep = await state.getSweep(id);
    expect(sweep?.rungJobIds).toEqual(parents.map((j) => [j.jobId]));
    expect(sweep?.trialsTotal).toBe(6 + 1);
    const trials = await state.listTrials(id);
    expect(trials.map((t) => t.trialIndex)).toHaveLength(7);
    expect(trials.every((t) => t.status === 'succeeded')).toBe(true);
    const handled = outcomes.filter((o) => o.sweepId === id && o.outcome?.handled);
    expect(handled.map((o) => o.outcome?.handled && o.outcome.aggregate?.status)).toEqual([
      'advanced',
      'advanced',
      'completed',
    ]);
    const champion = await state.getChampion(id);
    expect(champion?.trialIndex).toBe(8);
    const stored = await stack.s3.client.send(
      new GetObjectCommand({ Bucket: stack.bucket, Key: trialResultKey(id, 8) }),
    );
    const refitResult = JSON.parse((await stored.Body?.transformToString()) ?? '{}') as {
      refit?: boolean;
    };
    expect(refitResult).toMatchObject({ refit: true, fold: 2, trainSamples: 40, valSamples: 0 });
    const board = (
      await call<{ rows: { complete: boolean; pruned?: { rung: number } }[] }>(
        'GET',
        `/sweeps/${id}/leaderboard`,
      )
    ).body;
    expect(board.rows.filter((r) => r.complete)).toHaveLength(2);
    expect(board.rows.filter((r) => r.pruned?.rung === 0)).toHaveLength(2);
  }, 300_000);

  it('fails a poisoned aggregation with its reason after the bounded attempts', async () => {
    // The best fold's model as the champion: no refit trial trains after the hook has run.
    const created = await submit(spec({ holdoutFraction: 0.25, champion: 'best-fold' }));
    const id = created.body.sweep.id;
    // Corrupt every trial model: evaluating the champion fails on every attempt.
    beforeAggregation.set(id, async () => {
      for (let trial = 0; trial < 4; trial++) {
        await stack.s3.client.send(
          new PutObjectCommand({
            Bucket: stack.bucket,
            Key: `${trialModelPrefix(id, trial)}/model.json`,
            Body: '{"modelTopology": truncated',
          }),
        );
      }
    });

    const view = await poll('the sweep to end', async () => {
      const v = (await call<SweepView>('GET', `/sweeps/${id}`)).body;
      return v.status === 'failed' || v.status === 'completed' ? v : undefined;
    });

    expect(view.status).toBe('failed');
    await stack.batch.emulator.idle(60_000);
    expect(view.error).toMatch(/^aggregation attempt 3 of 3 failed: /);
    expect(view.aggregationAttempts).toBe(3);
    const mine = outcomes.filter((o) => o.sweepId === id && (o.error || o.outcome?.handled));
    expect(
      mine.map((o) => (o.error ? 'threw' : o.outcome?.handled && o.outcome.aggregate?.status)),
    ).toEqual(['threw', 'threw', 'failed']);
    expect(await state.getChampion(id)).toBeUndefined();
  }, 300_000);

  it('cancels mid-run: TerminateJob on the stored array job, no further trial starts, status cancelled', async () => {
    const created = await submit(
      spec({
        searchSpace: {
          strategy: ['finetune', 'scratch'],
          freezeDepth: [0, 3, 5],
          lrMultiplier: [1],
        },
        training: { learningRate: 0.003, epochs: 4, batchSize: 16, patience: 4 },
      }),
    );
    const id = created.body.sweep.id;
    const children = () =>
      [...stack.batch.emulator.jobs.values()].filter(
        (j) => j.parent?.tags['foldsweep:sweep-id'] === id,
      );
    await poll('a running child of the running sweep', async () =>
      children().some((c) => c.status === 'RUNNING') &&
      (await state.getSweep(id))?.status === 'running'
        ? true
        : undefined,
    );
    const terminateBefore = stack.batch.calls.TerminateJob ?? 0;

    const res = await call<{ sweep: { status: string } }>('POST', `/sweeps/${id}/cancel`);
    const cancelledAt = Date.now();

    expect(res.status).toBe(200);
    expect(res.body.sweep.status).toBe('cancelled');
    expect((stack.batch.calls.TerminateJob ?? 0) - terminateBefore).toBe(1);
    await stack.batch.emulator.idle(120_000);
    const all = children();
    expect(all).toHaveLength(8);
    const startedAfter = all.filter((c) => (c.startedAt ?? 0) > cancelledAt + 250);
    expect(startedAfter).toEqual([]);
    expect(all.some((c) => c.startedAt === undefined)).toBe(true);
    const final = (await call<SweepView>('GET', `/sweeps/${id}`)).body;
    expect(final.status).toBe('cancelled');
    expect(await state.getChampion(id)).toBeUndefined();
  }, 300_000);
});
