import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  ListSchedulesCommand,
  ResourceNotFoundException,
  SchedulerClient,
  UpdateScheduleCommand,
  ValidationException,
} from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  EventBridgeScheduler,
  fromEventBridgeCron,
  toEventBridgeCron,
} from '../../../../../shared/adapters/aws/eventbridge-scheduler.js';
import { ValidationError } from '../../../../../shared/errors.js';
import { cronIssue, sameCron } from '../../../../../shared/schemas/schedule.js';

const TARGET = 'arn:aws:lambda:eu-west-1:123456789012:function:foldsweep-retrain';
const ROLE = 'arn:aws:iam::123456789012:role/foldsweep-scheduler';
const DLQ = 'arn:aws:sqs:eu-west-1:123456789012:foldsweep-retrain-dlq';

/** An SDK service exception as the client throws it. */
function awsError<E>(
  Exception: new (o: { message: string; Message: string; $metadata: object }) => E,
  message: string,
): E {
  return new Exception({ message, Message: message, $metadata: {} });
}

const mock = mockClient(SchedulerClient);
let scheduler: EventBridgeScheduler;
beforeEach(() => {
  mock.reset();
  scheduler = new EventBridgeScheduler({
    client: new SchedulerClient({ region: 'eu-west-1' }),
    targetArn: TARGET,
    roleArn: ROLE,
    deadLetterArn: DLQ,
  });
});
afterEach(() => {
  mock.reset();
});

/** The request every put sends for the nightly Berlin trigger. */
const NIGHTLY_REQUEST = {
  Name: 'foldsweep-nightly',
  GroupName: 'default',
  Description: "foldsweep schedule nightly: '0 2 * * *' (Europe/Berlin)",
  ScheduleExpression: 'cron(0 2 * * ? *)',
  ScheduleExpressionTimezone: 'Europe/Berlin',
  State: 'ENABLED',
  FlexibleTimeWindow: { Mode: 'OFF' },
  ActionAfterCompletion: 'NONE',
  Target: {
    Arn: TARGET,
    RoleArn: ROLE,
    Input: '{"scheduleId":"nightly","scheduledTime":"<aws.scheduler.scheduled-time>"}',
    RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
    DeadLetterConfig: { Arn: DLQ },
  },
};

describe('EventBridgeScheduler', () => {
  it('creates an EventBridge schedule that invokes the retrain Lambda with the schedule id', async () => {
    mock
      .on(CreateScheduleCommand)
      .resolves({ ScheduleArn: 'arn:…:schedule/default/foldsweep-nightly' });
    await scheduler.put({
      scheduleId: 'nightly',
      cron: '0 2 * * *',
      timezone: 'Europe/Berlin',
      since: '2025-01-01T00:00:00.000Z',
    });
    const calls = mock.commandCalls(CreateScheduleCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual(NIGHTLY_REQUEST);
    expect(mock.commandCalls(UpdateScheduleCommand)).toHaveLength(0);
  });

  it('updates the schedule when it exists already (put replaces)', async () => {
    mock
      .on(CreateScheduleCommand)
      .rejects(awsError(ConflictException, 'Schedule foldsweep-nightly already exists.'));
    mock.on(UpdateScheduleCommand).resolves({ ScheduleArn: 'arn' });
    await scheduler.put({ scheduleId: 'nightly', cron: '0 2 * * *', timezone: 'Europe/Berlin' });
    expect(mock.commandCalls(UpdateScheduleCommand)[0].args[0].input).toEqual(NIGHTLY_REQUEST);
  });

  it('turns a rejected expression into a ValidationError on cron; other errors pass through', async () => {
    mock
      .on(CreateScheduleCommand)
      .rejects(awsError(ValidationException, 'Invalid Schedule Expression'));
    const error = await scheduler
      .put({ scheduleId: 'nightly', cron: '0 2 * * *', timezone: 'Europe/Berlin' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues[0]).toMatchObject({ path: 'cron' });
    expect((error as Error).message).toMatch(
      /cron\(0 2 \* \* \? \*\): Invalid Schedule Expression/,
    );

    mock.on(CreateScheduleCommand).rejects(new Error('socket hang up'));
    await expect(
      scheduler.put({ scheduleId: 'nightly', cron: '0 2 * * *', timezone: 'UTC' }),
    ).rejects.toThrow('socket hang up');
  });

  it('deletes a schedule, and a missing one is not an error', async () => {
    mock
      .on(DeleteScheduleCommand)
      .resolvesOnce({})
      .rejectsOnce(awsError(ResourceNotFoundException, 'Schedule foldsweep-gone does not exist.'));
    await scheduler.delete('nightly');
    await scheduler.delete('gone');
    expect(mock.commandCalls(DeleteScheduleCommand).map((c) => c.args[0].input)).toEqual([
      { Name: 'foldsweep-nightly', GroupName: 'default' },
      { Name: 'foldsweep-gone', GroupName: 'default' },
    ]);
  });

  it('lists its own schedules across pages as triggers', async () => {
    mock
      .on(ListSchedulesCommand, { NextToken: undefined })
      .resolves({
        Schedules: [{ Name: 'foldsweep-weekday' }, { Name: 'someone-elses' }],
        NextToken: 't2',
      })
      .on(ListSchedulesCommand, { NextToken: 't2' })
      .resolves({ Schedules: [{ Name: 'foldsweep-nightly' }, { Name: 'foldsweep-deleted' }] });
    mock
      .on(GetScheduleCommand, { Name: 'foldsweep-nightly' })
      .resolves({
        ScheduleExpression: 'cron(0 2 * * ? *)',
        ScheduleExpressionTimezone: 'Europe/Berlin',
      })
      .on(GetScheduleCommand, { Name: 'foldsweep-weekday' })
      .resolves({
        ScheduleExpression: 'cron(30 6 ? * MON,TUE,WED,THU,FRI *)',
        ScheduleExpressionTimezone: 'UTC',
      })
      .on(GetScheduleCommand, { Name: 'foldsweep-deleted' })
      .rejects(awsError(ResourceNotFoundException, 'gone'));
    expect(await scheduler.list()).toEqual([
      { scheduleId: 'nightly', cron: '0 2 * * *', timezone: 'Europe/Berlin' },
      { scheduleId: 'weekday', cron: '30 6 * * MON,TUE,WED,THU,FRI', timezone: 'UTC' },
    ]);
    expect(mock.commandCalls(ListSchedulesCommand)[0].args[0].input).toMatchObject({
      GroupName: 'default',
      NamePrefix: 'foldsweep-',
    });
    expect(mock.commandCalls(GetScheduleCommand)).toHaveLength(3);
  });
});

describe('toEventBridgeCron()', () => {
  it.each([
    ['0 2 * * *', 'cron(0 2 * * ? *)'],
    ['30 6 * * 1-5', 'cron(30 6 ? * MON,TUE,WED,THU,FRI *)'],
    ['0 0 * * 0', 'cron(0 0 ? * SUN *)'],
    ['0 0 * * 7', 'cron(0 0 ? * SUN *)'],
    ['0 0 * * 5-7', 'cron(0 0 ? * FRI,SAT,SUN *)'],
    ['0 0 * * sat,sun', 'cron(0 0 ? * SAT,SUN *)'],
    ['*/15 * * * *', 'cron(0/15 * * * ? *)'],
    ['0 3 1,15 * *', 'cron(0 3 1,15 * ? *)'],
    ['0 4 */2 JAN-MAR *', 'cron(0 4 1/2 JAN-MAR ? *)'],
  ])('%s -> %s', (cron, expected) => {
    expect(cronIssue(cron)).toBeUndefined();
    expect(toEventBridgeCron(cron)).toBe(expected);
    // Reading it back gives an expression with the same fire times.
    expect(sameCron(fromEventBridgeCron(expected) ?? '', cron)).toBe(true);
  });

  it('does not read back expressions foldsweep does not write', () => {
    expect(fromEventBridgeCron('rate(5 minutes)')).toBeUndefined();
    expect(fromEventBridgeCron('cron(0 2 * * ? 2026)')).toBeUndefined();
    expect(fromEventBridgeCron('cron(5/20 * * * ? *)')).toBe('5-59/20 * * * *');
  });
});
