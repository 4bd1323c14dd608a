/**
 * Scheduled retraining on AWS Lambda, invoked by EventBridge Scheduler. The event names either
 * a stored schedule (`{ scheduleId, scheduledTime }`: runSchedule records the run once per slot
 * and starts a sweep of the schedule's template on the latest data) or carries the sweep
 * template itself (`{ template }`: a sweep is created from it). A bad event, template or an
 * unknown schedule is logged and answered without throwing: a retry could not fix it.
 */
import { NotFoundError, ValidationError } from '../../shared/errors.js';
import { RetrainEventSchema } from '../../shared/schemas/events.js';
import { toFieldIssues } from '../../shared/schemas/issues.js';
import type { ServiceDeps } from '../../shared/service/deps.js';
import { type RetrainDeps, runSchedule } from '../../shared/service/schedules.js';
import { createSweep } from '../../shared/service/sweeps.js';
import { type AwsDeps, awsDeps } from '../deps/aws.js';

export type RetrainOutcome =
  | { status: 'created'; sweepId: string; sweepStatus: string }
  | {
      status: 'scheduled-run';
      scheduleId: string;
      runStatus: string;
      sweepId?: string;
      created: boolean;
    }
  | { status: 'invalid'; issues: { path: string; message: string }[] };

const hasSchedules = (deps: ServiceDeps & Partial<RetrainDeps>): deps is RetrainDeps =>
  deps.schedules !== undefined && deps.registry !== undefined && deps.scheduler !== undefined;

/** The handler over given deps (tests pass local stand-ins). */
export function createRetrainHandler(deps: ServiceDeps & Partial<RetrainDeps>) {
  return async (event: unknown): Promise<RetrainOutcome> => {
    const parsed = RetrainEventSchema.safeParse(event);
    if (!parsed.success) {
      const issues = toFieldIssues(parsed.error);
      deps.logger.error(
        { issues },
        'retrain event ignored: give { scheduleId, scheduledTime } or { template }',
      );
      return { status: 'invalid', issues };
    }
    try {
      if ('scheduleId' in parsed.data) {
        if (!hasSchedules(deps)) {
          throw new Error(
            'this deployment has no schedule store or scheduler: set FOLDSWEEP_RETRAIN_FUNCTION_ARN and ' +
              'FOLDSWEEP_SCHEDULER_ROLE_ARN on the retrain function (infra sets them), or wire ' +
              'schedules, registry and scheduler into its deps',
          );
        }
        const { scheduleId, scheduledTime } = parsed.data;
        const { run, created } = await runSchedule(deps, scheduleId, {
          firedAt: scheduledTime,
          trigger: 'cron',
        });
        deps.logger.info(
          { scheduleId, firedAt: run.firedAt, status: run.status, sweepId: run.sweepId, created },
          'scheduled run',
        );
        return {
          status: 'scheduled-run',
          scheduleId,
          runStatus: run.status,
          sweepId: run.sweepId,
          created,
        };
      }
      const { sweep } = await createSweep(deps, parsed.data.template);
      deps.logger.info(
        { schedule: parsed.data.scheduleName, sweepId: sweep.id, status: sweep.status },
        'retraining sweep created',
      );
      return { status: 'created', sweepId: sweep.id, sweepStatus: sweep.status };
    } catch (error) {
      if (error instanceof NotFoundError) {
        // A schedule deleted while its EventBridge trigger still fires: nothing to retry.
        deps.logger.error({ message: error.message }, 'retrain event ignored');
        return { status: 'invalid', issues: [{ path: error.kind, message: error.message }] };
      }
      if (!(error instanceof ValidationError)) throw error;
      deps.logger.error(
        { issues: error.issues, message: error.message },
        'retrain template rejected',
      );
      return { status: 'invalid', issues: error.issues };
    }
  };
}

let deps: AwsDeps | undefined;

export const handler = async (event: unknown): Promise<RetrainOutcome> => {
  deps ??= awsDeps();
  return createRetrainHandler(deps)(event);
};
