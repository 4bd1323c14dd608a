import {
  CreateScheduleCommand,
  type CreateScheduleInput,
  DeleteScheduleCommand,
  GetScheduleCommand,
  type GetScheduleCommandOutput,
  ListSchedulesCommand,
  type SchedulerClient,
  UpdateScheduleCommand,
} from '@aws-sdk/client-scheduler';
import { ValidationError } from '../../errors.js';
import type { Scheduler, Trigger } from '../../ports/scheduler.js';

const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/**
 * A foldsweep cron expression (5 fields, checked by `cronIssue`) as an EventBridge Scheduler
 * expression: `cron(minutes hours day-of-month month day-of-week year)`, with `?` in whichever
 * day field is not restricted, day-of-week as names (cron's 0-7 with Sunday 0 and 7 would be
 * off by one against EventBridge's 1-7 with Sunday 1), ranges of days expanded to lists, and
 * `*\/n` steps written `0/n` (`1/n` for day-of-month and month).
 * @example
 * toEventBridgeCron('0 2 * * *'); // 'cron(0 2 * * ? *)'
 * toEventBridgeCron('30 6 * * 1-5'); // 'cron(30 6 ? * MON,TUE,WED,THU,FRI *)'
 */
export function toEventBridgeCron(expr: string): string {
  const [minute, hour, dom, month, dow] = expr.trim().split(/\s+/);
  const step = (field: string, start: number) => field.replace(/^\*\//, `${start}/`);
  const byWeekday = dow !== '*';
  return `cron(${step(minute, 0)} ${step(hour, 0)} ${byWeekday ? '?' : step(dom, 1)} ${step(month, 1)} ${
    byWeekday ? weekdays(dow) : '?'
  } *)`;
}

/** The foldsweep cron expression of an EventBridge `cron(...)` expression, if it is one. */
export function fromEventBridgeCron(expression: string): string | undefined {
  const match = /^cron\((.*)\)$/.exec(expression.trim());
  const fields = match?.[1].trim().split(/\s+/);
  if (fields?.length !== 6 || fields[5] !== '*') return undefined;
  const [minute, hour, dom, month, dow] = fields;
  // EventBridge's `start/step` is cron's `start-max/step` (`*/step` from the first value).
  const step = (field: string, min: number, max: number) =>
    field.replace(/^(\d+)\/(\d+)$/, (_, start: string, by: string) =>
      Number(start) === min ? `*/${by}` : `${start}-${max}/${by}`,
    );
  return [
    step(minute, 0, 59),
    step(hour, 0, 23),
    dom === '?' ? '*' : step(dom, 1, 31),
    step(month, 1, 12),
    dow === '?' ? '*' : dow,
  ].join(' ');
}

function weekdays(field: string): string {
  const day = (token: string) => {
    const upper = token.toUpperCase();
    const at = DAY_NAMES.indexOf(upper);
    if (at >= 0) return at;
    return Number(token) % 7; // 0 and 7 are both Sunday
  };
  const days = field.split(',').flatMap((item) => {
    const [from, to] = item.split('-');
    if (to === undefined) return [day(from)];
    const out: number[] = [];
    const end = Number(to) === 7 || to.toUpperCase() === 'SUN' ? 7 : day(to);
    for (let d = day(from); d <= end; d++) out.push(d % 7);
    return out;
  });
  return [...new Set(days)].map((d) => DAY_NAMES[d]).join(',');
}

export interface EventBridgeSchedulerOptions {
  client: SchedulerClient;
  /** ARN of the retrain Lambda the schedules invoke. */
  targetArn: string;
  /** Role EventBridge Scheduler assumes to invoke it (lambda:InvokeFunction on targetArn). */
  roleArn: string;
  /** Schedule group (default `default`). */
  groupName?: string;
  /** Prefix of the EventBridge schedule names (default `foldsweep-`); list() sees only these. */
  namePrefix?: string;
  /** SQS queue for invocations that still fail after the retries. */
  deadLetterArn?: string;
  /** Default 3 retries within 1 hour. */
  maximumRetryAttempts?: number;
  maximumEventAgeInSeconds?: number;
}

/**
 * The AWS trigger adapter: one EventBridge Scheduler schedule per foldsweep schedule, named
 * `<prefix><scheduleId>`, firing the retrain Lambda at each cron time in the schedule's time zone
 * (FlexibleTimeWindow OFF) with the input `{ "scheduleId", "scheduledTime" }`, where
 * scheduledTime is the slot (`<aws.scheduler.scheduled-time>`), so a retried invocation records
 * the same run. EventBridge keeps firing while nothing of foldsweep runs: nothing is missed,
 * so `since` is ignored.
 * @example
 * const scheduler = new EventBridgeScheduler({ client: new SchedulerClient({}),
 *   targetArn: env.FOLDSWEEP_RETRAIN_FUNCTION_ARN, roleArn: env.FOLDSWEEP_SCHEDULER_ROLE_ARN });
 */
export class EventBridgeScheduler implements Scheduler {
  private readonly prefix: string;
  private readonly group: string;

  constructor(private readonly options: EventBridgeSchedulerOptions) {
    this.prefix = options.namePrefix ?? 'foldsweep-';
    this.group = options.groupName ?? 'default';
  }

  async put(trigger: Trigger): Promise<void> {
    const input = this.scheduleInput(trigger);
    try {
      await this.options.client.send(new CreateScheduleCommand(input));
    } catch (error) {
      if (nameOf(error) !== 'ConflictException') throw this.translate(error, trigger);
      try {
        await this.options.client.send(new UpdateScheduleCommand(input));
      } catch (updateError) {
        throw this.translate(updateError, trigger);
      }
    }
  }

  async delete(scheduleId: string): Promise<void> {
    try {
      await this.options.client.send(
        new DeleteScheduleCommand({ Name: this.nameOf(scheduleId), GroupName: this.group }),
      );
    } catch (error) {
      if (nameOf(error) !== 'ResourceNotFoundException') throw error;
    }
  }

  async list(): Promise<Trigger[]> {
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.options.client.send(
        new ListSchedulesCommand({
          GroupName: this.group,
          NamePrefix: this.prefix,
          NextToken: token,
        }),
      );
      for (const s of page.Schedules ?? []) {
        if (s.Name?.startsWith(this.prefix)) names.push(s.Name);
      }
      token = page.NextToken;
    } while (token);
    const triggers: Trigger[] = [];
    for (const name of names) {
      let schedule: GetScheduleCommandOutput;
      try {
        schedule = await this.options.client.send(
          new GetScheduleCommand({ Name: name, GroupName: this.group }),
        );
      } catch (error) {
        if (nameOf(error) === 'ResourceNotFoundException') continue; // deleted meanwhile
        throw error;
      }
      const cron = fromEventBridgeCron(schedule.ScheduleExpression ?? '');
      if (!cron) continue;
      triggers.push({
        scheduleId: name.slice(this.prefix.length),
        cron,
        timezone: schedule.ScheduleExpressionTimezone ?? 'UTC',
      });
    }
    return triggers.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
  }

  /** The exact CreateSchedule/UpdateSchedule request for a trigger. */
  scheduleInput(trigger: Trigger): CreateScheduleInput {
    const { options } = this;
    return {
      Name: this.nameOf(trigger.scheduleId),
      GroupName: this.group,
      Description: `foldsweep schedule ${trigger.scheduleId}: '${trigger.cron}' (${trigger.timezone})`,
      ScheduleExpression: toEventBridgeCron(trigger.cron),
      ScheduleExpressionTimezone: trigger.timezone,
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      ActionAfterCompletion: 'NONE',
      Target: {
        Arn: options.targetArn,
        RoleArn: options.roleArn,
        Input: JSON.stringify({
          scheduleId: trigger.scheduleId,
          scheduledTime: '<aws.scheduler.scheduled-time>',
        }),
        RetryPolicy: {
          MaximumRetryAttempts: options.maximumRetryAttempts ?? 3,
          MaximumEventAgeInSeconds: options.maximumEventAgeInSeconds ?? 3600,
        },
        ...(options.deadLetterArn ? { DeadLetterConfig: { Arn: options.deadLetterArn } } : {}),
      },
    };
  }

  private nameOf(scheduleId: string): string {
    return `${this.prefix}${scheduleId}`;
  }

  private translate(error: unknown, trigger: Trigger): unknown {
    if (nameOf(error) !== 'ValidationException') return error;
    return ValidationError.single(
      'cron',
      `EventBridge Scheduler rejected '${trigger.cron}' (${trigger.timezone}) as ` +
        `${toEventBridgeCron(trigger.cron)}: ${(error as Error).message}`,
      error,
    );
  }
}

function nameOf(error: unknown): string | undefined {
  return (error as { name?: string } | undefined)?.name;
}
