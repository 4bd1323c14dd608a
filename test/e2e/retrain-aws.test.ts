/**
 * Scheduled retraining on the AWS path, with a fake clock: EventBridge Scheduler's events go to
 * the retrain Lambda handler, whose sweeps run on the Batch emulator as array jobs of real
 * trainer processes; the emulator's state-change events go to the aggregator Lambda handler,
 * which aggregates and then completes the scheduled run (champion/challenger). Everything is
 * wired by awsDeps from the environment: S3ObjectStore on s3rver, DynamoStateStore,
 * DynamoScheduleStore and DynamoModelRegistry on dynalite, the BatchExecutor on the emulator.
 * The schedule is created and the model rolled back through the API app (API Gateway v2
 * events), as on AWS. A second schedule reads its dataset from S3 (an image folder in a bucket
 * of its own, growing between nights) through awsDeps' S3 dataset source.
 * EventBridge Scheduler has no local server: its client alone is replaced by aws-sdk-client-mock
 * (the CreateSchedule request is checked, and each night's event is its target Input with the
 * scheduled time filled in, as EventBridge Scheduler fills it).
 */
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateScheduleCommand,
  type CreateScheduleCommandInput,
  type SchedulerClient,
  type SchedulerClientResolvedConfig,
  type ServiceInputTypes,
  type ServiceOutputTypes,
} from '@aws-sdk/client-scheduler';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type AwsStub, mockClient } from 'aws-sdk-client-mock';
import { handle } from 'hono/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAggregatorHandler } from '../../functions/aggregator/lambda.js';
import { createApp } from '../../functions/api/app.js';
import { type AwsDeps, awsDeps } from '../../functions/deps/aws.js';
import { createRetrainHandler, type RetrainOutcome } from '../../functions/retrain/lambda.js';
import { ValidationError } from '../../shared/errors.js';
import { nextFireTime, type ScheduleRun } from '../../shared/schemas/schedule.js';
import type { RunningBatchEmulator } from '../batch-emulator/server.js';
import { makeTempDir, recordingLogger, type TempDir } from '../helpers/images.js';
import { LOCAL_REGION, type LocalS3, uploadFolder } from '../helpers/local-aws.js';
import {
  apiGatewayEvent,
  type LocalAwsStack,
  startLocalAwsStack,
  TEST_ACCOUNT,
} from '../helpers/local-aws-stack.js';
import {
  FakeClock,
  FLOW_DATA,
  retrainScheduleInput,
  writeDataVersion,
  writeDataVersionImages,
} from '../helpers/retrain-fixtures.js';
import { writeTinyModel } from '../helpers/workspace.js';

const TRAINER = fileURLToPath(new URL('../../trainer/main.ts', import.meta.url));
const ACCOUNT = TEST_ACCOUNT;
const RETRAIN_ARN = `arn:aws:lambda:${LOCAL_REGION}:${ACCOUNT}:function:foldsweep-test-retrain`;
const SCHEDULER_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/foldsweep-test-scheduler`;
const DLQ_ARN = `arn:aws:sqs:${LOCAL_REGION}:${ACCOUNT}:foldsweep-test-dlq`;
const GROUP = 'foldsweep-test-retrain';

type ApiResult = { statusCode: number; body: string };

let s3: LocalS3;
let batch: RunningBatchEmulator;
let tmp: TempDir;
let env: Record<string, string>;
let deps: AwsDeps & { clock: FakeClock };
let scheduler: AwsStub<ServiceInputTypes, ServiceOutputTypes, SchedulerClientResolvedConfig>;
let retrain: (event: unknown) => Promise<RetrainOutcome>;
let apiHandler: (event: unknown) => Promise<ApiResult>;
let paths: { imagesFile: string; modelPath: string; dataDir: string };
let stack: LocalAwsStack;

async function call<T>(method: string, path: string, body?: unknown) {
  const res = await apiHandler(apiGatewayEvent(method, path, body));
  return { status: res.statusCode, body: JSON.parse(res.body) as T };
}

/**
 * EventBridge Scheduler fires the schedule's next 02:00 Berlin slot (its Input, time filled in);
 * waits for the sweep's array job, its trainer processes and the aggregator's invocations.
 */
async function fireNight(request: CreateScheduleCommandInput) {
  deps.clock.set(nextFireTime('0 2 * * *', 'Europe/Berlin', deps.clock.now()) as Date);
  const event = JSON.parse(
    (request.Target?.Input ?? '').replace(
      '<aws.scheduler.scheduled-time>',
      deps.clock.now().toISOString(),
    ),
  ) as { scheduleId: string; scheduledTime: string };
  const outcome = await retrain(event);
  await batch.emulator.idle(120_000);
  expect(batch.emulator.deliveryErrors).toEqual([]);
  const run = (await deps.schedules.getRun(event.scheduleId, event.scheduledTime)) as ScheduleRun;
  return { event, outcome, run };
}

/** Sweeps submitted to Batch: each is two SubmitJobs, its folds' array job and its refit's job. */
const submits = () => (batch.calls.SubmitJob ?? 0) / 2;

beforeAll(async () => {
  tmp = await makeTempDir('foldsweep-retrain-aws-');
  const dataDir = join(tmp.path, 'data');
  paths = {
    dataDir,
    imagesFile: join(dataDir, 'train-images-idx3-ubyte'),
    modelPath: await writeTinyModel(join(tmp.path, 'model')),
  };
  stack = await startLocalAwsStack({
    trainer: TRAINER,
    env: {
      FOLDSWEEP_SCHEDULE_GROUP: GROUP,
      FOLDSWEEP_RETRAIN_FUNCTION_ARN: RETRAIN_ARN,
      FOLDSWEEP_SCHEDULER_ROLE_ARN: SCHEDULER_ROLE_ARN,
      FOLDSWEEP_DEAD_LETTER_QUEUE_ARN: DLQ_ARN,
    },
  });
  ({ s3, batch, env } = stack);
  // One set of deps for the three functions, on a fake clock (each Lambda would build its own
  // from the same environment; the clock is the only part replaced).
  const clock = new FakeClock('2025-01-06T11:00:00.000Z');
  deps = { ...awsDeps(env, { logger: recordingLogger().logger }), clock };
  expect(deps.scheduler).toBeDefined();
  scheduler = mockClient(deps.clients.scheduler as SchedulerClient);
  scheduler.on(CreateScheduleCommand).resolves({
    ScheduleArn: `arn:aws:scheduler:${LOCAL_REGION}:${ACCOUNT}:schedule/${GROUP}/foldsweep-nightly`,
  });
  retrain = createRetrainHandler(deps);
  stack.onBatchEvent(createAggregatorHandler(deps, { jobQueue: env.FOLDSWEEP_JOB_QUEUE }));
  apiHandler = handle(createApp(deps)) as unknown as (event: unknown) => Promise<ApiResult>;
}, 120_000);

afterAll(async () => {
  scheduler?.restore();
  await stack?.close();
  await tmp?.cleanup();
});

describe('scheduled retraining on the AWS path (Scheduler -> retrain Lambda -> Batch -> aggregator Lambda)', () => {
  it('promotes the first run, skips unchanged data, promotes a better challenger, rejects a worse one, rolls back through the API', async () => {
    // Prepare: the schedule, created through the API, becomes one EventBridge schedule.
    await writeDataVersion(paths.dataDir, FLOW_DATA.v1);
    const created = await call<{ schedule: { id: string; modelName: string } }>(
      'POST',
      '/schedules',
      retrainScheduleInput(paths),
    );
    expect(created.status).toBe(201);
    const puts = scheduler.commandCalls(CreateScheduleCommand);
    expect(puts).toHaveLength(1);
    const request = puts[0].args[0].input as CreateScheduleCommandInput;
    expect(request).toMatchObject({
      Name: 'foldsweep-nightly',
      GroupName: GROUP,
      ScheduleExpression: 'cron(0 2 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: RETRAIN_ARN,
        RoleArn: SCHEDULER_ROLE_ARN,
        DeadLetterConfig: { Arn: DLQ_ARN },
      },
    });

    const night = () => fireNight(request);

    // Night 1: the first champion is promoted: nothing served yet.
    const night1 = await night();
    expect(night1.outcome).toMatchObject({
      status: 'scheduled-run',
      runStatus: 'running',
      created: true,
    });
    expect(night1.run).toMatchObject({
      status: 'promoted',
      firedAt: '2025-01-07T01:00:00.000Z',
      trigger: 'cron',
      modelVersion: 1,
      dataset: { count: 60 },
      training: { count: 45 },
      holdout: { count: 15 },
    });
    expect(night1.run.reason).toMatch(/first champion/);
    expect(submits()).toBe(1);
    const sweep1 = night1.run.sweepId as string;
    expect((await deps.state.getSweep(sweep1))?.status).toBe('completed');
    expect((await deps.registry.getServing('bands'))?.version).toBe(1);
    // The frozen holdout and the training subset live in S3.
    const holdout = (await deps.schedules.getSchedule('nightly'))?.holdout;
    expect(holdout).toMatchObject({ count: 15, countsPerClass: [5, 5, 5] });
    expect(await deps.objects.exists(holdout?.sampleHashesKey ?? '')).toBe(true);
    expect(await deps.objects.exists(`datasets/${night1.run.training?.hash}/manifest.json`)).toBe(
      true,
    );

    // EventBridge delivers the array job's end again: nothing changes.
    const parentEnd = [...batch.emulator.events]
      .reverse()
      .find(
        (e) =>
          (e.detail.tags as Record<string, string> | undefined)?.['foldsweep:sweep-id'] ===
            sweep1 && e.detail.status === 'SUCCEEDED',
      );
    expect(parentEnd).toBeDefined();
    const again = await createAggregatorHandler(deps, { jobQueue: env.FOLDSWEEP_JOB_QUEUE })(
      parentEnd,
    );
    expect(again).toMatchObject({
      handled: false,
      reason: expect.stringMatching(/already completed/),
    });
    expect(await deps.schedules.getRun('nightly', night1.event.scheduledTime)).toEqual(night1.run);
    expect(await deps.registry.listVersions('bands')).toHaveLength(1);
    // Scheduler retries the invocation: the exported handler (its own deps from the
    // environment, as a fresh Lambda instance) finds the slot ran already.
    const { handler } = await import('../../functions/retrain/lambda.js');
    expect(await handler(night1.event)).toMatchObject({ runStatus: 'promoted', created: false });
    expect(submits()).toBe(1);

    // Night 2: the data did not change: skipped, no sweep.
    const night2 = await night();
    expect(night2.run.status).toBe('skipped');
    expect(night2.run.reason).toMatch(/dataset unchanged/);
    expect(submits()).toBe(1);

    // Night 3: 240 new, well-labelled images: the challenger wins on the frozen holdout.
    await writeDataVersion(paths.dataDir, FLOW_DATA.v2);
    const night3 = await night();
    expect(night3.run).toMatchObject({
      status: 'promoted',
      modelVersion: 2,
      serving: { version: 1 },
      dataset: { count: 300 },
      training: { count: 285 },
      holdout: { hash: holdout?.datasetHash, count: 15 },
    });
    expect(night3.run.challenger?.accuracy).toBeGreaterThanOrEqual(
      (night3.run.serving?.accuracy ?? 1) + 0.05,
    );

    // Night 4: 900 mislabelled images: the challenger loses and is kept as rejected.
    await writeDataVersion(paths.dataDir, FLOW_DATA.v3);
    const night4 = await night();
    expect(night4.run).toMatchObject({
      status: 'rejected',
      modelVersion: 3,
      serving: { version: 2 },
    });
    expect(night4.run.challenger?.accuracy).toBeLessThan(night4.run.serving?.accuracy ?? 0);
    expect((await deps.registry.getServing('bands'))?.version).toBe(2);
    expect(submits()).toBe(3);

    // Rollback through the API: `{}` serves the version that served before the current one.
    const rolled = await call<{ event: { fromVersion: number; toVersion: number } }>(
      'POST',
      '/models/bands/rollback',
      {},
    );
    expect(rolled.status).toBe(200);
    expect(rolled.body.event).toMatchObject({ fromVersion: 2, toVersion: 1 });
    const never = await call<{ error: { message: string } }>('POST', '/models/bands/rollback', {
      version: 3,
    });
    expect(never.status).toBe(400);
    expect(never.body.error.message).toMatch(/v3 of model 'bands' never served \(rejected/);

    const model = await call<{
      serving: { version: number };
      versions: { version: number; decision: string; sweepId: string }[];
      history: { action: string; fromVersion: number | null; toVersion: number }[];
    }>('GET', '/models/bands');
    expect(model.body.serving.version).toBe(1);
    expect(model.body.versions.map((v) => [v.version, v.decision, v.sweepId])).toEqual([
      [1, 'promoted', sweep1],
      [2, 'promoted', night3.run.sweepId],
      [3, 'rejected', night4.run.sweepId],
    ]);
    expect(model.body.history.map((e) => [e.action, e.fromVersion, e.toVersion])).toEqual([
      ['promote', null, 1],
      ['promote', 1, 2],
      ['rollback', 2, 1],
    ]);
    const history = await call<{ runs: ScheduleRun[] }>('GET', '/schedules/nightly');
    expect(history.body.runs.map((r) => r.status)).toEqual([
      'rejected',
      'promoted',
      'skipped',
      'promoted',
    ]);
    // In DynamoDB: four runs and no running-run marker left behind.
    const { Items } = await deps.clients.dynamo.send(
      new QueryCommand({
        TableName: env.FOLDSWEEP_TABLE,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': 'SCHEDULE#nightly' },
      }),
    );
    expect(Items?.map((i) => String(i.sk).slice(0, 4))).toEqual(['RUN#', 'RUN#', 'RUN#', 'RUN#']);
  }, 300_000);

  it('retrains on an image folder in S3 when new objects arrive, and skips a night without any', async () => {
    // The dataset lives in a bucket of its own, as a user's data would (one sub-prefix per class).
    const dataBucket = await s3.createBucket();
    const uri = `s3://${dataBucket}/bands/`;
    const upload = async (batches: typeof FLOW_DATA.v1) => {
      const dir = await mkdtemp(join(tmp.path, 'images-'));
      await writeDataVersionImages(dir, batches);
      await uploadFolder(s3.client, dataBucket, 'bands/', dir);
    };
    await upload(FLOW_DATA.v1);
    const created = await call<{ schedule: { id: string } }>(
      'POST',
      '/schedules',
      retrainScheduleInput(paths, {
        id: 'nightly-s3',
        modelName: 'bands-s3',
        dataset: { uri, format: 'image-folder' },
      }),
    );
    expect(created.status).toBe(201);
    const request = scheduler
      .commandCalls(CreateScheduleCommand)
      .map((c) => c.args[0].input as CreateScheduleCommandInput)
      .find((r) => r.Name === 'foldsweep-nightly-s3') as CreateScheduleCommandInput;
    expect(request).toBeDefined();
    const submitted = submits();

    const first = await fireNight(request);
    expect(first.run).toMatchObject({ status: 'promoted', dataset: { count: 60 } });
    expect(submits()).toBe(submitted + 1);

    // Nothing new in the bucket: listed, recognised, skipped, no sweep.
    const unchanged = await fireNight(request);
    expect(unchanged.run.status).toBe('skipped');
    expect(unchanged.run.reason).toMatch(/dataset unchanged/);
    expect(submits()).toBe(submitted + 1);

    // 240 new objects: a new data version, a new sweep (not skipped).
    await upload(FLOW_DATA.v2);
    const grown = await fireNight(request);
    expect(grown.run.status).not.toBe('skipped');
    expect(['promoted', 'rejected']).toContain(grown.run.status);
    expect(grown.run).toMatchObject({
      dataset: { count: 300 },
      holdout: { count: first.run.holdout?.count },
    });
    expect(grown.run.dataset?.hash).not.toBe(first.run.dataset?.hash);
    expect(grown.run.sweepId).not.toBe(first.run.sweepId);
    expect(submits()).toBe(submitted + 2);
    expect(await deps.registry.listVersions('bands-s3')).toHaveLength(2);
  }, 300_000);
});

describe('awsDeps for scheduled retraining', () => {
  it('wires no scheduler without its ARNs, and names the missing one when only one is set', () => {
    const base = { ...env };
    delete base.FOLDSWEEP_RETRAIN_FUNCTION_ARN;
    delete base.FOLDSWEEP_SCHEDULER_ROLE_ARN;
    const plain = awsDeps(base, { logger: recordingLogger().logger });
    expect(plain.scheduler).toBeUndefined();
    expect(plain.schedules).toBeDefined();
    expect(plain.registry).toBeDefined();

    let error: unknown;
    try {
      awsDeps({ ...base, FOLDSWEEP_RETRAIN_FUNCTION_ARN: RETRAIN_ARN });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toContainEqual(
      expect.objectContaining({
        path: 'FOLDSWEEP_SCHEDULER_ROLE_ARN',
        message: expect.stringMatching(/set FOLDSWEEP_SCHEDULER_ROLE_ARN too/),
      }),
    );
    expect(() =>
      awsDeps({
        ...base,
        FOLDSWEEP_RETRAIN_FUNCTION_ARN: 'my-function',
        FOLDSWEEP_SCHEDULER_ROLE_ARN: SCHEDULER_ROLE_ARN,
      }),
    ).toThrow(/FOLDSWEEP_RETRAIN_FUNCTION_ARN/);
  });
});
