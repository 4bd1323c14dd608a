/**
 * The AWS path end to end, on loopback stand-ins: s3rver (S3), dynalite (DynamoDB) and the Batch
 * emulator (test/batch-emulator), which runs each array child as a real trainer process with
 * the environment Batch sets and sends its state-change events to the aggregator handler.
 * An API Gateway HTTP API (v2) event creates a sweep through the `api` handler; nothing but the
 * handlers and the trainer processes touches the stand-ins.
 */
import { fileURLToPath } from 'node:url';
import { BatchClient, SubmitJobCommand } from '@aws-sdk/client-batch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStateStore } from '../../shared/adapters/aws/dynamo-state-store.js';
import { S3ObjectStore } from '../../shared/adapters/aws/s3-object-store.js';
import { ProcessPoolExecutor } from '../../shared/adapters/local/process-pool-executor.js';
import type { Leaderboard } from '../../shared/aggregation/leaderboard.js';
import { getJson } from '../../shared/ports/object-store.js';
import { mulberry32 } from '../../shared/random.js';
import { ChampionMetadataSchema } from '../../shared/schemas/champion.js';
import { type Plan, PlanSchema, planKey, trialResultKey } from '../../shared/schemas/plan.js';
import type { SweepSpecInput } from '../../shared/schemas/sweep-spec.js';
import { TrialResultSchema } from '../../shared/schemas/trial-result.js';
import { getLeaderboard } from '../../shared/service/aggregate.js';
import { settleSweep } from '../../shared/service/lifecycle.js';
import type { SweepView } from '../../shared/service/sweeps.js';
import { createSweep } from '../../shared/service/sweeps.js';
import { EMULATOR_CREDENTIALS, type RunningBatchEmulator } from '../batch-emulator/server.js';
import { LOCAL_REGION, type LocalDynamo, type LocalS3 } from '../helpers/local-aws.js';
import {
  apiGatewayEvent,
  type LocalAwsStack,
  startLocalAwsStack,
  TEST_DEFINITION,
} from '../helpers/local-aws-stack.js';
import { makeWorkspace } from '../helpers/workspace.js';

const FAULT_TRAINER = fileURLToPath(new URL('../batch-emulator/fault-trainer.ts', import.meta.url));

type ApiHandler = (event: unknown) => Promise<{ statusCode: number; body: string }>;

let s3: LocalS3;
let dynamo: LocalDynamo;
let batch: RunningBatchEmulator;
let ws: Awaited<ReturnType<typeof makeWorkspace>>;
let api: ApiHandler;
let objects: S3ObjectStore;
let state: DynamoStateStore;
let stack: LocalAwsStack;

async function call<T>(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await api(apiGatewayEvent(method, path, body));
  return { status: res.statusCode, body: JSON.parse(res.body) as T };
}

beforeAll(async () => {
  // A fixed tiny base model (its initial weights come from Math.random): with it the three
  // variants score apart, so the ranking compared with the local executor is not a tie.
  const random = Math.random;
  Math.random = mulberry32(3);
  try {
    ws = await makeWorkspace({ samples: 60 });
  } finally {
    Math.random = random;
  }
  stack = await startLocalAwsStack({
    trainer: FAULT_TRAINER,
    otherJobQueues: ['other-queue'],
    otherJobDefinitions: { 'other-job': { run: async () => ({ exitCode: 0 }) } },
  });
  ({ s3, dynamo, batch } = stack);
  const { bucket, table } = stack;
  // Each handler builds its own deps from the environment, as in its own Lambda.
  ({ handler: api } = (await import('../../functions/api/lambda.js')) as unknown as {
    handler: ApiHandler;
  });
  const { handler: aggregator } = await import('../../functions/aggregator/lambda.js');
  stack.onBatchEvent(aggregator);
  objects = new S3ObjectStore({ client: s3.client, bucket });
  state = new DynamoStateStore({ client: dynamo.doc, table });
});

afterAll(async () => {
  await stack?.close();
  await ws?.cleanup();
});

/** Settings under which the tiny model learns within seconds, variants apart. */
const TRAINING = {
  learningRate: 0.05,
  epochs: 4,
  batchSize: 6,
  patience: 2,
  objective: 'val_accuracy',
} as const;

/** 3 variants x 2 folds = 6 trials, 4 epochs each. */
/** The default champion, the refit: one more Batch job after the folds. */
const spec = (): SweepSpecInput => ws.spec({ folds: 2, champion: 'refit', training: TRAINING });

async function runOnAws(body: SweepSpecInput): Promise<{ id: string; plan: Plan }> {
  const created = await call<{ sweep: { id: string } }>('POST', '/sweeps', body);
  expect(created.status).toBe(202);
  // The prepare function (invoked asynchronously) submits the array job; then Batch runs it.
  await stack.lambda.idle();
  await batch.emulator.idle(120_000);
  expect(batch.emulator.deliveryErrors).toEqual([]);
  const id = created.body.sweep.id;
  return { id, plan: PlanSchema.parse(await getJson(objects, planKey(id))) };
}

describe('the AWS path (api -> Batch array job -> aggregator)', () => {
  it('runs a sweep from an HTTP API event to a promoted champion, ranked as the local executor ranks it', async () => {
    const callsBefore = { ...batch.calls };

    const { id, plan } = await runOnAws(spec());

    // Two SDK calls to Batch for the whole sweep: one SubmitJob of an array of 6, then, when it
    // settled, one SubmitJob of the winner's refit on every image.
    expect((batch.calls.SubmitJob ?? 0) - (callsBefore.SubmitJob ?? 0)).toBe(2);
    expect(batch.totalCalls() - Object.values(callsBefore).reduce((a, b) => a + b, 0)).toBe(2);
    const parent = [...batch.emulator.jobs.values()].find(
      (j) => j.tags['foldsweep:sweep-id'] === id,
    );
    expect(parent).toMatchObject({ size: 6, status: 'SUCCEEDED' });
    // The sweep reads completed in DynamoDB, through the API too.
    expect((await state.getSweep(id))?.status).toBe('completed');
    const view = await call<SweepView>('GET', `/sweeps/${id}`);
    expect(view.body).toMatchObject({
      status: 'completed',
      progress: { trialsTotal: 7, succeeded: 7, failed: 0, fraction: 1 },
    });
    // The champion is in S3, loadable, with its lineage.
    const champion = await state.getChampion(id);
    expect(champion).toBeDefined();
    expect(await objects.list(`${champion?.modelPrefix}/`)).toEqual(
      ['metadata.json', 'model.json', 'weights.bin'].map((f) => `${champion?.modelPrefix}/${f}`),
    );
    const metadata = ChampionMetadataSchema.parse(
      await getJson(objects, `${champion?.modelPrefix}/metadata.json`),
    );
    expect(metadata.lineage).toMatchObject({ sweepId: id, datasetHash: plan.dataset.hash });
    expect(champion?.trialIndex).toBe(plan.trials.length);
    expect(metadata.lineage.champion).toMatchObject({
      kind: 'refit',
      trialIndices: [plan.trials.length],
      trainingImages: plan.foldOf.filter((f) => f >= 0).length,
    });
    const awsBoard = (await call<Leaderboard>('GET', `/sweeps/${id}/leaderboard`)).body;

    // The same spec and seed on the local executor: same folds, same variants, same ranking.
    const local = new ProcessPoolExecutor({
      home: ws.home,
      objects: ws.objects,
      state: ws.state,
      concurrency: 2,
      backend: 'wasm',
      onDrained: async (sweepId) => {
        await settleSweep(ws.deps, sweepId);
      },
    });
    ws.deps.executor = local;
    const { plan: localPlan } = await createSweep(ws.deps, spec());
    await local.waitFor(localPlan.sweepId);
    const localBoard = await getLeaderboard(ws.deps, localPlan.sweepId);

    expect(localBoard.rows.every((r) => r.complete)).toBe(true);
    // The variants score apart, so the ranking compared below is not a tie broken by index.
    expect(new Set(localBoard.rows.map((r) => r.mean)).size).toBe(3);
    expect(plan.foldOf).toEqual(localPlan.foldOf);
    expect(plan.variants.map((v) => v.id)).toEqual(localPlan.variants.map((v) => v.id));
    const ranking = (b: Leaderboard) => b.rows.map((r) => [r.rank, r.variantId, r.foldsCompleted]);
    expect(ranking(awsBoard)).toEqual(ranking(localBoard));
    awsBoard.rows.forEach((row, i) => {
      expect(row.mean).toBeCloseTo(localBoard.rows[i].mean ?? Number.NaN, 6);
    });
    expect(awsBoard.bestVariantId).toBe(localBoard.bestVariantId);
  }, 120_000);

  it('resumes a trainer SIGKILLed mid-trial from its checkpoint, fails a crashing trial alone, ignores foreign events', async () => {
    const definition = batch.emulator.options.jobDefinitions[TEST_DEFINITION];
    definition.environment = { ...definition.environment, FOLDSWEEP_TEST_CRASH_TRIALS: '3' };
    // Trial 1 is SIGKILLed on its first attempt as soon as it reports its first epoch (whose
    // checkpoint is saved by then), i.e. in the middle of its second epoch.
    const firstAttempt: { epoch: number; valAccuracy: number }[] = [];
    const unwatch = batch.emulator.watchOutput((job, line) => {
      if (job.index !== 1 || job.attempts.length !== 1 || !line.includes('"msg":"epoch"')) return;
      firstAttempt.push(JSON.parse(line));
      batch.emulator.kill(job.jobId, 'SIGKILL');
    });
    // Another team's job on another queue: its events reach the aggregator too.
    const client = new BatchClient({
      endpoint: batch.endpoint,
      region: LOCAL_REGION,
      credentials: EMULATOR_CREDENTIALS,
      maxAttempts: 1,
    });
    await client.send(
      new SubmitJobCommand({
        jobName: 'nightly-report',
        jobQueue: 'other-queue',
        jobDefinition: 'other-job',
      }),
    );

    let id: string;
    try {
      // 2 variants x 2 folds: trial 1 is variant 0's fold 1, trial 3 variant 1's fold 1.
      ({ id } = await runOnAws(
        ws.spec({
          folds: 2,
          searchSpace: { strategy: ['finetune'], freezeDepth: [0, 2], lrMultiplier: [1] },
          training: TRAINING,
        }),
      ));
    } finally {
      unwatch();
      definition.environment = { FOLDSWEEP_BACKEND: 'wasm' };
    }

    const children = [...batch.emulator.jobs.values()].filter(
      (j) => j.parent?.tags['foldsweep:sweep-id'] === id,
    );
    const child = (i: number) => children.find((c) => c.index === i);
    // Killed mid-trial: retried by Batch's rules, and the retry finished the trial.
    expect(child(1)?.attempts.map((a) => a.container.exitCode)).toEqual([137, 0]);
    expect(child(1)?.status).toBe('SUCCEEDED');
    // ...and the retry resumed from the checkpoint of epoch 0 instead of starting over.
    const retried = (child(1)?.output ?? [])
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(retried).toContainEqual(
      expect.objectContaining({ msg: 'resuming from checkpoint', epoch: 0, savedBy: 1 }),
    );
    const killed = TrialResultSchema.parse(await getJson(objects, trialResultKey(id, 1)));
    expect(killed).toMatchObject({ status: 'succeeded', attempt: 2 });
    // Every epoch once (0 from the first attempt's checkpoint, the rest from the retry).
    expect(killed.epochs.length).toBeGreaterThan(1);
    expect(killed.epochs.map((e) => e.epoch)).toEqual(killed.epochs.map((_, i) => i));
    expect(retried.filter((l) => l.msg === 'epoch').map((l) => l.epoch)).toEqual(
      killed.epochs.slice(1).map((e) => e.epoch),
    );
    expect(killed.epochs[0].valAccuracy).toBe(firstAttempt[0].valAccuracy);
    expect(await objects.list(`checkpoints/${id}/00001/`)).toEqual([]);
    // Crashing on every attempt: exit 1 is final (no retry), and only that trial failed.
    expect(child(3)?.attempts.map((a) => a.container.exitCode)).toEqual([1]);
    const trials = await state.listTrials(id);
    expect(trials.map((t) => t.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'failed']);
    expect(trials[1].attempt).toBe(2);
    expect(trials[3].reason).toMatch(/ended without writing a result/);
    // The sweep completes and reports the failure; the killed trial counts once.
    const sweep = await call<SweepView>('GET', `/sweeps/${id}`);
    expect(sweep.body).toMatchObject({
      status: 'completed',
      progress: { succeeded: 3, failed: 1 },
    });
    const board = (await call<Leaderboard>('GET', `/sweeps/${id}/leaderboard`)).body;
    const row = (trial: number) => board.rows.find((r) => r.variantId === trials[trial].variantId);
    expect(row(1)).toMatchObject({ foldsCompleted: 2, foldsFailed: 0, complete: true });
    expect(row(3)).toMatchObject({ foldsCompleted: 1, foldsFailed: 1, complete: false });
    expect(board.bestVariantId).toBe(trials[1].variantId);
    expect(await state.getChampion(id)).toBeDefined();
    // The foreign job's events were delivered and acknowledged (no failed invocation).
    expect(batch.emulator.events.some((e) => e.detail.jobName === 'nightly-report')).toBe(true);
    expect(batch.emulator.deliveryErrors).toEqual([]);
  }, 120_000);
});
