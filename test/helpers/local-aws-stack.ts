/**
 * The AWS deployment on loopback stand-ins, for end-to-end tests: s3rver (a bucket), dynalite
 * (the state table) and the Batch emulator running each array child as a real trainer process;
 * the environment a deployed function reads (AwsRuntimeEnvSchema) pointing at them, also set on
 * process.env (for handlers that build their deps at module scope) until close().
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { EmulatedJobDefinition } from '../batch-emulator/emulator.js';
import { type RunningBatchEmulator, startBatchEmulator } from '../batch-emulator/server.js';
import { type RunningLambdaEmulator, startLambdaEmulator } from '../lambda-emulator/server.js';
import {
  FAKE_CREDENTIALS,
  LOCAL_REGION,
  type LocalDynamo,
  type LocalS3,
  startLocalDynamo,
  startLocalS3,
} from './local-aws.js';

export const TEST_ACCOUNT = '123456789012';
export const TEST_QUEUE = 'foldsweep-gpu';
export const TEST_DEFINITION = 'foldsweep-trainer';
export const TEST_PREPARE_FUNCTION = 'foldsweep-prepare';
const REPO = fileURLToPath(new URL('../../', import.meta.url));

export interface LocalAwsStack {
  s3: LocalS3;
  dynamo: LocalDynamo;
  batch: RunningBatchEmulator;
  /** Lambda's Invoke API: the api function invokes the prepare function through it. */
  lambda: RunningLambdaEmulator;
  bucket: string;
  table: string;
  /** The deployed functions' environment (also on process.env until close()). */
  env: Record<string, string>;
  /** Where the emulator's state-change events go (EventBridge rule -> aggregator Lambda). */
  onBatchEvent(handler: (event: unknown) => Promise<unknown>): void;
  close(): Promise<void>;
}

export interface LocalAwsStackOptions {
  /** The trainer entry the job definition runs (with `node --import tsx`). */
  trainer: string;
  /** More job queues and definitions beside foldsweep's (foreign jobs). */
  otherJobQueues?: string[];
  otherJobDefinitions?: Record<string, EmulatedJobDefinition>;
  /** More environment for the functions. */
  env?: Record<string, string>;
}

export async function startLocalAwsStack(options: LocalAwsStackOptions): Promise<LocalAwsStack> {
  const [s3, dynamo, lambda] = await Promise.all([
    startLocalS3(),
    startLocalDynamo(),
    startLambdaEmulator(),
  ]);
  const [bucket, table] = await Promise.all([s3.createBucket(), dynamo.createTable()]);
  let handler: ((event: unknown) => Promise<unknown>) | undefined;
  const batch = await startBatchEmulator({
    jobQueues: [TEST_QUEUE, ...(options.otherJobQueues ?? [])],
    jobDefinitions: {
      [TEST_DEFINITION]: {
        command: [process.execPath, '--import', 'tsx', options.trainer],
        cwd: REPO,
        environment: { FOLDSWEEP_BACKEND: 'wasm' },
      },
      ...options.otherJobDefinitions,
    },
    concurrency: 2,
    baseEnv: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
    },
    onEvent: (event) => handler?.(event),
  });
  const env: Record<string, string> = {
    FOLDSWEEP_BUCKET: bucket,
    FOLDSWEEP_TABLE: table,
    FOLDSWEEP_JOB_QUEUE: `arn:aws:batch:${LOCAL_REGION}:${TEST_ACCOUNT}:job-queue/${TEST_QUEUE}`,
    FOLDSWEEP_JOB_DEFINITION: TEST_DEFINITION,
    FOLDSWEEP_S3_ENDPOINT: s3.endpoint,
    FOLDSWEEP_DYNAMODB_ENDPOINT: dynamo.endpoint,
    FOLDSWEEP_BATCH_ENDPOINT: batch.endpoint,
    FOLDSWEEP_PREPARE_FUNCTION_ARN: `arn:aws:lambda:${LOCAL_REGION}:${TEST_ACCOUNT}:function:${TEST_PREPARE_FUNCTION}`,
    FOLDSWEEP_LAMBDA_ENDPOINT: lambda.endpoint,
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
    LOG_LEVEL: 'warn',
    ...options.env,
  };
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  // The prepare function builds its deps from the environment, as in its own Lambda.
  const { handler: prepare } = await import('../../functions/prepare/lambda.js');
  lambda.register(TEST_PREPARE_FUNCTION, prepare);
  return {
    s3,
    dynamo,
    batch,
    lambda,
    bucket,
    table,
    env,
    onBatchEvent: (h) => {
      handler = h;
    },
    async close() {
      await lambda.idle();
      await batch.close();
      await lambda.close();
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await Promise.all([s3.stop(), dynamo.stop()]);
    },
  };
}

/** An API Gateway HTTP API (payload format 2.0) event, as the api Lambda receives it. */
export function apiGatewayEvent(method: string, path: string, body?: unknown) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: {
      'content-type': 'application/json',
      host: 'abc123.execute-api.us-east-1.amazonaws.com',
    },
    requestContext: {
      accountId: TEST_ACCOUNT,
      apiId: 'abc123',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    isBase64Encoded: false,
  };
}
