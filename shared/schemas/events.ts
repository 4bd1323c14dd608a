import { z } from 'zod';

/**
 * Events foldsweep receives on AWS: EventBridge's envelope, AWS Batch's "Batch Job State Change"
 * detail (the JobDetail of DescribeJobs), and the payload the retraining schedule sends. Unknown
 * properties are dropped, not rejected: AWS adds fields to its events over time.
 * @module
 */

export const BATCH_JOB_STATUSES = [
  'SUBMITTED',
  'PENDING',
  'RUNNABLE',
  'STARTING',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
] as const;
export const BatchJobStatusSchema = z.enum(BATCH_JOB_STATUSES);
export type BatchJobStatus = z.infer<typeof BatchJobStatusSchema>;

/** The envelope EventBridge wraps every event in, around a `detail` of the given schema. */
export function eventBridgeEnvelope<D extends z.ZodType>(detail: D) {
  return z.object({
    version: z.string(),
    id: z.string().min(1),
    'detail-type': z.string(),
    source: z.string(),
    account: z.string(),
    time: z.string(),
    region: z.string(),
    resources: z.array(z.string()),
    'replay-name': z.string().optional(),
    detail,
  });
}

/** Any EventBridge event, its detail left unparsed: the first step for an event of unknown kind. */
export const EventBridgeEventSchema = eventBridgeEnvelope(z.unknown());
export type EventBridgeEvent = z.infer<typeof EventBridgeEventSchema>;

const BatchAttemptSchema = z.object({
  container: z
    .object({
      exitCode: z.number().int().optional(),
      reason: z.string().optional(),
      logStreamName: z.string().optional(),
      taskArn: z.string().optional(),
    })
    .optional(),
  startedAt: z.number().optional(),
  stoppedAt: z.number().optional(),
  statusReason: z.string().optional(),
});

/**
 * The `detail` of a "Batch Job State Change" event: the job as DescribeJobs returns it. An array
 * parent has `arrayProperties.size` (and `statusSummary`); an array child has
 * `arrayProperties.index` and a job id `<parent id>:<index>`.
 * @example
 * { "jobName": "foldsweep-01JD3", "jobId": "4c7599ae-0a82-49aa-ba5a-4727fcce14a8",
 *   "jobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/foldsweep", "status": "SUCCEEDED",
 *   "arrayProperties": { "size": 1000, "statusSummary": { "SUCCEEDED": 1000 } },
 *   "tags": { "foldsweep:sweep-id": "01JD3" }, "jobDefinition": "arn:...:job-definition/trainer:3" }
 */
export const BatchJobDetailSchema = z.object({
  jobArn: z.string().optional(),
  jobName: z.string(),
  jobId: z.string().min(1),
  jobQueue: z.string().min(1),
  status: BatchJobStatusSchema,
  statusReason: z.string().optional(),
  attempts: z.array(BatchAttemptSchema).default([]),
  createdAt: z.number().optional(),
  startedAt: z.number().optional(),
  stoppedAt: z.number().optional(),
  jobDefinition: z.string().optional(),
  retryStrategy: z
    .object({
      attempts: z.number().int().optional(),
      evaluateOnExit: z.array(z.record(z.string(), z.string())).optional(),
    })
    .optional(),
  container: z
    .object({
      exitCode: z.number().int().optional(),
      reason: z.string().optional(),
      environment: z.array(z.object({ name: z.string(), value: z.string().optional() })).optional(),
    })
    .optional(),
  arrayProperties: z
    .object({
      size: z.number().int().optional(),
      index: z.number().int().optional(),
      statusSummary: z.record(z.string(), z.number()).optional(),
    })
    .optional(),
  tags: z.record(z.string(), z.string()).optional(),
  propagateTags: z.boolean().optional(),
});
export type BatchJobDetail = z.infer<typeof BatchJobDetailSchema>;

/**
 * An AWS Batch "Batch Job State Change" event as EventBridge delivers it to the aggregator.
 * @example
 * { "version": "0", "id": "c8f9c4b5-76e5-d76a-f980-7011e206042b", "detail-type": "Batch Job State Change",
 *   "source": "aws.batch", "account": "123456789012", "time": "2022-01-11T23:36:40Z",
 *   "region": "us-east-1", "resources": ["arn:aws:batch:us-east-1:123456789012:job/4c75..."],
 *   "detail": { "jobName": "foldsweep-01JD3", "jobId": "4c75...", "status": "SUCCEEDED", ... } }
 */
export const BatchJobStateChangeEventSchema = eventBridgeEnvelope(BatchJobDetailSchema).extend({
  'detail-type': z.literal('Batch Job State Change'),
  source: z.literal('aws.batch'),
});
export type BatchJobStateChangeEvent = z.infer<typeof BatchJobStateChangeEventSchema>;

/**
 * The tags BatchExecutor puts on each array job (propagated to its children and their tasks):
 * how an event names its sweep. A sweep of more than 10,000 trials is split into `parts` array
 * jobs; part `part` (0-based) runs trials `offset .. offset + arrayProperties.size - 1`.
 */
export const BATCH_JOB_TAGS = {
  sweepId: 'foldsweep:sweep-id',
  part: 'foldsweep:part',
  parts: 'foldsweep:parts',
  trialOffset: 'foldsweep:trial-offset',
  /** Successive halving: the rung the job runs; its offset indexes the rung's trial list. */
  rung: 'foldsweep:rung',
} as const;

/** Where an array job (or a one-trial job) sits in its sweep, read from its tags. */
export interface SweepJobRef {
  sweepId: string;
  part: number;
  parts: number;
  trialOffset: number;
  /** Successive halving: the rung (trialOffset then indexes `rungKey(sweepId, rung)`'s trials). */
  rung?: number;
}

const count = (v: string | undefined, min: number) => {
  const n = Number(v);
  return v !== undefined && v !== '' && Number.isInteger(n) && n >= min ? n : undefined;
};

/** The sweep a Batch job belongs to, from its tags; undefined for jobs foldsweep did not submit. */
export function sweepJobRef(tags: Record<string, string> | undefined): SweepJobRef | undefined {
  const sweepId = tags?.[BATCH_JOB_TAGS.sweepId];
  if (!sweepId) return undefined;
  const part = count(tags?.[BATCH_JOB_TAGS.part], 0) ?? 0;
  const parts = count(tags?.[BATCH_JOB_TAGS.parts], 1) ?? 1;
  const trialOffset = count(tags?.[BATCH_JOB_TAGS.trialOffset], 0) ?? 0;
  if (part >= parts) return undefined;
  const rung =
    tags?.[BATCH_JOB_TAGS.rung] === undefined ? undefined : count(tags[BATCH_JOB_TAGS.rung], 0);
  return { sweepId, part, parts, trialOffset, ...(rung === undefined ? {} : { rung }) };
}

/**
 * The Batch job name of a sweep's array job: letters, digits, `-` and `_` only, at most 128
 * characters (Batch's rule); the sweep id itself travels in the tags.
 */
export function batchJobName(sweepId: string, part = 0, parts = 1, rung?: number): string {
  const safe = sweepId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 100);
  const base = rung === undefined ? `foldsweep-${safe}` : `foldsweep-${safe}-rung${rung}`;
  return parts > 1 ? `${base}-part${part + 1}of${parts}` : base;
}

/**
 * What EventBridge Scheduler sends the `retrain` function when a schedule fires (the target
 * input set by EventBridgeScheduler): the schedule whose stored sweep template to run, and the
 * slot (`<aws.scheduler.scheduled-time>`), so that a retried invocation records the same run.
 * @example
 * { "scheduleId": "fashion-nightly", "scheduledTime": "2025-01-02T01:00:00Z" }
 */
export const ScheduledRetrainEventSchema = z.object({
  scheduleId: z.string().min(1),
  scheduledTime: z.string().min(1),
});

/**
 * A retrain event carrying the sweep template itself (a sweep spec, validated by createSweep
 * like any other): for a schedule target configured with the spec as its input.
 * @example
 * { "scheduleName": "fashion-weekly",
 *   "template": { "baseModel": "/opt/models/base/model.json", "dataset": { "uri": "...", "format": "idx" } } }
 */
export const TemplateRetrainEventSchema = z.object({
  scheduleName: z.string().min(1).optional(),
  template: z.record(z.string(), z.unknown()),
});

export const RetrainEventSchema = z.union([
  ScheduledRetrainEventSchema,
  TemplateRetrainEventSchema,
]);
export type RetrainEvent = z.infer<typeof RetrainEventSchema>;

/** The name in a Batch ARN (`arn:aws:batch:...:job-queue/NAME`), or the input when not an ARN. */
export function batchResourceName(arnOrName: string): string {
  const m = /^arn:aws[a-z-]*:batch:[^:]*:[^:]*:[a-z-]+\/(.+)$/.exec(arnOrName);
  return m ? m[1] : arnOrName;
}

/**
 * The prepare function's event (an asynchronous invocation by the api or retrain function):
 * prepare this submitted sweep.
 * @example
 * { "sweepId": "01JD8Z6K4Q9V3T2M1N0P5R7S8W" }
 */
export const PrepareSweepEventSchema = z.object({ sweepId: z.string().min(1) });
export type PrepareSweepEvent = z.infer<typeof PrepareSweepEventSchema>;
