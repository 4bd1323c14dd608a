/**
 * A sweep's one lifecycle. Every entry point (HTTP, CLI, the local pool draining, a Batch event,
 * a schedule run, cancel, resume, re-drive) moves a sweep only through the functions of this
 * file, each a compare-and-set on the state store from its allowed predecessors:
 *
 * ```
 *   submitSweep ─▶ pending ──prepareSweep──▶ preparing ──(plan, trials, submit)──▶ running
 *                     │                          │                                   │
 *                     │                          └── bad model/data ─▶ failed (issues) │
 *                     │                                                              ▼
 *                     │                                   settleSweep: running ─▶ aggregating
 *                     │                                                              │
 *                     │                        ┌──── champion promoted ◀─────────────┤
 *                     ▼                        ▼                                     ▼
 *    cancelSweep: pending|preparing|running ─▶ cancelled     completed     failed (no complete
 *                                                                           variant, or
 *                                                                           MAX_AGGREGATION_ATTEMPTS)
 *    resumeSweep:  cancelled ─▶ running (unfinished trials); an expired owner's pending,
 *                  preparing, running or aggregating sweep is taken over where it stopped
 *    redriveAggregation: failed|aggregating ─▶ aggregating (attempts reset)
 *    successive halving: a finished rung that is not the last: running ─advance─▶ aggregating
 *                  (next rung submitted) ─rung─▶ running; the last rung settles as above
 * ```
 *
 * Ownership: a process that drives a sweep (locally `foldsweep run` or `serve`: `deps.owner`)
 * holds a lease in the sweep record and renews it (`renewLeases`); no other process moves a
 * sweep whose owner's lease is alive, and anyone may take over one whose lease expired. On AWS
 * nothing owns a sweep: Batch runs it and events settle it, each step a compare-and-set.
 * @module
 */
import { buildLeaderboard } from '../aggregation/leaderboard.js';
import { ConflictError, type FieldIssue, NotFoundError, ValidationError } from '../errors.js';
import { planSweep } from '../planner/plan-sweep.js';
import { refits } from '../planner/refit.js';
import type { PathPolicy } from '../ports/path-policy.js';
import type { UpdateSweepOptions } from '../ports/state-store.js';
import { writeHtmlReport } from '../report/report-input.js';
import type { DatasetRef } from '../schemas/dataset.js';
import { parseOrThrow } from '../schemas/issues.js';
import { type Plan, planKey } from '../schemas/plan.js';
import { assertSpecLimits, DEFAULT_SPEC_LIMITS } from '../schemas/spec-limits.js';
import type { SweepRecord, SweepStatus } from '../schemas/state.js';
import { type SweepSpec, SweepSpecSchema } from '../schemas/sweep-spec.js';
import { pendingTrialRecord } from '../schemas/trial-result.js';
import { type AggregateOutcome, promoteBest } from './aggregate.js';
import type { ServiceDeps } from './deps.js';
import {
  finishedStatuses,
  type HalvingPlan,
  halvingOf,
  isHalving,
  submitRung,
  trialsToRun,
  withRungJobIds,
} from './halving.js';
import { discardLeftovers, snapshotArtifacts } from './leftovers.js';
import { refitJobsPatch, refitStage, submitRefit } from './refit.js';
import { completeScheduledRun, type RetrainDeps } from './schedules.js';
import { loadPlan } from './sweeps.js';

/** Aggregation attempts before a sweep that keeps failing to aggregate is marked failed. */
export const MAX_AGGREGATION_ATTEMPTS = 3;

/** The arrows: which statuses each move starts from. */
export const TRANSITIONS = {
  prepare: ['pending', 'preparing'],
  plan: ['preparing'],
  start: ['preparing'],
  reject: ['pending', 'preparing'],
  aggregate: ['running', 'aggregating'],
  complete: ['aggregating'],
  fail: ['aggregating'],
  cancel: ['pending', 'preparing', 'running'],
  resume: ['cancelled', 'running'],
  redrive: ['failed', 'aggregating', 'running'],
  /** Successive halving: a finished rung holds the sweep (aggregating) while the next is submitted. */
  advance: ['running'],
  rung: ['aggregating'],
} as const satisfies Record<string, readonly SweepStatus[]>;
export type Move = keyof typeof TRANSITIONS;

type Patch = Parameters<ServiceDeps['state']['updateSweep']>[1];

/**
 * The one compare-and-set: moves sweep `id` by `move` (its allowed predecessors), stamping
 * updatedAt. With `deps.owner` (and `lease` not false) the write also requires that no other
 * live process owns the sweep, and records this process as the owner with a fresh lease;
 * terminal statuses release the owner.
 * @throws ConflictError when the status or the lease is not what the move needs
 */
export async function transition(
  deps: ServiceDeps,
  id: string,
  move: Move,
  patch: Patch,
  options: { lease?: boolean } = {},
): Promise<SweepRecord> {
  const now = deps.clock.now();
  const to = patch.status;
  const terminal = to === 'completed' || to === 'failed' || to === 'cancelled';
  const owned = deps.owner && options.lease !== false;
  const update: UpdateSweepOptions = { expectStatus: TRANSITIONS[move] };
  if (owned && deps.owner) update.expectLease = { owner: deps.owner.id, now: now.toISOString() };
  return deps.state.updateSweep(
    id,
    {
      ...patch,
      updatedAt: now.toISOString(),
      ...(terminal
        ? { owner: null }
        : owned && deps.owner
          ? { owner: leaseOf(deps.owner, now) }
          : {}),
    },
    update,
  );
}

function leaseOf(owner: NonNullable<ServiceDeps['owner']>, now: Date) {
  return { id: owner.id, leaseUntil: new Date(now.getTime() + owner.leaseMs).toISOString() };
}

/**
 * Checks a sweep spec's shape and size limits (shared/schemas/spec-limits.ts) and, where the
 * deployment has a path policy (`foldsweep serve`: its data roots), resolves its local paths,
 * reading no file; then stores the sweep `pending`, owned by this process when it has an owner
 * identity. Preparation follows in `prepareSweep`: in the background of the serving process
 * locally, in the prepare function on AWS.
 * @throws ValidationError (every bad field) for a spec that does not parse or exceeds a limit
 * @example
 * const sweep = await submitSweep(deps, spec); // status 'pending', answered with 202
 */
export async function submitSweep(deps: ServiceDeps, input: unknown): Promise<SweepRecord> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    const got = Array.isArray(input) ? 'an array' : input === null ? 'null' : `a ${typeof input}`;
    throw ValidationError.single(
      '(root)',
      `a sweep spec is a JSON object ({ "baseModel": ..., "dataset": ... }), not ${got}`,
    );
  }
  const parsed = parseOrThrow(SweepSpecSchema, input, 'sweep spec');
  assertSpecLimits(parsed, deps.limits ?? DEFAULT_SPEC_LIMITS);
  const spec = deps.paths ? withResolvedPaths(parsed, deps.paths) : parsed;
  const now = deps.clock.now();
  const sweep: SweepRecord = {
    id: deps.newId(),
    name: spec.name,
    status: 'pending',
    spec,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    trialsTotal: 0,
    ...(deps.owner ? { owner: leaseOf(deps.owner, now) } : {}),
  };
  await deps.state.createSweep(sweep);
  deps.logger.info({ sweepId: sweep.id, name: sweep.name }, 'sweep submitted');
  return sweep;
}

/** The spec with its local paths resolved by `policy` (a path it must not read throws). */
function withResolvedPaths(spec: SweepSpec, policy: PathPolicy): SweepSpec {
  const ref = (r: DatasetRef, field: string): DatasetRef => ({
    ...r,
    uri: policy.resolve(r.uri, `${field}.uri`),
    ...(r.labelsUri === undefined
      ? {}
      : { labelsUri: policy.resolve(r.labelsUri, `${field}.labelsUri`) }),
  });
  return {
    ...spec,
    baseModel: policy.resolve(spec.baseModel, 'baseModel'),
    dataset: ref(spec.dataset, 'dataset'),
    ...(spec.testSet ? { testSet: ref(spec.testSet, 'testSet') } : {}),
  };
}

/**
 * Hands a submitted sweep's preparation to the deployment's PreparationStarter, or, where there
 * is none, starts it in this process's background (its failure is recorded on the sweep).
 */
export async function startPreparation(deps: ServiceDeps, id: string): Promise<void> {
  if (deps.preparation) return deps.preparation.start(id);
  prepareSweep(deps, id).catch((error: unknown) =>
    deps.logger.error({ err: error, sweepId: id }, 'preparing the sweep failed'),
  );
}

export type PrepareOutcome =
  | { status: 'running'; sweep: SweepRecord; plan: Plan }
  | { status: 'failed'; sweep: SweepRecord; issues: FieldIssue[] }
  | { status: 'skipped'; sweep: SweepRecord; reason: string };

/**
 * The preparation step: imports the base model, prepares the dataset (and test set), checks the
 * spec against them, plans, stores the plan and the trial records, submits the trials and stores
 * the executor's job ids: `pending -> preparing -> running`. A problem found here (a bad model
 * file, freezeDepth beyond the model, a corrupt IDX) ends the sweep `failed` with the field-named
 * issues a 400 would carry. Idempotent: a sweep that is past preparing (or owned by another live
 * process) is skipped.
 * @param overrides `datasets`/`executor` stand-ins (a schedule run trains on a stored subset)
 * @example
 * const outcome = await prepareSweep(deps, sweep.id);
 * if (outcome.status === 'failed') console.log(outcome.issues);
 */
export async function prepareSweep(deps: ServiceDeps, id: string): Promise<PrepareOutcome> {
  const log = deps.logger.child({ op: 'prepareSweep', sweepId: id });
  let sweep: SweepRecord;
  try {
    sweep = await transition(deps, id, 'prepare', { status: 'preparing' });
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    const current = await requireSweep(deps, id);
    return { status: 'skipped', sweep: current, reason: error.message };
  }
  let plan: Plan;
  const startedAt = deps.clock.now().toISOString();
  const before = await snapshotArtifacts(deps.objects);
  try {
    plan = await planFor(deps, sweep);
  } catch (error) {
    const issues =
      error instanceof ValidationError
        ? error.issues
        : [{ path: '(preparation)', message: (error as Error).message }];
    const reason = `preparing the sweep failed: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`;
    log.warn({ issues }, 'sweep rejected while preparing');
    // Nothing of a rejected spec stays but its failed record: the model it imported and the
    // data it prepared go, unless another sweep uses them.
    await discardLeftovers(deps, id, before, startedAt).catch((cause: unknown) =>
      log.error({ err: cause }, 'removing what the rejected sweep left failed'),
    );
    const failed = await transition(deps, id, 'reject', {
      status: 'failed',
      error: reason,
      issues,
    });
    return { status: 'failed', sweep: failed, issues };
  }
  let jobIds: string[];
  let rungPatch: Partial<SweepRecord> = {};
  try {
    if (isHalving(plan)) {
      const first = await submitRung(deps, plan, halvingOf(plan, []));
      jobIds = first.jobIds;
      rungPatch = { rung: 0, rungJobIds: [jobIds] };
    } else {
      ({ jobIds } = await deps.executor.submit(plan));
    }
  } catch (error) {
    const reason = `submitting the trials failed: ${(error as Error).message}`;
    const failed = await transition(deps, id, 'reject', { status: 'failed', error: reason });
    return { status: 'failed', sweep: failed, issues: [{ path: '(submit)', message: reason }] };
  }
  try {
    const running = await transition(deps, id, 'start', {
      status: 'running',
      jobIds,
      ...rungPatch,
    });
    log.info({ trials: plan.trials.length, jobIds }, 'sweep running');
    return { status: 'running', sweep: running, plan };
  } catch (error) {
    // Cancelled while submitting: stop what was just submitted.
    if (!(error instanceof ConflictError)) throw error;
    await deps.executor.cancel(id, jobIds);
    return { status: 'skipped', sweep: await requireSweep(deps, id), reason: error.message };
  }
}

const TRIALS_PER_YIELD = 50;
const yieldToEventLoop = () => new Promise<void>((done) => setImmediate(done));

/** Model, data, plan, plan object and trial records of a preparing sweep. */
async function planFor(deps: ServiceDeps, sweep: SweepRecord): Promise<Plan> {
  const { spec } = sweep;
  const baseModel = await deps.models.importBaseModel(spec.baseModel, 'baseModel');
  const dataset = await deps.datasets.prepare(spec.dataset, baseModel.inputShape, 'dataset');
  const testSet = spec.testSet
    ? await deps.datasets.prepare(spec.testSet, baseModel.inputShape, 'testSet')
    : undefined;
  const maxClasses = (deps.limits ?? DEFAULT_SPEC_LIMITS).maxClasses;
  for (const [field, prepared] of [
    ['dataset', dataset],
    ['testSet', testSet],
  ] as const) {
    if (prepared && prepared.classes.length > maxClasses) {
      throw ValidationError.single(
        field,
        `has ${prepared.classes.length} classes; the limit is ${maxClasses}: keep fewer with subset.classes (or raise it with FOLDSWEEP_MAX_CLASSES)`,
      );
    }
  }
  const labels = await deps.objects.get(dataset.labelsKey);
  const plan = planSweep({
    sweepId: sweep.id,
    createdAt: sweep.createdAt,
    spec,
    dataset,
    labels,
    baseModel,
    testSet,
  });
  await deps.objects.put(planKey(sweep.id), JSON.stringify(plan));
  const now = deps.clock.now().toISOString();
  // A halving sweep records each rung's trials when it submits the rung (submitRung).
  for (const t of isHalving(plan) ? [] : plan.trials) {
    // Let the process answer requests (/health, listings) while a large grid is stored.
    if (t.index % TRIALS_PER_YIELD === TRIALS_PER_YIELD - 1) await yieldToEventLoop();
    await deps.state.putTrial(pendingTrialRecord(sweep.id, t, now));
  }
  await transition(deps, sweep.id, 'plan', {
    status: 'preparing',
    planKey: planKey(sweep.id),
    datasetHash: dataset.hash,
    trialsTotal: trialsToRun(plan),
  });
  deps.logger.info(
    {
      sweepId: sweep.id,
      variants: plan.variants.length,
      folds: plan.folds,
      trials: plan.trials.length,
      dataset: dataset.hash.slice(0, 12),
      samples: dataset.count,
    },
    'sweep planned',
  );
  return plan;
}

/**
 * Cancels a sweep: `pending|preparing|running -> cancelled` (any process may cancel), then tells
 * the executor: queued trials never start, running trainers are stopped (locally the owner
 * process sees the status at its next heartbeat and stops its trainers; on AWS TerminateJob on
 * the stored array jobs). Finished trials stay in the leaderboard; `resumeSweep` runs the rest.
 * @throws NotFoundError; ConflictError when the sweep is already aggregating or finished
 */
export async function cancelSweep(
  deps: ServiceDeps & Partial<RetrainDeps>,
  id: string,
  reason = 'cancelled by request',
): Promise<SweepRecord> {
  const sweep = await transition(
    deps,
    id,
    'cancel',
    { status: 'cancelled', error: reason },
    { lease: false },
  );
  await deps.executor.cancel(id, sweep.jobIds ?? []);
  await resetUnfinishedTrials(deps, id);
  deps.logger.info({ sweepId: id, reason }, 'sweep cancelled');
  await finishScheduledRun(deps, id);
  return sweep;
}

/**
 * Trials a stopped sweep left running go back to pending: nothing of them is kept. Returns the
 * trial records as they are afterwards.
 */
async function resetUnfinishedTrials(deps: ServiceDeps, id: string) {
  const now = deps.clock.now().toISOString();
  const trials = await deps.state.listTrials(id);
  for (const [i, t] of trials.entries()) {
    if (t.status !== 'running') continue;
    trials[i] = { ...t, status: 'pending', updatedAt: now };
    await deps.state.putTrial(trials[i]);
  }
  return trials;
}

/**
 * The one drained path: when every trial of a sweep is terminal (locally the pool drains; on AWS
 * the last array job's event), aggregate it: `running -> aggregating -> completed | failed`.
 * Attempts are counted in the sweep: an aggregation that throws is retried (the caller retries:
 * Lambda's redelivery, the local loop) until MAX_AGGREGATION_ATTEMPTS, then the sweep is
 * `failed` with the reason; it is never left aggregating. A sweep already finished, cancelled or
 * owned by another live process is a cheap no-op (no reads of results, no copy, no evaluation).
 * A sweep that a schedule started then has its run finished.
 * Successive halving: for a halving sweep whose finished rung is not the last, the drained path
 * submits the next rung instead (outcome `advanced`, the sweep stays running; advanceRung).
 * @example
 * const outcome = await settleSweep(deps, sweepId);
 */
export async function settleSweep(
  deps: ServiceDeps & Partial<RetrainDeps>,
  id: string,
): Promise<SettleOutcome> {
  const log = deps.logger.child({ op: 'settleSweep', sweepId: id });
  const reads = settlementReads(deps, id);
  const rung = await advanceRung(deps, id, log, reads);
  if (rung) return rung;
  const refit = await advanceRefit(deps, id, log, reads);
  if (refit) return refit;
  let sweep: SweepRecord;
  try {
    const current = await requireSweep(deps, id);
    sweep = await transition(deps, id, 'aggregate', {
      status: 'aggregating',
      aggregationAttempts: (current.aggregationAttempts ?? 0) + 1,
    });
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    const current = await deps.state.getSweep(id);
    const settled = current && current.status !== 'running' && current.status !== 'aggregating';
    const run = settled ? await finishScheduledRun(deps, id) : undefined;
    return withRun(
      { status: 'skipped', reason: `sweep ${id} is ${current?.status}: ${error.message}` },
      run,
    );
  }
  const attempt = sweep.aggregationAttempts ?? 1;
  if (attempt > MAX_AGGREGATION_ATTEMPTS) {
    return failAggregation(deps, id, sweep.error ?? 'aggregation kept failing', log);
  }
  let outcome: AggregateOutcome;
  try {
    const plan = await reads.plan();
    const leaderboard = buildLeaderboard(plan, await finishedTrials(deps, id));
    outcome = await promoteBest(deps, plan, leaderboard);
  } catch (error) {
    const reason = `aggregation attempt ${attempt} of ${MAX_AGGREGATION_ATTEMPTS} failed: ${(error as Error).message}`;
    log.error({ err: error, attempt }, 'aggregation failed');
    if (attempt >= MAX_AGGREGATION_ATTEMPTS) return failAggregation(deps, id, reason, log);
    await deps.state.updateSweep(id, { error: reason }, { expectStatus: ['aggregating'] });
    throw error;
  }
  try {
    if (outcome.status === 'failed') {
      await transition(deps, id, 'fail', { status: 'failed', error: outcome.reason });
      log.warn({ reason: outcome.reason }, 'sweep failed');
    } else if (outcome.status === 'completed') {
      await transition(deps, id, 'complete', {
        status: 'completed',
        championVariantId: outcome.champion.variantId,
        error: null,
      });
      if (outcome.promoted) {
        const { champion } = outcome;
        log.info(
          {
            variant: champion.variantId,
            cvMean: champion.objectiveMean,
            test: champion.testAccuracy,
          },
          'champion promoted',
        );
      }
    }
  } catch (error) {
    // A racing settlement finished first: the stored outcome stands.
    if (!(error instanceof ConflictError)) throw error;
  }
  await writeReportQuietly(deps, id);
  return withRun(outcome, await finishScheduledRun(deps, id));
}

/**
 * What one settlement reads, each at most once: the sweep record, its plan (never changes once
 * written) and its trial records. advanceRung and advanceRefit look at the same snapshot; either
 * returns before changing anything when it has nothing to do, so the snapshot still holds for
 * the next. The aggregation re-reads the trial records after its own transition.
 */
interface SettlementReads {
  sweep(): Promise<SweepRecord | undefined>;
  plan(): Promise<Plan>;
  records(): ReturnType<ServiceDeps['state']['listTrials']>;
}

function settlementReads(deps: ServiceDeps, id: string): SettlementReads {
  let sweep: Promise<SweepRecord | undefined> | undefined;
  let plan: Promise<Plan> | undefined;
  let records: ReturnType<ServiceDeps['state']['listTrials']> | undefined;
  return {
    sweep: () => {
      sweep ??= deps.state.getSweep(id);
      return sweep;
    },
    plan: () => {
      plan ??= loadPlan(deps, id);
      return plan;
    },
    records: () => {
      records ??= deps.state.listTrials(id);
      return records;
    },
  };
}

/**
 * Successive halving's part of the drained path. For a halving sweep whose rungs are not all
 * finished: while the current rung has unfinished trials, nothing (skipped); once it finished,
 * the next rung is submitted: `running -advance-> aggregating` (so that of two racing
 * settlements only one submits), the rung's trials submitted, `aggregating -rung-> running`
 * with the rung's job ids. Returns undefined when the sweep is to aggregate (not halving, or
 * every rung finished).
 */
async function advanceRung(
  deps: ServiceDeps & Partial<RetrainDeps>,
  id: string,
  log: ServiceDeps['logger'],
  reads: SettlementReads,
): Promise<SettleOutcome | undefined> {
  const current = await reads.sweep();
  // A halving sweep records its rung when it starts: others need no plan read here.
  if (
    current?.rung === undefined ||
    !current.planKey ||
    (current.status !== 'running' && current.status !== 'aggregating')
  ) {
    return undefined;
  }
  const plan = await reads.plan();
  if (!isHalving(plan)) return undefined;
  const records = await reads.records();
  const progress = halvingOf(plan, records);
  if (progress.complete) return undefined;
  const submitted = current.rung ?? 0;
  if (progress.current <= submitted && current.status === 'running') {
    return {
      status: 'skipped',
      reason: `sweep ${id} is running rung ${submitted}: ${progress.rungs[progress.current].trials.length} trials, not all finished`,
    };
  }
  try {
    await transition(deps, id, current.status === 'running' ? 'advance' : 'aggregate', {
      status: 'aggregating',
    });
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    return {
      status: 'skipped',
      reason: `rung ${progress.current} not submitted: ${error.message}`,
    };
  }
  let submittedRung: Awaited<ReturnType<typeof submitRung>>;
  try {
    submittedRung = await submitRung(deps, plan, progress, finishedStatuses(records));
  } catch (error) {
    const reason = `submitting rung ${progress.current} failed: ${(error as Error).message}`;
    await transition(deps, id, 'fail', { status: 'failed', error: reason });
    log.warn({ reason }, 'sweep failed');
    return withRun({ status: 'failed', reason }, await finishScheduledRun(deps, id));
  }
  const { rung, trials, jobIds } = submittedRung;
  try {
    await transition(deps, id, 'rung', {
      status: 'running',
      jobIds,
      rung,
      rungJobIds: withRungJobIds(current, rung, jobIds),
    });
  } catch (error) {
    // Cancelled while submitting: stop what was just submitted.
    if (!(error instanceof ConflictError)) throw error;
    await deps.executor.cancel(id, jobIds);
    return { status: 'skipped', reason: `rung ${rung} stopped: ${error.message}` };
  }
  const decided = progress.rungs[rung - 1];
  log.info(
    { rung, variants: progress.rungs[rung].variantIndices.length, trials: trials.length },
    'rung finished: next rung submitted',
  );
  return {
    status: 'advanced',
    rung,
    trials,
    promoted: decided?.promoted ?? [],
    pruned: (decided?.variantIndices.length ?? 0) - (decided?.promoted?.length ?? 0),
  };
}

/**
 * The refit's part of the drained path (shared/service/refit.ts): every fold trial has finished
 * and the spec asks for a refit that has not run: the sweep moves `running -advance-> aggregating`
 * (one of two racing settlements wins), the refit trial is submitted, and the sweep goes back
 * `aggregating -rung-> running` with its job ids. Returns undefined when the sweep is to
 * aggregate (no refit asked for, none possible, or it has finished).
 */
async function advanceRefit(
  deps: ServiceDeps & Partial<RetrainDeps>,
  id: string,
  log: ServiceDeps['logger'],
  reads: SettlementReads,
): Promise<SettleOutcome | undefined> {
  const current = await reads.sweep();
  if (!current?.planKey || (current.status !== 'running' && current.status !== 'aggregating')) {
    return undefined;
  }
  const plan = await reads.plan();
  if (!refits(plan)) return undefined;
  const records = await reads.records();
  const stage = await refitStage(deps, plan, current, records);
  if (stage.status === 'none') return undefined;
  if (stage.status === 'running') {
    return {
      status: 'skipped',
      reason: `sweep ${id} is running its refit (trial ${stage.refit.trialIndex})`,
    };
  }
  try {
    await transition(deps, id, current.status === 'running' ? 'advance' : 'aggregate', {
      status: 'aggregating',
    });
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    return { status: 'skipped', reason: `refit not submitted: ${error.message}` };
  }
  const { refit } = stage;
  let submitted: { rung: number; jobIds: string[] };
  try {
    submitted = await submitRefit(deps, plan, refit, records);
  } catch (error) {
    const reason = `submitting the refit failed: ${(error as Error).message}`;
    await transition(deps, id, 'fail', { status: 'failed', error: reason });
    log.warn({ reason }, 'sweep failed');
    return withRun({ status: 'failed', reason }, await finishScheduledRun(deps, id));
  }
  try {
    await transition(deps, id, 'rung', {
      status: 'running',
      ...refitJobsPatch(plan, current, submitted.rung, submitted.jobIds),
    });
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    await deps.executor.cancel(id, submitted.jobIds);
    return { status: 'skipped', reason: `refit stopped: ${error.message}` };
  }
  log.info(
    { variant: refit.variantId, epochs: refit.epochs, images: refit.trainingImages },
    'folds finished: refit submitted',
  );
  return {
    status: 'advanced',
    rung: submitted.rung,
    trials: [refit.trialIndex],
    promoted: [refit.variantIndex],
    pruned: 0,
    refit: { variantId: refit.variantId, epochs: refit.epochs, images: refit.trainingImages },
  };
}

/** The HTML report beside the leaderboard; a report problem never fails a sweep. */
async function writeReportQuietly(deps: ServiceDeps, id: string) {
  await writeHtmlReport(deps, id).catch((error: unknown) =>
    deps.logger.warn({ err: error, sweepId: id }, 'writing the HTML report failed'),
  );
}

/** What settleSweep did, and the scheduled run it finished when a schedule started the sweep. */
export type SettleOutcome = (AggregateOutcome | RungOutcome) & {
  scheduledRun?: { scheduleId: string; status: string };
};

/** Successive halving: a rung finished and the next one was submitted (the sweep runs on). */
export interface RungOutcome {
  status: 'advanced';
  /** The rung submitted now. */
  rung: number;
  trials: number[];
  /** Variant indices the finished rung promoted, and how many it pruned. */
  promoted: number[];
  pruned: number;
  /** The submitted trial is the refit of the winning variant (shared/service/refit.ts). */
  refit?: { variantId: string; epochs: number; images: number };
}

function withRun(
  outcome: AggregateOutcome | RungOutcome,
  run: { scheduleId: string; status: string } | undefined,
): SettleOutcome {
  return run
    ? { ...outcome, scheduledRun: { scheduleId: run.scheduleId, status: run.status } }
    : outcome;
}

async function failAggregation(
  deps: ServiceDeps & Partial<RetrainDeps>,
  id: string,
  reason: string,
  log: ServiceDeps['logger'],
): Promise<SettleOutcome> {
  await transition(deps, id, 'fail', { status: 'failed', error: reason });
  log.warn({ reason }, 'sweep failed: aggregation kept failing');
  await writeReportQuietly(deps, id);
  return withRun({ status: 'failed', reason }, await finishScheduledRun(deps, id));
}

/** The finished trials as the state store records them (one query, no object reads). */
async function finishedTrials(deps: ServiceDeps, id: string) {
  return (await deps.state.listTrials(id)).flatMap((t) =>
    t.status === 'succeeded' || t.status === 'failed'
      ? [{ ...t, status: t.status, attempt: Math.max(1, t.attempt) }]
      : [],
  );
}

/**
 * Aggregates again on request (`foldsweep aggregate <id>`, `POST /sweeps/:id/aggregate`): a sweep
 * whose aggregation failed or stopped gets a fresh count of attempts. Its trials must all be
 * finished.
 * @throws ConflictError when trials are still pending or running, or the sweep is not failed,
 *   aggregating or running
 */
export async function redriveAggregation(
  deps: ServiceDeps & Partial<RetrainDeps>,
  id: string,
): Promise<SettleOutcome> {
  const unfinished = (await deps.state.listTrials(id)).filter(
    (t) => t.status === 'pending' || t.status === 'running',
  );
  if (unfinished.length > 0) {
    throw new ConflictError(
      `sweep '${id}' has ${unfinished.length} unfinished trial(s): resume it (foldsweep resume ${id}) instead`,
    );
  }
  const sweep = await requireSweep(deps, id);
  if (sweep.status === 'failed' && !sweep.planKey) {
    throw new ConflictError(`sweep '${id}' failed before it was planned: nothing to aggregate`);
  }
  await transition(deps, id, 'redrive', { status: 'aggregating', aggregationAttempts: 0 });
  return settleSweep(deps, id);
}

export type ResumeOutcome =
  | { status: 'preparing'; outcome: PrepareOutcome }
  | { status: 'running'; plan: Plan; unfinished: number }
  | { status: 'aggregating'; outcome: SettleOutcome }
  | { status: 'skipped'; reason: string };

/**
 * Takes a sweep up where it stopped: a cancelled sweep, or one whose owner died (its lease
 * expired): pending/preparing -> prepared again; running -> only the unfinished trials run
 * (finished ones keep their results); aggregating -> aggregation finishes. A sweep whose owner
 * is alive is never taken over (skipped, with the reason).
 * @throws NotFoundError; ConflictError for a finished sweep
 */
export async function resumeSweep(
  deps: ServiceDeps & Partial<RetrainDeps>,
  id: string,
  options: { prepareInBackground?: boolean } = {},
): Promise<ResumeOutcome> {
  const sweep = await requireSweep(deps, id);
  const now = deps.clock.now().toISOString();
  const alive = sweep.owner && sweep.owner.id !== deps.owner?.id && sweep.owner.leaseUntil >= now;
  if (alive) {
    return {
      status: 'skipped',
      reason: `sweep '${id}' is driven by ${sweep.owner?.id} (lease until ${sweep.owner?.leaseUntil})`,
    };
  }
  if (sweep.status === 'pending' || sweep.status === 'preparing') {
    if (options.prepareInBackground) {
      // HTTP: the prepare step again (on AWS the prepare function, not the api's 29 s).
      await startPreparation(deps, id);
      return { status: 'preparing', outcome: { status: 'skipped', sweep, reason: 'handed over' } };
    }
    return { status: 'preparing', outcome: await prepareSweep(deps, id) };
  }
  if (sweep.status === 'aggregating') {
    return { status: 'aggregating', outcome: await settleSweep(deps, id) };
  }
  if (sweep.status !== 'running' && sweep.status !== 'cancelled') {
    throw new ConflictError(`sweep '${id}' is ${sweep.status}: nothing to resume`);
  }
  try {
    await transition(deps, id, 'resume', { status: 'running', error: null });
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    return { status: 'skipped', reason: error.message };
  }
  const plan = await loadPlan(deps, id);
  const records = await resetUnfinishedTrials(deps, id);
  const refit = await refitStage(deps, plan, { status: 'running' }, records, { resuming: true });
  if (refit.status === 'submit' && refit.decided) {
    // Stopped during its refit: the refit runs again (its folds are all finished).
    const submitted = await submitRefit(deps, plan, refit.refit, records);
    const sweepNow = await requireSweep(deps, id);
    await deps.state.updateSweep(
      id,
      refitJobsPatch(plan, sweepNow, submitted.rung, submitted.jobIds),
      {
        expectStatus: ['running'],
      },
    );
    deps.logger.info({ sweepId: id }, 'resuming a sweep at its refit');
    return { status: 'running', plan, unfinished: 1 };
  }
  if (isHalving(plan)) return resumeRung(deps, id, plan);
  const finished = finishedStatuses(records);
  deps.logger.info(
    { sweepId: id, finished: finished.size, total: plan.trials.length },
    'resuming a sweep',
  );
  const { jobIds } = await deps.executor.submit(plan, { finished });
  if (jobIds.length > 0)
    await deps.state.updateSweep(id, { jobIds }, { expectStatus: ['running'] });
  return { status: 'running', plan, unfinished: plan.trials.length - finished.size };
}

/**
 * resumeSweep for a halving sweep (now running again): the rung the trial records stand at runs
 * its unfinished trials (a rung that finished while nobody drove the sweep has its successor
 * submitted); every rung finished: the sweep aggregates.
 */
async function resumeRung(
  deps: ServiceDeps & Partial<RetrainDeps>,
  id: string,
  plan: HalvingPlan,
): Promise<ResumeOutcome> {
  const records = await resetUnfinishedTrials(deps, id);
  const progress = halvingOf(plan, records);
  if (progress.complete) return { status: 'aggregating', outcome: await settleSweep(deps, id) };
  const finished = finishedStatuses(records);
  const rungTrials = progress.rungs[progress.current].trials;
  const unfinished = rungTrials.filter((t) => !finished.has(t)).length;
  deps.logger.info(
    { sweepId: id, rung: progress.current, unfinished, total: rungTrials.length },
    'resuming a sweep at its rung',
  );
  const sweep = await requireSweep(deps, id);
  const { rung, jobIds } = await submitRung(deps, plan, progress, finished);
  await deps.state.updateSweep(
    id,
    { jobIds, rung, rungJobIds: withRungJobIds(sweep, rung, jobIds) },
    { expectStatus: ['running'] },
  );
  return { status: 'running', plan, unfinished };
}

/**
 * Sweeps that no live process drives: not finished, and without an owner or with an expired
 * lease (their process stopped or crashed). `foldsweep serve` takes them over at start and
 * every lease period; `foldsweep resume` takes one.
 */
export async function findOrphanedSweeps(deps: ServiceDeps): Promise<SweepRecord[]> {
  const now = deps.clock.now().toISOString();
  const out: SweepRecord[] = [];
  for (const status of ['pending', 'preparing', 'running', 'aggregating'] as const) {
    for (const sweep of await deps.state.listSweeps({ status, limit: 10_000 })) {
      if (!sweep.owner || (sweep.owner.id !== deps.owner?.id && sweep.owner.leaseUntil < now)) {
        out.push(sweep);
      }
    }
  }
  return out;
}

/**
 * The owner's heartbeat: renews this process's lease on each of `ids`. Returns the sweeps that
 * this process must stop driving: cancelled (or otherwise finished) by someone else, or taken
 * over after this process failed to renew in time.
 */
export async function renewLeases(
  deps: ServiceDeps,
  ids: Iterable<string>,
): Promise<{ id: string; status: SweepStatus | 'lost' }[]> {
  const owner = deps.owner;
  if (!owner) return [];
  const lost: { id: string; status: SweepStatus | 'lost' }[] = [];
  const now = deps.clock.now();
  for (const id of ids) {
    try {
      await deps.state.updateSweep(
        id,
        { owner: leaseOf(owner, now) },
        {
          expectStatus: ['pending', 'preparing', 'running', 'aggregating'],
          expectLease: { owner: owner.id, now: now.toISOString() },
        },
      );
    } catch (error) {
      if (!(error instanceof ConflictError || error instanceof NotFoundError)) throw error;
      const current = await deps.state.getSweep(id);
      lost.push({
        id,
        status:
          current && current.owner?.id !== owner.id && current.status !== 'cancelled'
            ? 'lost'
            : (current?.status ?? 'lost'),
      });
    }
  }
  return lost;
}

async function requireSweep(deps: ServiceDeps, id: string): Promise<SweepRecord> {
  const sweep = await deps.state.getSweep(id);
  if (!sweep) throw new NotFoundError('sweep', id);
  return sweep;
}

/** Finishes the scheduled run that started the sweep, where the deployment has schedules. */
async function finishScheduledRun(deps: ServiceDeps & Partial<RetrainDeps>, id: string) {
  if (!deps.schedules || !deps.registry) return undefined;
  return completeScheduledRun(deps as RetrainDeps, id);
}
