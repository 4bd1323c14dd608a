import { z } from 'zod';

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
  /** Only for tests and local stand-ins: endpoints of s3rver, dynalite and the Batch emulator. */
  FOLDSWEEP_S3_ENDPOINT: z.string().url().optional(),
  FOLDSWEEP_DYNAMODB_ENDPOINT: z.string().url().optional(),
  FOLDSWEEP_BATCH_ENDPOINT: z.string().url().optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});
export type AwsRuntimeEnv = z.infer<typeof AwsRuntimeEnvSchema>;

/** Extra environment the executor passes to each Batch job (containerOverrides.environment). */
export const TRAINER_JOB_ENV = {
  planKey: 'FOLDSWEEP_PLAN_KEY',
  bucket: 'FOLDSWEEP_BUCKET',
} as const;
