import { z } from 'zod';

/** An ARN of the given service (`arn:<partition>:<service>:...`). */
function arn(service: string, message: string) {
  return z.string().regex(new RegExp(`^arn:[a-z-]+:${service}:[^\\s]*:[0-9]{12}:\\S+$`), message);
}

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
export const AwsRuntimeEnvSchema = z
  .object({
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
    /**
     * Scheduled retraining (EventBridge Scheduler), on the functions that create schedules or run
     * them (api, retrain): the group the schedules live in, the retrain function they invoke, the
     * role they invoke it as, and the queue for invocations that still fail after retries. Without
     * the two ARNs the function has no scheduler (the aggregator needs none).
     */
    FOLDSWEEP_SCHEDULE_GROUP: z
      .string()
      .regex(/^[0-9A-Za-z_.-]{1,64}$/, 'FOLDSWEEP_SCHEDULE_GROUP is a schedule group name')
      .default('default'),
    FOLDSWEEP_RETRAIN_FUNCTION_ARN: arn(
      'lambda',
      'set FOLDSWEEP_RETRAIN_FUNCTION_ARN to the retrain Lambda function ARN',
    ).optional(),
    FOLDSWEEP_SCHEDULER_ROLE_ARN: arn(
      'iam',
      'set FOLDSWEEP_SCHEDULER_ROLE_ARN to the ARN of the role EventBridge Scheduler invokes the retrain function as',
    ).optional(),
    FOLDSWEEP_DEAD_LETTER_QUEUE_ARN: arn(
      'sqs',
      'set FOLDSWEEP_DEAD_LETTER_QUEUE_ARN to the SQS dead-letter queue ARN',
    ).optional(),
    /**
     * The prepare function the api and retrain functions hand a submitted sweep to (an
     * asynchronous invocation). Without it a sweep is prepared in the invoking process, which a
     * Lambda freezes once it answered: set it on every function that creates sweeps.
     */
    FOLDSWEEP_PREPARE_FUNCTION_ARN: arn(
      'lambda',
      'set FOLDSWEEP_PREPARE_FUNCTION_ARN to the prepare Lambda function ARN',
    ).optional(),
    /** Only for tests and local stand-ins: endpoints of s3rver, dynalite and the Batch emulator. */
    FOLDSWEEP_S3_ENDPOINT: z.string().url().optional(),
    FOLDSWEEP_DYNAMODB_ENDPOINT: z.string().url().optional(),
    FOLDSWEEP_BATCH_ENDPOINT: z.string().url().optional(),
    /** Only for tests: an EventBridge Scheduler stand-in. */
    FOLDSWEEP_SCHEDULER_ENDPOINT: z.string().url().optional(),
    /** Only for tests: a Lambda Invoke stand-in. */
    FOLDSWEEP_LAMBDA_ENDPOINT: z.string().url().optional(),
    LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  })
  .superRefine((env, ctx) => {
    // The scheduler needs both ARNs: one without the other is a half-configured deployment.
    const pair = ['FOLDSWEEP_RETRAIN_FUNCTION_ARN', 'FOLDSWEEP_SCHEDULER_ROLE_ARN'] as const;
    const given = pair.filter((name) => env[name] !== undefined);
    if (given.length === 1) {
      const missing = pair.find((name) => env[name] === undefined) as string;
      ctx.addIssue({
        code: 'custom',
        path: [missing],
        message: `${given[0]} is set, so set ${missing} too (scheduled retraining needs both)`,
      });
    }
  });
export type AwsRuntimeEnv = z.infer<typeof AwsRuntimeEnvSchema>;

/** The variables of scheduled retraining, as infra sets them (api and retrain functions). */
export const SCHEDULE_ENV = {
  group: 'FOLDSWEEP_SCHEDULE_GROUP',
  targetArn: 'FOLDSWEEP_RETRAIN_FUNCTION_ARN',
  roleArn: 'FOLDSWEEP_SCHEDULER_ROLE_ARN',
  deadLetterArn: 'FOLDSWEEP_DEAD_LETTER_QUEUE_ARN',
} as const satisfies Record<string, keyof AwsRuntimeEnv>;

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
  /**
   * Successive halving: the object listing the rung's trial indices (`{ trials: [...] }`); the
   * child runs `trials[FOLDSWEEP_TRIAL_OFFSET + AWS_BATCH_JOB_ARRAY_INDEX]`.
   */
  trialListKey: 'FOLDSWEEP_TRIAL_LIST_KEY',
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
 * and the Batch job definition's `evaluateOnExit` (shared/trial-retry.ts) share.
 * A failed trial has already written its failed TrialResult: retrying it would not help.
 */
export const TRAINER_EXIT = {
  ok: 0,
  /** The trial failed for a reason a retry will not fix (bad data, diverged); result written. */
  trialFailed: 2,
  /** The process could not start the trial (bad environment, missing plan). */
  config: 3,
} as const;
