import { describe, expect, it } from 'vitest';
import { batchJobStateChangePattern } from '../../../infra/policies.js';

/**
 * EventBridge pattern matching for the subset the aggregator rule uses: every key of the
 * pattern must match; a list matches when the event value equals one of its literals or meets
 * one of its `{ exists }` filters; a nested object descends (a missing object counts as
 * "no fields there", so `exists: false` below it matches).
 */
function matches(pattern: unknown, event: unknown): boolean {
  if (Array.isArray(pattern)) {
    return pattern.some((p) => {
      if (p && typeof p === 'object' && 'exists' in p) {
        return (p as { exists: boolean }).exists === (event !== undefined);
      }
      return event !== undefined && (Array.isArray(event) ? event.includes(p) : event === p);
    });
  }
  if (pattern && typeof pattern === 'object') {
    const fields = (event && typeof event === 'object' ? event : {}) as Record<string, unknown>;
    return Object.entries(pattern).every(([key, sub]) => matches(sub, fields[key]));
  }
  throw new Error(`unsupported pattern element ${JSON.stringify(pattern)}`);
}

const QUEUE = 'arn:aws:batch:us-east-1:123456789012:job-queue/foldsweep-prod-gpu';
const JOB_ID = '4c7599ae-0a82-49aa-ba5a-4727fcce14a8';

/**
 * AWS's documented sample "Batch Job State Change" event
 * (docs.aws.amazon.com/batch/latest/userguide/batch_job_events.html), for an array parent of
 * this queue: `arrayProperties` as DescribeJobs returns it for a parent (size, statusSummary).
 */
function sampleEvent(overrides: { status: string; jobQueue?: string; child?: number }) {
  const arrayProperties =
    overrides.child === undefined
      ? { statusSummary: { SUCCEEDED: 6, FAILED: 0, RUNNING: 0 }, size: 6 }
      : { index: overrides.child };
  const jobId = overrides.child === undefined ? JOB_ID : `${JOB_ID}:${overrides.child}`;
  return {
    version: '0',
    id: 'c8f9c4b5-76e5-d76a-f980-7011e206042b',
    'detail-type': 'Batch Job State Change',
    source: 'aws.batch',
    account: '123456789012',
    time: '2022-01-11T23:36:40Z',
    region: 'us-east-1',
    resources: [`arn:aws:batch:us-east-1:123456789012:job/${jobId}`],
    detail: {
      jobArn: `arn:aws:batch:us-east-1:123456789012:job/${jobId}`,
      jobName: 'sweep-01J0ABCDEF',
      jobId,
      jobQueue: overrides.jobQueue ?? QUEUE,
      status: overrides.status,
      attempts: [],
      createdAt: 1641944200058,
      retryStrategy: { attempts: 3, evaluateOnExit: [] },
      arrayProperties,
      dependsOn: [],
      jobDefinition: 'arn:aws:batch:us-east-1:123456789012:job-definition/foldsweep-prod-trainer:1',
      parameters: {},
      container: {
        image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/foldsweep-prod/trainer:t-0123',
        volumes: [],
        environment: [],
        mountPoints: [],
        ulimits: [],
        networkInterfaces: [],
        resourceRequirements: [{ value: '1', type: 'GPU' }],
        secrets: [],
      },
      tags: { resourceArn: `arn:aws:batch:us-east-1:123456789012:job/${jobId}` },
      propagateTags: true,
      platformCapabilities: ['EC2'],
      eksAttempts: [],
    },
  };
}

describe('batchJobStateChangePattern()', () => {
  const pattern = batchJobStateChangePattern(QUEUE);

  it('matches the documented event for a SUCCEEDED array parent of the queue', () => {
    expect(matches(pattern, sampleEvent({ status: 'SUCCEEDED' }))).toBe(true);
  });

  it('matches a FAILED array parent (terminal too: the aggregator ranks what finished)', () => {
    expect(matches(pattern, sampleEvent({ status: 'FAILED' }))).toBe(true);
  });

  it('does not match the same parent while RUNNING', () => {
    expect(matches(pattern, sampleEvent({ status: 'RUNNING' }))).toBe(false);
  });

  it('does not match a SUCCEEDED array child (one event per sweep, not one per trial)', () => {
    expect(matches(pattern, sampleEvent({ status: 'SUCCEEDED', child: 3 }))).toBe(false);
  });

  it("does not match another queue's jobs", () => {
    const other = sampleEvent({
      status: 'SUCCEEDED',
      jobQueue: 'arn:aws:batch:us-east-1:123456789012:job-queue/someone-else',
    });
    expect(matches(pattern, other)).toBe(false);
  });

  it('matches a terminal single (non-array) job, which a one-trial sweep submits', () => {
    const single = sampleEvent({ status: 'SUCCEEDED' });
    const { arrayProperties: _, ...detail } = single.detail;
    expect(matches(pattern, { ...single, detail })).toBe(true);
  });

  it('only uses pattern features the matcher above implements (literals, exists, objects)', () => {
    expect(JSON.stringify(pattern)).not.toMatch(/prefix|anything-but|numeric|wildcard|suffix/);
  });
});
