import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { batchJobStateChangePattern, deadLetterQueuePolicy } from '../policies.js';

interface FunctionRef {
  name: pulumi.Input<string>;
  arn: pulumi.Input<string>;
}

export interface EventsArgs {
  jobQueueArn: pulumi.Input<string>;
  aggregator: FunctionRef;
  retrain: FunctionRef;
  /** Invoked asynchronously by the api and retrain functions (a sweep to prepare). */
  prepare: FunctionRef;
  deadLetterQueueName: string;
  scheduleGroupName: string;
  tags: Record<string, string>;
}

/** How long EventBridge and Lambda keep trying an event before it goes to the DLQ. */
export const EVENT_RETRY = { maximumRetryAttempts: 24, maximumEventAgeInSeconds: 86400 };
export const ASYNC_INVOKE_RETRY = { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 21600 };

/**
 * What starts work without a caller: an EventBridge rule that sends terminal "Batch Job State
 * Change" events of this job queue (array parents and single jobs) to the aggregator, and the
 * EventBridge Scheduler group in which the api creates retrain schedules (time zones, retries,
 * dead-letter queue; the role they run as comes from Iam). Events that still fail after
 * retries, from either path or from the functions' async invocations, land in one encrypted
 * dead-letter queue kept 14 days.
 */
export class Events extends pulumi.ComponentResource {
  readonly deadLetterQueueUrl: pulumi.Output<string>;
  readonly scheduleGroupName: pulumi.Output<string>;

  constructor(name: string, args: EventsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('foldsweep:infra:Events', name, {}, opts);
    const dlq = this.createDeadLetterQueue(name, args);
    const rule = this.createJobStateRule(name, args);
    this.routeToAggregator(name, rule, dlq, args);
    this.configureAsyncInvokes(name, dlq, args);
    const group = this.createScheduleGroup(name, args);

    this.deadLetterQueueUrl = dlq.url;
    this.scheduleGroupName = group.name;
    this.registerOutputs({
      deadLetterQueueUrl: this.deadLetterQueueUrl,
      scheduleGroupName: this.scheduleGroupName,
    });
  }

  private createDeadLetterQueue(name: string, args: EventsArgs): aws.sqs.Queue {
    return new aws.sqs.Queue(
      `${name}-dlq`,
      {
        name: args.deadLetterQueueName,
        sqsManagedSseEnabled: true,
        messageRetentionSeconds: 14 * 24 * 3600,
        tags: args.tags,
      },
      { parent: this },
    );
  }

  private createJobStateRule(name: string, args: EventsArgs): aws.cloudwatch.EventRule {
    return new aws.cloudwatch.EventRule(
      `${name}-job-state`,
      {
        description: 'foldsweep: terminal Batch array jobs of the trainer queue -> aggregator',
        eventPattern: pulumi
          .output(args.jobQueueArn)
          .apply((arn) => JSON.stringify(batchJobStateChangePattern(arn))),
        tags: args.tags,
      },
      { parent: this },
    );
  }

  private routeToAggregator(
    name: string,
    rule: aws.cloudwatch.EventRule,
    dlq: aws.sqs.Queue,
    args: EventsArgs,
  ): void {
    new aws.lambda.Permission(
      `${name}-aggregator-invoke`,
      {
        action: 'lambda:InvokeFunction',
        function: args.aggregator.name,
        principal: 'events.amazonaws.com',
        sourceArn: rule.arn,
      },
      { parent: this },
    );
    new aws.sqs.QueuePolicy(
      `${name}-dlq`,
      {
        queueUrl: dlq.url,
        policy: pulumi
          .all([dlq.arn, rule.arn])
          .apply(([queueArn, ruleArn]) => JSON.stringify(deadLetterQueuePolicy(queueArn, ruleArn))),
      },
      { parent: this },
    );
    new aws.cloudwatch.EventTarget(
      `${name}-aggregator`,
      {
        rule: rule.name,
        arn: args.aggregator.arn,
        retryPolicy: EVENT_RETRY,
        deadLetterConfig: { arn: dlq.arn },
      },
      { parent: this },
    );
  }

  /**
   * Lambda's own retries of async invocations (EventBridge, Scheduler, the api's hand-over of a
   * sweep to prepare), then the DLQ. A prepare invocation that still fails leaves its sweep
   * `preparing`; its event in the DLQ names the sweep (`POST /sweeps/<id>/resume` takes it up).
   */
  private configureAsyncInvokes(name: string, dlq: aws.sqs.Queue, args: EventsArgs): void {
    for (const [fn, ref] of [
      ['aggregator', args.aggregator],
      ['retrain', args.retrain],
      ['prepare', args.prepare],
    ] as const) {
      new aws.lambda.FunctionEventInvokeConfig(
        `${name}-${fn}-async`,
        {
          functionName: ref.name,
          ...ASYNC_INVOKE_RETRY,
          destinationConfig: { onFailure: { destination: dlq.arn } },
        },
        { parent: this },
      );
    }
  }

  private createScheduleGroup(name: string, args: EventsArgs): aws.scheduler.ScheduleGroup {
    return new aws.scheduler.ScheduleGroup(
      `${name}-retrain`,
      { name: args.scheduleGroupName, tags: args.tags },
      { parent: this },
    );
  }
}
