import { describe, expect, it } from 'vitest';
import {
  BatchJobStateChangeEventSchema,
  batchJobName,
  batchResourceName,
  EventBridgeEventSchema,
  RetrainEventSchema,
  sweepJobRef,
} from '../../../../shared/schemas/events.js';
import {
  AWS_SAMPLE_BATCH_JOB_STATE_CHANGE,
  batchStateChangeEventFactory,
} from '../../../batch-emulator/events.js';

describe('BatchJobStateChangeEventSchema', () => {
  it('parses the sample event of the AWS Batch documentation', () => {
    const event = BatchJobStateChangeEventSchema.parse(AWS_SAMPLE_BATCH_JOB_STATE_CHANGE);

    expect(event['detail-type']).toBe('Batch Job State Change');
    expect(event.detail).toMatchObject({
      jobId: '4c7599ae-0a82-49aa-ba5a-4727fcce14a8',
      status: 'RUNNABLE',
      attempts: [],
      tags: { resourceArn: expect.stringContaining(':job/') },
    });
  });

  it('keeps the fields the aggregator reads from an array parent', () => {
    const event = BatchJobStateChangeEventSchema.parse(
      batchStateChangeEventFactory({ sweepId: 'sweep-9', size: 12, status: 'FAILED' }),
    );

    expect(event.detail.arrayProperties).toEqual({ size: 12, statusSummary: { FAILED: 12 } });
    expect(sweepJobRef(event.detail.tags)).toEqual({
      sweepId: 'sweep-9',
      part: 0,
      parts: 1,
      trialOffset: 0,
    });
  });

  it('accepts properties AWS adds later, and drops them', () => {
    const event = {
      ...AWS_SAMPLE_BATCH_JOB_STATE_CHANGE,
      detail: { ...AWS_SAMPLE_BATCH_JOB_STATE_CHANGE.detail, someNewField: { a: 1 } },
    };

    const parsed = BatchJobStateChangeEventSchema.parse(event);

    expect(parsed.detail).not.toHaveProperty('someNewField');
  });

  it.each([
    ['another detail-type', { 'detail-type': 'Batch Job Queue Blocked' }],
    ['another source', { source: 'aws.ecs' }],
    [
      'an unknown status',
      { detail: { ...AWS_SAMPLE_BATCH_JOB_STATE_CHANGE.detail, status: 'DONE' } },
    ],
    ['no detail', { detail: undefined }],
  ])('rejects %s', (_, patch) => {
    const result = BatchJobStateChangeEventSchema.safeParse({
      ...AWS_SAMPLE_BATCH_JOB_STATE_CHANGE,
      ...patch,
    });

    expect(result.success).toBe(false);
  });

  it('parses the envelope of any EventBridge event', () => {
    expect(EventBridgeEventSchema.safeParse({ hello: 'world' }).success).toBe(false);
    expect(
      EventBridgeEventSchema.parse({ ...AWS_SAMPLE_BATCH_JOB_STATE_CHANGE, detail: 'anything' })
        .detail,
    ).toBe('anything');
  });
});

describe('sweepJobRef()', () => {
  it('reads the part and offset of a split sweep', () => {
    expect(
      sweepJobRef({
        'foldsweep:sweep-id': 's',
        'foldsweep:part': '1',
        'foldsweep:parts': '2',
        'foldsweep:trial-offset': '5001',
      }),
    ).toEqual({ sweepId: 's', part: 1, parts: 2, trialOffset: 5001 });
  });

  it('is undefined for jobs foldsweep did not tag, or tagged inconsistently', () => {
    expect(sweepJobRef(undefined)).toBeUndefined();
    expect(sweepJobRef({ resourceArn: 'arn:...' })).toBeUndefined();
    expect(
      sweepJobRef({ 'foldsweep:sweep-id': 's', 'foldsweep:part': '2', 'foldsweep:parts': '2' }),
    ).toBeUndefined();
  });
});

describe('batchJobName()', () => {
  it('names a sweep and its parts within Batch job-name rules', () => {
    expect(batchJobName('01JD3ABC')).toBe('foldsweep-01JD3ABC');
    expect(batchJobName('01JD3ABC', 1, 2)).toBe('foldsweep-01JD3ABC-part2of2');
    expect(batchJobName('odd id/with:chars')).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/);
  });
});

describe('batchResourceName()', () => {
  it('takes the name out of an ARN and leaves a name alone', () => {
    expect(batchResourceName('arn:aws:batch:eu-west-1:1:job-queue/foldsweep-gpu')).toBe(
      'foldsweep-gpu',
    );
    expect(batchResourceName('foldsweep-gpu')).toBe('foldsweep-gpu');
  });
});

describe('RetrainEventSchema', () => {
  it('accepts what EventBridge Scheduler sends for a schedule, or a template', () => {
    expect(
      RetrainEventSchema.parse({ scheduleId: 'nightly', scheduledTime: '2025-01-02T01:00:00Z' }),
    ).toEqual({ scheduleId: 'nightly', scheduledTime: '2025-01-02T01:00:00Z' });
    expect(RetrainEventSchema.parse({ template: { baseModel: 'm.json' } })).toEqual({
      template: { baseModel: 'm.json' },
    });
  });

  it('rejects anything else', () => {
    expect(RetrainEventSchema.safeParse({ scheduleId: 'nightly' }).success).toBe(false);
    expect(RetrainEventSchema.safeParse('run now').success).toBe(false);
  });
});
