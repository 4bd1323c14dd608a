import { z } from 'zod';

/** The longest a single trainer attempt may run by default (Batch's per-attempt timeout). */
export const DEFAULT_ATTEMPT_TIMEOUT_SECONDS = 4 * 60 * 60;

/**
 * Environment of foldsweep's processes on AWS: the Lambda functions (api, aggregator, retrain)
 * and the trainer container on Batch. infra/ sets exactly these names; each process parses them
 * once at start with `parseOrThrow`, so a missing one fails naming the variable.
 * @example
 * { "FOLDSWEEP_BUCKET": "foldsweep-prod-data", "FOLDSWEEP_TABLE": "foldsweep-prod",
 *   "FOLDSWEEP_JOB_QUEUE": "arn:aws:batch:eu-west-1:123456789012:job-queue/foldsweep-gpu",
 *   "FOLDSWEEP_JOB_DEFINITION": "arn:aws:batch:eu-west-1:123456789012:job-definition/foldsweep-trainer:3" }
 */
export const AwsRuntimeEnvSchema = z.object({
  FOLDSWEEP_BUCKET: z.string().min(3, 'set FOLDSWEEP_BUCKET to the S3 bucket name'),
  FOLDSWEEP_TABLE: z.string().min(3, 'set FOLDSWEEP_TABLE to the DynamoDB table name'),
  FOLDSWEEP_JOB_QUEUE: z
    .string()
    .min(1, 'set FOLDSWEEP_JOB_QUEUE to the Batch job queue name or ARN'),
  FOLDSWEEP_JOB_DEFINITION: z
    .string()
    .min(1, 'set FOLDSWEEP_JOB_DEFINITION to the Batch job definition name or ARN'),
  /** Per-attempt timeout of each trial on Batch (Batch's minimum is 60 s). */
  FOLDSWEEP_ATTEMPT_TIMEOUT_SECONDS: z.coerce
    .number()
    .int()
    .min(60, 'FOLDSWEEP_ATTEMPT_TIMEOUT_SECONDS must be at least 60 (Batch minimum)')
    .default(DEFAULT_ATTEMPT_TIMEOUT_SECONDS),
  /** Only for tests and local stand-ins: endpoints of s3rver, dynalite and the Batch emulator. */
  FOLDSWEEP_S3_ENDPOINT: z.string().url().optional(),
  FOLDSWEEP_DYNAMODB_ENDPOINT: z.string().url().optional(),
  FOLDSWEEP_BATCH_ENDPOINT: z.string().url().optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});
export type AwsRuntimeEnv = z.infer<typeof AwsRuntimeEnvSchema>;

/**
 * Extra environment the executor passes to each Batch job (containerOverrides.environment).
 * An array child's trial is `FOLDSWEEP_TRIAL_OFFSET + AWS_BATCH_JOB_ARRAY_INDEX` (the offset is
 * non-zero only for the second and later array jobs of a sweep of more than 10,000 trials); a
 * one-trial job gets `FOLDSWEEP_TRIAL_INDEX` instead.
 */
export const TRAINER_JOB_ENV = {
  planKey: 'FOLDSWEEP_PLAN_KEY',
  bucket: 'FOLDSWEEP_BUCKET',
  sweepId: 'FOLDSWEEP_SWEEP_ID',
  trialOffset: 'FOLDSWEEP_TRIAL_OFFSET',
  trialIndex: 'FOLDSWEEP_TRIAL_INDEX',
  /** Only for tests: the S3 stand-in the trainer talks to. */
  s3Endpoint: 'FOLDSWEEP_S3_ENDPOINT',
} as const;

/** What AWS Batch itself sets in every job's container (read by the trainer). */
export const BATCH_JOB_ENV = {
  jobId: 'AWS_BATCH_JOB_ID',
  arrayIndex: 'AWS_BATCH_JOB_ARRAY_INDEX',
  attempt: 'AWS_BATCH_JOB_ATTEMPT',
  queueName: 'AWS_BATCH_JQ_NAME',
  computeEnvironment: 'AWS_BATCH_CE_NAME',
} as const;

/**
 * The trainer's exit codes: one table that the trainer (trainer/config.ts), the local executor
 * and the Batch job definition's `evaluateOnExit` (shared/adapters/aws/batch-retry.ts) share.
 * A failed trial has already written its failed TrialResult: retrying it would not help.
 */
export const TRAINER_EXIT = {
  ok: 0,
  /** The trial failed for a reason a retry will not fix (bad data, diverged); result written. */
  trialFailed: 2,
  /** The process could not start the trial (bad environment, missing plan). */
  config: 3,
} as const;
