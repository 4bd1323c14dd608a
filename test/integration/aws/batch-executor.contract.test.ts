/**
 * The Executor contract on the Batch executor against the Batch emulator: real
 * @aws-sdk/client-batch, each array child a real trainer process reading the plan from S3
 * (s3rver), the sweep records in DynamoDB (dynalite) and the emulator's state-change events
 * delivered to the aggregator handler (the drained path, which writes a failed TrialResult for a
 * child that ended without one). Parts of at most 4 children, so a 6-trial plan is 2 array jobs.
 */
import { fileURLToPath } from 'node:url';
import { BatchClient } from '@aws-sdk/client-batch';
import { afterAll, beforeAll, expect } from 'vitest';
import { BatchExecutor, splitTrials } from '../../../shared/adapters/aws/batch-executor.js';
import { DynamoStateStore } from '../../../shared/adapters/aws/dynamo-state-store.js';
import { S3ObjectStore } from '../../../shared/adapters/aws/s3-object-store.js';
import { FsModelImporter } from '../../../shared/adapters/local/fs-model-importer.js';
import { LocalDatasetPreparer } from '../../../shared/data/prepare.js';
import { BATCH_JOB_TAGS } from '../../../shared/schemas/events.js';
import { TRAINER_JOB_ENV } from '../../../shared/schemas/runtime-env.js';
import { createSweep } from '../../../shared/service/sweeps.js';
import type { EmulatedJob } from '../../batch-emulator/emulator.js';
import { EMULATOR_CREDENTIALS } from '../../batch-emulator/server.js';
import { executorContract } from '../../contracts/executor.contract.js';
import { LOCAL_REGION } from '../../helpers/local-aws.js';
import {
  type LocalAwsStack,
  startLocalAwsStack,
  TEST_DEFINITION,
} from '../../helpers/local-aws-stack.js';
import { makeWorkspace, RecordingExecutor } from '../../helpers/workspace.js';

const FAULT_TRAINER = fileURLToPath(
  new URL('../../batch-emulator/fault-trainer.ts', import.meta.url),
);
const MAX_ARRAY_SIZE = 4;

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
let stack: LocalAwsStack;
let n = 0;

beforeAll(async () => {
  ws = await makeWorkspace({ samples: 60 });
  stack = await startLocalAwsStack({ trainer: FAULT_TRAINER });
  const { handler: aggregator } = await import('../../../functions/aggregator/lambda.js');
  stack.onBatchEvent(aggregator);
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await ws?.cleanup();
});

executorContract('BatchExecutor on the Batch emulator', async () => {
  const emulator = stack.batch.emulator;
  const objects = new S3ObjectStore({ client: stack.s3.client, bucket: stack.bucket });
  const state = new DynamoStateStore({ client: stack.dynamo.doc, table: stack.table });
  // Read at each submit: crash() adds the fault trainer's list of trials to crash.
  const environment: Record<string, string> = {
    [TRAINER_JOB_ENV.s3Endpoint]: stack.s3.endpoint,
  };
  const executor = new BatchExecutor({
    client: new BatchClient({
      endpoint: stack.batch.endpoint,
      region: LOCAL_REGION,
      credentials: EMULATOR_CREDENTIALS,
      maxAttempts: 1,
    }),
    jobQueue: stack.env.FOLDSWEEP_JOB_QUEUE,
    jobDefinition: TEST_DEFINITION,
    bucket: stack.bucket,
    environment,
    maxArraySize: MAX_ARRAY_SIZE,
    state,
  });
  const prefix = `contract-${++n}`;
  let i = 0;
  // Planning only: the sweep is prepared into S3 and recorded in DynamoDB; the suite submits.
  const planning = {
    ...ws.deps,
    objects,
    state,
    datasets: new LocalDatasetPreparer(objects, ws.deps.logger),
    models: new FsModelImporter(objects),
    executor: new RecordingExecutor(),
    newId: () => `${prefix}-${++i}`,
  };
  const children = (sweepId: string): EmulatedJob[] =>
    [...emulator.jobs.values()].filter(
      (j) => j.index !== undefined && j.tags[BATCH_JOB_TAGS.sweepId] === sweepId,
    );
  const trialOf = (j: EmulatedJob) => Number(j.tags[BATCH_JOB_TAGS.trialOffset]) + (j.index ?? 0);
  return {
    executor,
    objects,
    state,
    plan: async (spec) => (await createSweep(planning, ws.spec(spec))).plan,
    jobIdsFor: (trials) => splitTrials(trials, MAX_ARRAY_SIZE).length,
    crash: (trialIndex) => {
      environment.FOLDSWEEP_TEST_CRASH_TRIALS = String(trialIndex);
    },
    waitUntilTerminal: () => emulator.idle(120_000),
    startedTrials: async (sweepId) =>
      children(sweepId)
        .sort((a, b) => (a.attempts[0]?.startedAt ?? 0) - (b.attempts[0]?.startedAt ?? 0))
        .flatMap((j) => j.attempts.map(() => trialOf(j))),
    liveTrainers: async (sweepId) =>
      children(sweepId).filter(
        (j) =>
          j.status === 'STARTING' ||
          j.status === 'RUNNING' ||
          (j.running?.process !== undefined && j.running.process.exitCode === null),
      ).length,
    resumeFinished: 'rerun-skipping',
    assertCancelled: async (sweepId, jobIds) => {
      // TerminateJob reached every array parent; the children not started were cancelled, never run.
      for (const jobId of jobIds) {
        expect(emulator.job(jobId)).toMatchObject({ isTerminated: true, status: 'FAILED' });
      }
      const unstarted = children(sweepId).filter((j) => j.attempts.length === 0);
      expect(unstarted.length).toBeGreaterThan(0);
      for (const j of unstarted) expect(j).toMatchObject({ isCancelled: true, status: 'FAILED' });
    },
    cleanup: async () => {
      await emulator.idle(120_000);
      expect(emulator.deliveryErrors).toEqual([]);
    },
  };
});
