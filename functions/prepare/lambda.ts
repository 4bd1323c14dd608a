/**
 * The preparation step on AWS Lambda (up to 15 minutes, not bound by the API's 29 s): invoked
 * asynchronously by the api function with `{ sweepId }` after it stored the sweep `pending`.
 * Imports the base model, prepares the dataset, plans, stores the trial records and submits the
 * array jobs (lifecycle prepareSweep). A problem with the spec's files ends the sweep `failed`
 * with its issues (no retry could fix it); only an infrastructure failure throws, so that Lambda
 * retries the invocation.
 */
import { PrepareSweepEventSchema } from '../../shared/schemas/events.js';
import type { ServiceDeps } from '../../shared/service/deps.js';
import { type PrepareOutcome, prepareSweep } from '../../shared/service/lifecycle.js';
import { type AwsDeps, awsDeps } from '../deps/aws.js';

export type PrepareHandlerOutcome =
  | { status: PrepareOutcome['status']; sweepId: string; reason?: string }
  | { status: 'invalid'; reason: string };

/** The handler over given deps (tests pass local stand-ins). */
export function createPrepareHandler(deps: ServiceDeps) {
  return async (event: unknown): Promise<PrepareHandlerOutcome> => {
    const parsed = PrepareSweepEventSchema.safeParse(event);
    if (!parsed.success) {
      deps.logger.error({ event }, 'prepare event ignored: it names no sweepId');
      return { status: 'invalid', reason: 'the event names no sweepId' };
    }
    const outcome = await prepareSweep(deps, parsed.data.sweepId);
    const reason =
      outcome.status === 'skipped'
        ? outcome.reason
        : outcome.status === 'failed'
          ? (outcome.sweep.error ?? undefined)
          : undefined;
    deps.logger.info({ sweepId: parsed.data.sweepId, status: outcome.status, reason }, 'prepared');
    return { status: outcome.status, sweepId: parsed.data.sweepId, ...(reason ? { reason } : {}) };
  };
}

let deps: AwsDeps | undefined;

export const handler = async (event: unknown): Promise<PrepareHandlerOutcome> => {
  deps ??= awsDeps();
  return createPrepareHandler(deps)(event);
};
