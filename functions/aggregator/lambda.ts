/**
 * The aggregator on AWS Lambda, invoked by the EventBridge rule for "Batch Job State Change"
 * events: settles and aggregates a sweep when its array job ends. Ignored events (other
 * queues, children, non-terminal states, malformed ones) are logged and acknowledged, never
 * thrown: only a failure worth retrying (S3 or DynamoDB unavailable) fails the invocation.
 * awsDeps wires the schedule store and the model registry (DynamoDB, the same table), so a
 * sweep that a schedule started has its run completed after aggregation (completeScheduledRun:
 * challenger against the serving model on the frozen holdout, promoted or rejected), as the
 * local process pool does after it drains.
 */
import {
  type BatchEventDeps,
  type BatchEventOptions,
  type BatchEventOutcome,
  handleBatchJobEvent,
} from '../../shared/service/batch-events.js';
import { type AwsDeps, awsDeps } from '../deps/aws.js';

/** The handler over given deps (tests pass local stand-ins). */
export function createAggregatorHandler(deps: BatchEventDeps, options: BatchEventOptions) {
  return async (event: unknown): Promise<BatchEventOutcome> => {
    const outcome = await handleBatchJobEvent(deps, event, options);
    const eventId = (event as { id?: unknown } | null)?.id;
    if (!outcome.handled) {
      const fields = { eventId, reason: outcome.reason };
      if (outcome.malformed) deps.logger.warn(fields, 'event ignored');
      else deps.logger.info(fields, 'event ignored');
      return outcome;
    }
    deps.logger.info(
      {
        eventId,
        sweepId: outcome.sweepId,
        jobId: outcome.jobId,
        ...outcome.counts,
        waitingForParts: outcome.waitingForParts,
        aggregate: outcome.aggregate?.status,
        scheduledRun: outcome.scheduledRun?.status,
      },
      'array job settled',
    );
    return outcome;
  };
}

let deps: AwsDeps | undefined;

export const handler = async (event: unknown): Promise<BatchEventOutcome> => {
  deps ??= awsDeps();
  return createAggregatorHandler(deps, { jobQueue: deps.env.FOLDSWEEP_JOB_QUEUE })(event);
};
