/**
 * Batch "Job State Change" events for tests: AWS's documented sample, verbatim, and a factory
 * for events of foldsweep's own array jobs.
 */
import { BATCH_JOB_TAGS, batchJobName } from '../../shared/schemas/events.js';

/**
 * The example event of the AWS Batch User Guide ("Job state change events",
 * https://docs.aws.amazon.com/batch/latest/userguide/batch_job_events.html).
 */
export const AWS_SAMPLE_BATCH_JOB_STATE_CHANGE = {
  version: '0',
  id: 'c8f9c4b5-76e5-d76a-f980-7011e206042b',
  'detail-type': 'Batch Job State Change',
  source: 'aws.batch',
  account: '123456789012',
  time: '2022-01-11T23:36:40Z',
  region: 'us-east-1',
  resources: ['arn:aws:batch:us-east-1:123456789012:job/4c7599ae-0a82-49aa-ba5a-4727fcce14a8'],
  detail: {
    jobArn: 'arn:aws:batch:us-east-1:123456789012:job/4c7599ae-0a82-49aa-ba5a-4727fcce14a8',
    jobName: 'event-test',
    jobId: '4c7599ae-0a82-49aa-ba5a-4727fcce14a8',
    jobQueue: 'arn:aws:batch:us-east-1:123456789012:job-queue/PexjEHappyPathCanary2JobQueue',
    status: 'RUNNABLE',
    attempts: [],
    createdAt: 1641944200058,
    retryStrategy: {
      attempts: 2,
      evaluateOnExit: [],
    },
    dependsOn: [],
    jobDefinition: 'arn:aws:batch:us-east-1:123456789012:job-definition/first-run-job-definition:1',
    parameters: {},
    container: {
      image: '137112412989.dkr.ecr.us-east-1.amazonaws.com/amazonlinux:latest',
      command: ['sleep', '600'],
      volumes: [],
      environment: [],
      mountPoints: [],
      ulimits: [],
      networkInterfaces: [],
      resourceRequirements: [
        { value: '2', type: 'VCPU' },
        { value: '256', type: 'MEMORY' },
      ],
      secrets: [],
    },
    tags: {
      resourceArn: 'arn:aws:batch:us-east-1:123456789012:job/4c7599ae-0a82-49aa-ba5a-4727fcce14a8',
    },
    propagateTags: false,
    platformCapabilities: [],
  },
} as const;

export const TEST_JOB_QUEUE = 'arn:aws:batch:us-east-1:123456789012:job-queue/foldsweep-gpu';
export const TEST_PARENT_JOB_ID = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';

export interface BatchEventOverrides {
  sweepId?: string;
  status?: string;
  /** Array size (omit `arrayProperties` entirely with `size: null`: a one-trial plain job). */
  size?: number | null;
  /** Makes it the event of array child `index`. */
  childIndex?: number;
  part?: number;
  parts?: number;
  trialOffset?: number;
  jobQueue?: string;
  jobId?: string;
  statusReason?: string;
  tags?: Record<string, string> | null;
  detail?: Record<string, unknown>;
}

/**
 * A "Batch Job State Change" event of foldsweep's array parent for `sweepId` (SUCCEEDED, 3
 * children, one part), shaped like AWS's sample.
 * @example
 * batchStateChangeEventFactory({ sweepId: 'sweep-0001', status: 'FAILED', size: 9 });
 */
export function batchStateChangeEventFactory(o: BatchEventOverrides = {}) {
  const sweepId = o.sweepId ?? 'sweep-0001';
  const parentId = o.jobId ?? TEST_PARENT_JOB_ID;
  const jobId = o.childIndex === undefined ? parentId : `${parentId}:${o.childIndex}`;
  const jobArn = `arn:aws:batch:us-east-1:123456789012:job/${jobId}`;
  const size = o.size === undefined ? 3 : o.size;
  const status = o.status ?? 'SUCCEEDED';
  const arrayProperties =
    o.childIndex !== undefined
      ? { index: o.childIndex }
      : size === null
        ? undefined
        : { size, statusSummary: { [status === 'SUCCEEDED' ? 'SUCCEEDED' : 'FAILED']: size } };
  const tags =
    o.tags === null
      ? { resourceArn: jobArn }
      : (o.tags ?? {
          [BATCH_JOB_TAGS.sweepId]: sweepId,
          [BATCH_JOB_TAGS.part]: String(o.part ?? 0),
          [BATCH_JOB_TAGS.parts]: String(o.parts ?? 1),
          [BATCH_JOB_TAGS.trialOffset]: String(o.trialOffset ?? 0),
          resourceArn: jobArn,
        });
  return {
    ...AWS_SAMPLE_BATCH_JOB_STATE_CHANGE,
    id: crypto.randomUUID(),
    resources: [jobArn],
    detail: {
      ...AWS_SAMPLE_BATCH_JOB_STATE_CHANGE.detail,
      jobArn,
      jobName: batchJobName(sweepId, o.part ?? 0, o.parts ?? 1),
      jobId,
      jobQueue: o.jobQueue ?? TEST_JOB_QUEUE,
      status,
      ...(o.statusReason ? { statusReason: o.statusReason } : {}),
      ...(arrayProperties ? { arrayProperties } : {}),
      tags,
      propagateTags: true,
      ...o.detail,
    },
  };
}
