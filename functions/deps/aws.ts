import { BatchClient } from '@aws-sdk/client-batch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pino from 'pino';
import { ulid } from 'ulid';
import { BatchExecutor } from '../../shared/adapters/aws/batch-executor.js';
import { DynamoModelRegistry } from '../../shared/adapters/aws/dynamo-model-registry.js';
import { DynamoScheduleStore } from '../../shared/adapters/aws/dynamo-schedule-store.js';
import { DynamoStateStore } from '../../shared/adapters/aws/dynamo-state-store.js';
import { EventBridgeScheduler } from '../../shared/adapters/aws/eventbridge-scheduler.js';
import { LambdaPreparationStarter } from '../../shared/adapters/aws/lambda-preparation-starter.js';
import { S3DatasetSource } from '../../shared/adapters/aws/s3-dataset-source.js';
import { S3ModelSource } from '../../shared/adapters/aws/s3-model-source.js';
import { S3ObjectStore } from '../../shared/adapters/aws/s3-object-store.js';
import { FsModelImporter } from '../../shared/adapters/local/fs-model-importer.js';
import { LocalDatasetPreparer } from '../../shared/data/prepare.js';
import type { ModelEvaluator } from '../../shared/ports/artifacts.js';
import { systemClock } from '../../shared/ports/clock.js';
import type { Logger } from '../../shared/ports/logger.js';
import { parseOrThrow } from '../../shared/schemas/issues.js';
import {
  type AwsRuntimeEnv,
  AwsRuntimeEnvSchema,
  TRAINER_JOB_ENV,
} from '../../shared/schemas/runtime-env.js';
import { specLimitsFromEnv } from '../../shared/schemas/spec-limits.js';
import type { ServiceDeps } from '../../shared/service/deps.js';
import type { RetrainDeps } from '../../shared/service/schedules.js';

export interface AwsDeps extends ServiceDeps, Pick<RetrainDeps, 'schedules' | 'registry'> {
  env: AwsRuntimeEnv;
  executor: BatchExecutor;
  /**
   * EventBridge Scheduler, where the environment names the retrain function and the scheduler
   * role (api, retrain); absent elsewhere (the aggregator only completes scheduled runs).
   */
  scheduler?: EventBridgeScheduler;
  clients: {
    s3: S3Client;
    dynamo: DynamoDBDocumentClient;
    batch: BatchClient;
    scheduler?: SchedulerClient;
  };
}

export interface AwsDepsOptions {
  /** Default: pino JSON lines on stdout (CloudWatch Logs in Lambda). */
  logger?: Logger;
}

/**
 * Wires the AWS deployment from the environment (AwsRuntimeEnvSchema; a missing variable fails
 * naming it): S3 objects, DynamoDB state, the Batch executor, and for scheduled retraining the
 * schedule store and model registry (same table) and, where FOLDSWEEP_RETRAIN_FUNCTION_ARN and
 * FOLDSWEEP_SCHEDULER_ROLE_ARN are set, EventBridge Scheduler as the trigger adapter. Called
 * once per Lambda instance at module scope. The FOLDSWEEP_*_ENDPOINT variables point the
 * clients at local stand-ins (tests); the S3 one is passed on to the trainer jobs too.
 * Datasets named by a spec are read from S3 (`s3://bucket/key`, `s3://bucket/prefix/`: listed,
 * and downloaded to /tmp only when their ETags changed) or from the function's file system;
 * base models from the file system (the deployment package, /tmp, an EFS mount). Both are
 * copied into the stack's bucket once, as locally.
 * @example
 * export const handler = handle(createApp(awsDeps()));
 */
export function awsDeps(
  source: NodeJS.ProcessEnv = process.env,
  options: AwsDepsOptions = {},
): AwsDeps {
  const env = parseOrThrow(AwsRuntimeEnvSchema, source, 'AWS runtime environment');
  const logger =
    options.logger ??
    pino(
      { level: env.LOG_LEVEL, base: { service: 'foldsweep' } },
      pino.destination({ dest: 1, sync: true }),
    );
  const s3 = new S3Client(
    env.FOLDSWEEP_S3_ENDPOINT
      ? {
          endpoint: env.FOLDSWEEP_S3_ENDPOINT,
          forcePathStyle: true,
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        }
      : // A dataset bucket may be in another region than the stack's.
        { followRegionRedirects: true },
  );
  const dynamo = DynamoDBDocumentClient.from(
    new DynamoDBClient(
      env.FOLDSWEEP_DYNAMODB_ENDPOINT ? { endpoint: env.FOLDSWEEP_DYNAMODB_ENDPOINT } : {},
    ),
  );
  // One attempt per SDK call: BatchExecutor retries itself and never submits an array job twice.
  const batch = new BatchClient({
    maxAttempts: 1,
    ...(env.FOLDSWEEP_BATCH_ENDPOINT ? { endpoint: env.FOLDSWEEP_BATCH_ENDPOINT } : {}),
  });
  const objects = new S3ObjectStore({ client: s3, bucket: env.FOLDSWEEP_BUCKET });
  const state = new DynamoStateStore({ client: dynamo, table: env.FOLDSWEEP_TABLE });
  const schedules = new DynamoScheduleStore({ client: dynamo, table: env.FOLDSWEEP_TABLE });
  const registry = new DynamoModelRegistry({ client: dynamo, table: env.FOLDSWEEP_TABLE });
  const schedulerClient =
    env.FOLDSWEEP_RETRAIN_FUNCTION_ARN && env.FOLDSWEEP_SCHEDULER_ROLE_ARN
      ? new SchedulerClient(
          env.FOLDSWEEP_SCHEDULER_ENDPOINT ? { endpoint: env.FOLDSWEEP_SCHEDULER_ENDPOINT } : {},
        )
      : undefined;
  const scheduler =
    schedulerClient &&
    new EventBridgeScheduler({
      client: schedulerClient,
      targetArn: env.FOLDSWEEP_RETRAIN_FUNCTION_ARN as string,
      roleArn: env.FOLDSWEEP_SCHEDULER_ROLE_ARN as string,
      groupName: env.FOLDSWEEP_SCHEDULE_GROUP,
      deadLetterArn: env.FOLDSWEEP_DEAD_LETTER_QUEUE_ARN,
    });
  const lambda = env.FOLDSWEEP_PREPARE_FUNCTION_ARN
    ? new LambdaClient(
        env.FOLDSWEEP_LAMBDA_ENDPOINT ? { endpoint: env.FOLDSWEEP_LAMBDA_ENDPOINT } : {},
      )
    : undefined;
  const preparation =
    lambda &&
    new LambdaPreparationStarter({
      client: lambda,
      functionName: env.FOLDSWEEP_PREPARE_FUNCTION_ARN as string,
    });
  const executor = new BatchExecutor({
    client: batch,
    jobQueue: env.FOLDSWEEP_JOB_QUEUE,
    jobDefinition: env.FOLDSWEEP_JOB_DEFINITION,
    bucket: env.FOLDSWEEP_BUCKET,
    attemptTimeoutSeconds: env.FOLDSWEEP_ATTEMPT_TIMEOUT_SECONDS,
    environment: env.FOLDSWEEP_S3_ENDPOINT
      ? { [TRAINER_JOB_ENV.s3Endpoint]: env.FOLDSWEEP_S3_ENDPOINT }
      : undefined,
    state,
    logger,
  });
  // TensorFlow.js loads on first use: the api function never evaluates models.
  const evaluator: ModelEvaluator = {
    async evaluate(modelPrefix, dataset, indices) {
      const { TfModelEvaluator } = await import('../../trainer/evaluate.js');
      return new TfModelEvaluator(objects).evaluate(modelPrefix, dataset, indices);
    },
  };
  return {
    env,
    clients: { s3, dynamo, batch, ...(schedulerClient ? { scheduler: schedulerClient } : {}) },
    state,
    schedules,
    registry,
    ...(scheduler ? { scheduler } : {}),
    objects,
    executor,
    ...(preparation ? { preparation } : {}),
    datasets: new LocalDatasetPreparer(objects, logger, {
      sources: [new S3DatasetSource({ client: s3 })],
    }),
    models: new FsModelImporter(objects, { sources: [new S3ModelSource({ client: s3 })], logger }),
    evaluator,
    clock: systemClock,
    logger,
    newId: () => ulid(),
    // The same FOLDSWEEP_MAX_* variables as locally, set on the api and prepare functions.
    limits: specLimitsFromEnv(source),
  };
}
