import { z } from 'zod';
import { mapBounded } from '../concurrency.js';
import { FoldsweepError, ObjectNotFoundError } from '../errors.js';
import { readRefit } from '../planner/refit.js';
import { getJson } from '../ports/object-store.js';
import {
  type BatchJobDetail,
  BatchJobStateChangeEventSchema,
  batchResourceName,
  EventBridgeEventSchema,
  type SweepJobRef,
  sweepJobRef,
} from '../schemas/events.js';
import { rungKey, type Trial, trialAt, trialResultKey } from '../schemas/plan.js';
import {
  failedTrialResult,
  type TrialResult,
  TrialResultSchema,
  trialRecordOf,
} from '../schemas/trial-result.js';
import type { AggregateOutcome } from './aggregate.js';
import type { ServiceDeps } from './deps.js';
import { type RungOutcome, settleSweep } from './lifecycle.js';
import { completeScheduledRun, type RetrainDeps } from './schedules.js';
import { loadPlan } from './sweeps.js';

/** The aggregator's deps: the schedule store and registry when scheduled retraining is wired. */
export type BatchEventDeps = ServiceDeps & Partial<Pick<RetrainDeps, 'schedules' | 'registry'>>;

export interface BatchEventOptions {
  /** The job queue this deployment submits to (name or ARN): events of other queues are ignored. */
  jobQueue: string;
}

export interface PartCounts {
  /** Trials of this array job, counted from the stored results (not from Batch's status). */
  trials: number;
  succeeded: number;
  failed: number;
  /** Trials whose child ended without writing a result: recorded as failed by this call. */
  missing: number;
}

export type BatchEventOutcome =
  | { handled: false; reason: string; malformed?: boolean }
  | {
      handled: true;
      sweepId: string;
      jobId: string;
      part: SweepJobRef;
      counts: PartCounts;
      /** Parts (array jobs) of the sweep still running; aggregation waits for them. */
      waitingForParts: number;
      /** The drained path's outcome: aggregated, or (successive halving) the next rung submitted. */
      aggregate?: AggregateOutcome | RungOutcome;
      /** The scheduled run that started the sweep, finished (promoted, rejected or failed). */
      scheduledRun?: { scheduleId: string; status: string };
    };

const ignore = (reason: string, malformed = false): BatchEventOutcome => ({
  handled: false,
  reason,
  ...(malformed ? { malformed } : {}),
});

const partMarkerPrefix = (sweepId: string, rung?: number) =>
  rung === undefined
    ? `sweeps/${sweepId}/batch/`
    : `sweeps/${sweepId}/batch/rung-${String(rung).padStart(3, '0')}/`;
const partMarkerKey = (sweepId: string, part: number, rung?: number) =>
  `${partMarkerPrefix(sweepId, rung)}part-${String(part).padStart(3, '0')}.json`;

const PUT_CONCURRENCY = 64;

/** What submitRung lists for a rung's trainers (shared/service/halving.ts). */
const RungListSchema = z.object({ trials: z.array(z.number().int().nonnegative()) });

/**
 * The aggregator's use case: decides whether an EventBridge event is the end of one of this
 * deployment's array jobs and, when it is, settles the sweep. Ignored (with the reason, never
 * thrown, so Lambda does not retry them): malformed events, other detail types, other queues,
 * array children, non-terminal states (SUBMITTED..RUNNING), jobs without foldsweep's tags,
 * unknown or already finished sweeps.
 * For a terminal array parent (SUCCEEDED or FAILED alike: Batch fails the parent when one child
 * fails) it counts the trials' outcomes itself from the stored TrialResults, records a failed
 * result for every trial of the array whose child never wrote one (host lost on every attempt,
 * timed out, terminated), mirrors the outcomes into the trial records, and once every array job
 * of the sweep is done runs aggregateSweep, which promotes exactly once however many times the
 * event arrives or however many invocations race. When the deps carry the schedule store and
 * the model registry, a sweep started by a schedule then has its run finished
 * (completeScheduledRun: champion against the serving model on the frozen holdout).
 * @example
 * const outcome = await handleBatchJobEvent(deps, event, { jobQueue: env.FOLDSWEEP_JOB_QUEUE });
 * if (!outcome.handled) logger.info({ reason: outcome.reason }, 'event ignored');
 */
export async function handleBatchJobEvent(
  deps: BatchEventDeps,
  event: unknown,
  options: BatchEventOptions,
): Promise<BatchEventOutcome> {
  const envelope = EventBridgeEventSchema.safeParse(event);
  if (!envelope.success) return ignore('not an EventBridge event', true);
  if (envelope.data['detail-type'] !== 'Batch Job State Change') {
    return ignore(`detail-type '${envelope.data['detail-type']}' is not a Batch Job State Change`);
  }
  const parsed = BatchJobStateChangeEventSchema.safeParse(event);
  if (!parsed.success) {
    const where = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    return ignore(`malformed Batch Job State Change: ${where.join('; ')}`, true);
  }
  const job = parsed.data.detail;
  if (batchResourceName(job.jobQueue) !== batchResourceName(options.jobQueue)) {
    return ignore(`job queue ${batchResourceName(job.jobQueue)} is not this deployment's`);
  }
  if (job.arrayProperties?.index !== undefined || job.jobId.includes(':')) {
    return ignore('an array child: the aggregator acts on the array parent');
  }
  if (job.status !== 'SUCCEEDED' && job.status !== 'FAILED') {
    return ignore(`status ${job.status} is not terminal`);
  }
  const ref = sweepJobRef(job.tags);
  if (!ref) return ignore('not a foldsweep job (no foldsweep:sweep-id tag)');
  const sweep = await deps.state.getSweep(ref.sweepId);
  if (!sweep) return ignore(`sweep ${ref.sweepId} is unknown`);
  if (sweep.status === 'preparing' && !sweep.jobIds?.length) {
    // Submitted a moment ago, its job ids not stored yet: fail so that the event is redelivered.
    throw new FoldsweepError(
      `sweep ${ref.sweepId} has not recorded its job ids yet: retry the event`,
    );
  }
  // Successive halving: each rung's array jobs are stored by rung.
  const expected =
    ref.rung === undefined ? sweep.jobIds?.[ref.part] : sweep.rungJobIds?.[ref.rung]?.[ref.part];
  if (expected !== job.jobId) {
    const which = ref.rung === undefined ? `part ${ref.part}` : `rung ${ref.rung} part ${ref.part}`;
    return ignore(
      `job ${job.jobId} is not sweep ${ref.sweepId}'s ${which} (${expected ?? 'none recorded'}): a foreign or stale job carrying its tags`,
    );
  }
  if (sweep.status !== 'running' && sweep.status !== 'aggregating') {
    // A redelivery after a crash between aggregating and finishing the scheduled run: finish it.
    await finishScheduledRun(deps, ref.sweepId);
    return ignore(`sweep ${ref.sweepId} is already ${sweep.status}`);
  }
  const log = deps.logger.child({
    op: 'handleBatchJobEvent',
    sweepId: ref.sweepId,
    jobId: job.jobId,
  });
  const plan = await loadPlan(deps, ref.sweepId);
  const size = job.arrayProperties?.size ?? 1;
  // A rung's job runs entries of its trial list; any other job a range of the plan's trials.
  // (The refit trial, after every fold, is a rung of one trial beyond plan.trials.)
  let trials = plan.trials;
  if (ref.rung !== undefined) {
    const listed = RungListSchema.parse(
      await getJson(deps.objects, rungKey(ref.sweepId, ref.rung)),
    ).trials;
    const refit = listed.some((index) => index >= plan.trials.length)
      ? await readRefit(deps.objects, ref.sweepId)
      : undefined;
    trials = listed.map((index) => trialAt(plan, index, refit) as Trial);
  }
  if (ref.trialOffset + size > trials.length || trials.some((t) => t === undefined)) {
    return ignore(
      `array job of ${size} at trial ${ref.trialOffset} exceeds the ${trials.length} trials it can run`,
      true,
    );
  }
  const counts = await settlePart(
    deps,
    plan.sweepId,
    trials.slice(ref.trialOffset, ref.trialOffset + size),
    job,
  );
  log.info({ status: job.status, part: ref.part, ...counts }, 'array job finished');
  let waitingForParts = 0;
  if (ref.parts > 1) {
    await deps.objects.put(
      partMarkerKey(ref.sweepId, ref.part, ref.rung),
      JSON.stringify({ jobId: job.jobId, status: job.status, ...counts }),
    );
    // Written before listing: of two parts finishing together, the later lister sees both.
    const done = new Set(await deps.objects.list(partMarkerPrefix(ref.sweepId, ref.rung)));
    for (let p = 0; p < ref.parts; p++)
      if (!done.has(partMarkerKey(ref.sweepId, p, ref.rung))) waitingForParts++;
  }
  const base = {
    handled: true as const,
    sweepId: ref.sweepId,
    jobId: job.jobId,
    part: ref,
    counts,
    waitingForParts,
  };
  if (waitingForParts > 0) return base;
  // Throws while attempts remain (the event is redelivered); fails the sweep after the last.
  const { scheduledRun, ...aggregate } = await settleSweep(deps, ref.sweepId);
  return {
    ...base,
    aggregate,
    ...(scheduledRun ? { scheduledRun } : {}),
  };
}

/**
 * Scores and records the sweep's champion against the serving model when a schedule started
 * the sweep (completeScheduledRun ignores other sweeps and finished runs).
 */
async function finishScheduledRun(deps: BatchEventDeps, sweepId: string) {
  if (!deps.schedules || !deps.registry) return undefined;
  return completeScheduledRun(deps as RetrainDeps, sweepId);
}

/**
 * Reads the stored result of every trial of a finished array job, writes a failed result for
 * each one missing, and mirrors them into the trial records.
 */
async function settlePart(
  deps: ServiceDeps,
  sweepId: string,
  trials: { index: number; variantId: string; fold: number }[],
  job: BatchJobDetail,
): Promise<PartCounts> {
  const counts: PartCounts = { trials: trials.length, succeeded: 0, failed: 0, missing: 0 };
  const now = () => deps.clock.now().toISOString();
  await mapBounded(trials, PUT_CONCURRENCY, async (trial) => {
    const key = trialResultKey(sweepId, trial.index);
    // Missing or unreadable: the child wrote no usable result. Any other error (S3 unavailable)
    // propagates, so that Lambda retries rather than recording a good trial as failed.
    const stored = TrialResultSchema.safeParse(
      await getJson(deps.objects, key).catch((error) => {
        if (error instanceof ObjectNotFoundError || error instanceof SyntaxError) return null;
        throw error;
      }),
    );
    let result: TrialResult;
    if (stored.success) {
      result = stored.data;
    } else {
      counts.missing++;
      const why = job.statusReason ? `${job.status}: ${job.statusReason}` : job.status;
      result = failedTrialResult(
        { sweepId, trialIndex: trial.index, variantId: trial.variantId, fold: trial.fold },
        `the Batch child of trial ${trial.index} ended without writing a result (array job ${job.jobId} ${why}): it was lost on every attempt, timed out or was terminated`,
        { at: now() },
      );
      await deps.objects.put(key, JSON.stringify(result, null, 1));
    }
    if (result.status === 'succeeded') counts.succeeded++;
    else counts.failed++;
    await deps.state.putTrial(trialRecordOf(result, now()));
  });
  return counts;
}
