/**
 * Scheduled retraining: schedules (cron + time zone + sweep template + dataset location +
 * promotion policy), their runs, and champion/challenger promotion into the model registry.
 * See docs/retraining.md for the policies (frozen holdout, unchanged data, overlap, missed runs).
 * @module
 */
import { createHash } from 'node:crypto';
import { contentHash, type LoadedDataset, loadPreparedDataset } from '../data/load.js';
import { ConflictError, FoldsweepError, NotFoundError, ValidationError } from '../errors.js';
import { assignFolds } from '../planner/folds.js';
import { checkSpecAgainstArtifacts } from '../planner/plan-sweep.js';
import type { ModelRegistry } from '../ports/model-registry.js';
import { getJson, getText } from '../ports/object-store.js';
import type { Page, PageRequest } from '../ports/paging.js';
import type { RunPatch, ScheduleStore } from '../ports/schedule-store.js';
import type { Scheduler, Trigger } from '../ports/scheduler.js';
import {
  type DatasetRef,
  PREPARED_URI_SCHEME,
  type PreparedDataset,
  PreparedDatasetSchema,
} from '../schemas/dataset.js';
import { parseOrThrow } from '../schemas/issues.js';
import type { NewModelVersion } from '../schemas/registry.js';
import {
  type FrozenHoldout,
  nextFireTime,
  type PromotionPolicy,
  type RunTrigger,
  type ScheduleInput,
  ScheduleInputSchema,
  type ScheduleRecord,
  type ScheduleRun,
  type ScheduleView,
  type Score,
  sameCron,
} from '../schemas/schedule.js';
import { TERMINAL_SWEEP_STATUSES } from '../schemas/state.js';
import { type SweepSpec, SweepSpecSchema } from '../schemas/sweep-spec.js';
import type { ServiceDeps } from './deps.js';
import { discardLeftovers, snapshotArtifacts } from './leftovers.js';
import { prepareSweep, submitSweep } from './lifecycle.js';
import { championLineage, servingVersion } from './registry.js';

/** The sweep service's deps plus the schedule store, the model registry and the trigger port. */
export type RetrainDeps = ServiceDeps & {
  schedules: ScheduleStore;
  registry: ModelRegistry;
  scheduler: Scheduler;
};

export type { ScheduleView } from '../schemas/schedule.js';

/**
 * Validates a schedule, checks its template against the model and the data it names (exactly as
 * a sweep would be checked), stores it and puts its cron trigger. Nothing is stored when a check
 * fails.
 * @throws ValidationError (cron, timezone, template.*, dataset.*), ConflictError for a taken id
 * @example
 * await createSchedule(deps, {
 *   id: 'fashion-nightly', cron: '0 2 * * *', timezone: 'Europe/Berlin',
 *   dataset: { uri: '/data/fashion/train-images-idx3-ubyte.gz', format: 'idx' },
 *   template: { baseModel: '/models/base/model.json', holdoutFraction: 0.15 },
 * });
 */
export async function createSchedule(
  deps: RetrainDeps,
  input: ScheduleInput | unknown,
): Promise<ScheduleRecord> {
  const parsed = parseOrThrow(ScheduleInputSchema, input, 'schedule');
  if (await deps.schedules.getSchedule(parsed.id)) {
    throw new ConflictError(
      `schedule '${parsed.id}' already exists: delete it first or choose another id`,
    );
  }
  const now = deps.clock.now().toISOString();
  const record: ScheduleRecord = {
    id: parsed.id,
    cron: parsed.cron.trim().split(/\s+/).join(' '),
    timezone: parsed.timezone,
    dataset: parsed.dataset,
    template: parsed.template,
    modelName: parsed.modelName ?? parsed.id,
    promotion: parsed.promotion,
    maxRunHours: parsed.maxRunHours,
    createdAt: now,
    updatedAt: now,
  };
  // A rejected template leaves no model or dataset behind (as a rejected sweep).
  const before = await snapshotArtifacts(deps.objects);
  try {
    await checkTemplate(deps, record);
  } catch (error) {
    await discardLeftovers(deps, `schedule-${record.id}`, before, now).catch((cause: unknown) =>
      deps.logger.error({ err: cause }, 'removing what the rejected schedule left failed'),
    );
    throw error;
  }
  await deps.schedules.createSchedule(record);
  try {
    await deps.scheduler.put(triggerOf(record, now));
  } catch (error) {
    await deps.schedules.deleteSchedule(record.id);
    throw error;
  }
  deps.logger.info(
    { scheduleId: record.id, cron: record.cron, timezone: record.timezone },
    'schedule created',
  );
  return record;
}

/** Every schedule with its next fire time and last run. */
export async function listSchedules(deps: RetrainDeps): Promise<ScheduleView[]> {
  const schedules = await deps.schedules.listSchedules();
  return Promise.all(
    schedules.map(async (s) => {
      const [lastRun] = await deps.schedules.listRuns(s.id, { limit: 1 });
      return { ...s, nextFireAt: nextFire(s, deps.clock.now()), lastRun };
    }),
  );
}

/**
 * One page of schedules (by id) with their next fire time and last run.
 * @example
 * const { items, next } = await pageSchedules(deps, { limit: 50 });
 */
export async function pageSchedules(
  deps: RetrainDeps,
  request: PageRequest,
): Promise<Page<ScheduleView>> {
  const page = await deps.schedules.pageSchedules(request);
  return { ...page, items: await Promise.all(page.items.map((s) => viewOf(deps, s))) };
}

async function viewOf(deps: RetrainDeps, s: ScheduleRecord): Promise<ScheduleView> {
  const [lastRun] = await deps.schedules.listRuns(s.id, { limit: 1 });
  return { ...s, nextFireAt: nextFire(s, deps.clock.now()), lastRun };
}

/** A schedule with its run history, newest first. @throws NotFoundError */
export async function getSchedule(
  deps: RetrainDeps,
  id: string,
  options: { limit?: number } = {},
): Promise<{ schedule: ScheduleView; runs: ScheduleRun[] }> {
  const schedule = await requireSchedule(deps, id);
  const runs = await deps.schedules.listRuns(id, { limit: options.limit ?? 100 });
  return {
    schedule: { ...schedule, nextFireAt: nextFire(schedule, deps.clock.now()), lastRun: runs[0] },
    runs,
  };
}

/**
 * Removes the trigger, then the schedule and its run history. Model versions it promoted stay in
 * the registry. @throws NotFoundError
 */
export async function deleteSchedule(deps: RetrainDeps, id: string): Promise<void> {
  await requireSchedule(deps, id);
  await deps.scheduler.delete(id);
  await deps.schedules.deleteSchedule(id);
  deps.logger.info({ scheduleId: id }, 'schedule deleted');
}

export interface RunScheduleOptions {
  /** Run even when the dataset did not change since the last completed run. */
  force?: boolean;
  /** The fire time (the slot, for cron triggers): with the schedule id, the run's key. Default now. */
  firedAt?: Date | string;
  trigger?: RunTrigger;
}

/**
 * Fires a schedule once: records a run for (schedule, firedAt) exactly once, then
 * - skips it (recorded with the reason) when another run of the schedule is still going, or
 *   when the dataset's content hash is the one the last completed run trained on (unless force);
 * - otherwise prepares the latest data, freezes the holdout on the first run, takes the holdout's
 *   images out of training, and starts a sweep of the template on the rest (status `running`,
 *   with the sweep id). `completeScheduledRun` finishes the run when the sweep ends.
 * Anything that goes wrong (a vanished dataset, a spec that no longer fits the data) is recorded
 * as a `failed` run with its reason; the serving model is not touched.
 * A second fire of the same slot returns the first run with `created: false`.
 * @throws NotFoundError for an unknown schedule
 * @example
 * // the retrain Lambda, for an EventBridge Scheduler event { scheduleId, scheduledTime }:
 * const { run } = await runSchedule(deps, event.scheduleId, { firedAt: event.scheduledTime, trigger: 'cron' });
 */
export async function runSchedule(
  deps: RetrainDeps,
  id: string,
  options: RunScheduleOptions = {},
): Promise<{ run: ScheduleRun; created: boolean }> {
  const schedule = await requireSchedule(deps, id);
  const now = deps.clock.now();
  const stamp = now.toISOString();
  const firedAt = toIso(options.firedAt ?? now, 'firedAt');
  const log = deps.logger.child({ op: 'runSchedule', scheduleId: id, firedAt });
  const base = {
    scheduleId: id,
    firedAt,
    trigger: options.trigger ?? 'manual',
    force: options.force ?? false,
    startedAt: stamp,
    updatedAt: stamp,
  } satisfies Partial<ScheduleRun>;

  let claim = await deps.schedules.createRun({ ...base, status: 'running' });
  if (!claim.created && claim.reason === 'overlap') {
    if (await releaseActiveRun(deps, schedule, claim.run, now)) {
      claim = await deps.schedules.createRun({ ...base, status: 'running' });
    }
  }
  if (!claim.created && claim.reason === 'duplicate') {
    log.info({ status: claim.run.status }, 'duplicate fire of a slot that already ran');
    return { run: claim.run, created: false };
  }
  if (!claim.created) {
    const active = claim.run;
    const reason =
      `overlap: the run fired at ${active.firedAt}` +
      `${active.sweepId ? ` (sweep ${active.sweepId})` : ''} is still running, so this one is skipped`;
    const skipped = await deps.schedules.createRun({
      ...base,
      status: 'skipped',
      reason,
      finishedAt: stamp,
    });
    log.info({ reason }, 'run skipped');
    return { run: skipped.run, created: skipped.created };
  }
  try {
    return { run: await startRun(deps, schedule, claim.run), created: true };
  } catch (error) {
    const reason = errorReason(error);
    log.warn({ err: error, reason }, 'scheduled run failed');
    return { run: await finishRun(deps, claim.run, { status: 'failed', reason }), created: true };
  }
}

/**
 * Finishes the scheduled run whose sweep just ended (call it after aggregation; a sweep no
 * schedule started is ignored, and a run already finished is returned as is, so duplicate calls
 * are safe): scores the new champion (the challenger) and the serving model on the schedule's
 * frozen holdout, records the challenger in the registry, and makes it the serving version only
 * when it wins by the policy's margin (atomically, only if the serving version did not change
 * meanwhile). A failed sweep fails the run; the serving model is untouched.
 * @example
 * // local: after aggregateSweep in the process pool's onDrained; AWS: in the aggregator Lambda
 * await aggregateSweep(deps, sweepId);
 * await completeScheduledRun(deps, sweepId);
 */
export async function completeScheduledRun(
  deps: RetrainDeps,
  sweepId: string,
): Promise<ScheduleRun | undefined> {
  const run = await deps.schedules.findRunBySweep(sweepId);
  if (run?.status !== 'running') return run;
  const log = deps.logger.child({
    op: 'completeScheduledRun',
    scheduleId: run.scheduleId,
    sweepId,
  });
  try {
    const schedule = await requireSchedule(deps, run.scheduleId);
    const sweep = await deps.state.getSweep(sweepId);
    if (!sweep) throw new FoldsweepError(`sweep '${sweepId}' is not in the state store`);
    if (!TERMINAL_SWEEP_STATUSES.includes(sweep.status)) return run;
    if (sweep.status === 'cancelled') {
      return await finishRun(deps, run, {
        status: 'cancelled',
        reason: `sweep ${sweepId} was cancelled${sweep.error ? `: ${sweep.error}` : ''}`,
      });
    }
    if (sweep.status !== 'completed') {
      return await finishRun(deps, run, {
        status: 'failed',
        reason: `sweep ${sweepId} ${sweep.status}: ${sweep.error ?? 'no reason recorded'}`,
      });
    }
    if (!schedule.holdout) throw new FoldsweepError('the schedule has no frozen holdout');
    const holdout = await readHoldout(deps, schedule.holdout);
    const { sweepHoldout: _, ...lineage } = await championLineage(deps, sweepId, {
      kind: 'schedule',
      scheduleId: schedule.id,
      firedAt: run.firedAt,
    });
    const challenger = await deps.evaluator.evaluate(lineage.modelPrefix, holdout);
    for (let attempt = 1; ; attempt++) {
      const current = await servingVersion(deps, schedule.modelName);
      const serving = current && {
        version: current.version.version,
        ...(await deps.evaluator.evaluate(current.version.modelPrefix, holdout)),
      };
      const decision = decide(schedule.promotion, challenger, serving);
      const at = deps.clock.now().toISOString();
      const version: NewModelVersion = {
        ...lineage,
        modelName: schedule.modelName,
        dataset: {
          ...lineage.dataset,
          source: schedule.dataset.uri,
          sourceHash: run.dataset?.hash,
          sourceCount: run.dataset?.count,
        },
        holdout: { hash: schedule.holdout.datasetHash, count: schedule.holdout.count },
        holdoutScore: challenger,
        comparedWith: serving,
        decision: decision.promote ? 'promoted' : 'rejected',
        reason: decision.reason,
        createdAt: at,
      };
      try {
        const { version: stored } = await deps.registry.register(
          version,
          decision.promote
            ? {
                serve: {
                  expectServing: current?.version.version ?? null,
                  action: 'promote',
                  reason: decision.reason,
                  at,
                },
              }
            : undefined,
        );
        log.info(
          { version: stored.version, decision: stored.decision, reason: stored.reason },
          'challenger recorded',
        );
        return await finishRun(deps, run, {
          status: stored.decision === 'promoted' ? 'promoted' : 'rejected',
          reason: stored.reason,
          challenger: stored.holdoutScore,
          serving: stored.comparedWith,
          modelVersion: stored.version,
        });
      } catch (error) {
        // The serving version changed between scoring and promoting: score against the new one.
        if (!(error instanceof ConflictError) || attempt >= 3) throw error;
      }
    }
  } catch (error) {
    const reason = `completing the run failed: ${errorReason(error)}`;
    log.warn({ err: error, reason }, 'scheduled run failed');
    return finishRun(deps, run, { status: 'failed', reason });
  }
}

/**
 * Makes the scheduler hold exactly the stored schedules' triggers: puts missing or changed ones
 * (with `since` = the last scheduled fire, so the local scheduler can apply its missed-run
 * policy) and deletes triggers of schedules that are gone. `foldsweep serve` runs it at start
 * and every 30 s, which also picks up schedules added by another process (the CLI).
 */
export async function syncTriggers(
  deps: RetrainDeps,
): Promise<{ put: string[]; deleted: string[] }> {
  const [schedules, triggers] = await Promise.all([
    deps.schedules.listSchedules(),
    deps.scheduler.list(),
  ]);
  const have = new Map(triggers.map((t) => [t.scheduleId, t]));
  const put: string[] = [];
  for (const s of schedules) {
    const t = have.get(s.id);
    if (t && t.timezone === s.timezone && sameCron(t.cron, s.cron)) continue;
    const runs = await deps.schedules.listRuns(s.id, { limit: 20 });
    const last = runs.find((r) => r.trigger !== 'manual');
    await deps.scheduler.put(triggerOf(s, last?.firedAt ?? s.createdAt));
    put.push(s.id);
  }
  const ids = new Set(schedules.map((s) => s.id));
  const deleted: string[] = [];
  for (const t of triggers) {
    if (ids.has(t.scheduleId)) continue;
    await deps.scheduler.delete(t.scheduleId);
    deleted.push(t.scheduleId);
  }
  if (put.length || deleted.length) deps.logger.info({ put, deleted }, 'triggers synced');
  return { put, deleted };
}

/** The sweep spec a schedule's template stands for on its dataset location. */
export function templateSpec(schedule: ScheduleRecord): SweepSpec {
  return SweepSpecSchema.parse({ ...schedule.template, dataset: schedule.dataset });
}

/** Whether `challenger` wins over `serving` under `policy`, and why, in words. */
export function decide(
  policy: PromotionPolicy,
  challenger: Score,
  serving: (Score & { version: number }) | undefined,
): { promote: boolean; reason: string } {
  const f = (x: number) => x.toFixed(4);
  const { metric, minImprovement } = policy;
  if (!serving) {
    return {
      promote: true,
      reason: `first champion: nothing served yet (holdout ${metric} ${f(challenger[metric])})`,
    };
  }
  const improvement =
    metric === 'accuracy' ? challenger.accuracy - serving.accuracy : serving.loss - challenger.loss;
  const versus = `challenger ${metric} ${f(challenger[metric])} vs serving v${serving.version} ${f(serving[metric])}`;
  // Scores are averages over the same samples: compare with a tolerance for float noise.
  if (improvement > 1e-9 && improvement >= minImprovement - 1e-9) {
    return {
      promote: true,
      reason: `${versus}: better by ${f(improvement)} (margin ${minImprovement})`,
    };
  }
  return {
    promote: false,
    reason: `${versus}: ${improvement > 1e-9 ? `better by only ${f(improvement)}` : 'not better'}, needs ${minImprovement} more`,
  };
}

async function startRun(
  deps: RetrainDeps,
  schedule: ScheduleRecord,
  run: ScheduleRun,
): Promise<ScheduleRun> {
  const log = deps.logger.child({
    op: 'runSchedule',
    scheduleId: schedule.id,
    firedAt: run.firedAt,
  });
  const spec = templateSpec(schedule);
  const baseModel = await deps.models.importBaseModel(spec.baseModel, 'template.baseModel');
  const full = await deps.datasets.prepare(schedule.dataset, baseModel.inputShape, 'dataset');
  let current = await updateRunning(deps, run, { dataset: { hash: full.hash, count: full.count } });

  if (!run.force) {
    // Every run, not a page: months of nightly skips may lie between two trainings.
    const runs = await deps.schedules.listRuns(schedule.id);
    const last = runs.find((r) => r.status === 'promoted' || r.status === 'rejected');
    if (last?.dataset?.hash === full.hash) {
      const reason =
        `dataset unchanged: content hash ${full.hash.slice(0, 12)} is what the run fired at ` +
        `${last.firedAt} trained on; nothing new to learn (force runs it anyway)`;
      log.info({ reason }, 'run skipped');
      return finishRun(deps, current, { status: 'skipped', reason });
    }
  }

  const data = await loadPreparedDataset(deps.objects, full);
  const hashes = imageHashes(data);
  const holdout = schedule.holdout ?? (await freezeHoldout(deps, schedule, spec, data, hashes));
  if (holdout.classes.join('\u0000') !== full.classes.join('\u0000')) {
    throw ValidationError.single(
      'dataset',
      `classes changed from [${holdout.classes.join(', ')}] when the holdout was frozen to ` +
        `[${full.classes.join(', ')}]: champion and challenger would not be comparable; ` +
        'create a new schedule for the new classes',
    );
  }
  const frozen = new Set(
    JSON.parse(await getText(deps.objects, holdout.sampleHashesKey)) as string[],
  );
  const trainIndices = hashes.flatMap((h, i) => (frozen.has(h) ? [] : [i]));
  const training = await storeSubset(deps, data, trainIndices);
  current = await updateRunning(deps, current, {
    training: { hash: training.hash, count: training.count },
    holdout: { hash: holdout.datasetHash, count: holdout.count },
  });

  // The sweep trains on the prepared training subset, named by key: any process that prepares
  // the sweep (this one, or one that takes it over) finds it through the dataset preparer.
  const ref: DatasetRef = {
    uri: `${PREPARED_URI_SCHEME}${training.manifestKey}`,
    format: schedule.dataset.format,
  };
  // Link the run to the sweep before any trial can run, so completion always finds it.
  const submitted = await submitSweep(deps, {
    ...spec,
    name: spec.name ?? schedule.id,
    dataset: ref,
    holdoutFraction: 0,
  });
  current = await updateRunning(deps, current, { sweepId: submitted.id });
  const prepared = await prepareSweep(deps, submitted.id);
  const sweep = prepared.sweep;
  if (prepared.status !== 'running') {
    return finishRun(deps, current, {
      status: 'failed',
      sweepId: sweep.id,
      reason: sweep.error ?? `sweep ${sweep.id} failed to start`,
    });
  }
  log.info(
    { sweepId: sweep.id, training: training.count, holdout: holdout.count, dataset: full.hash },
    'scheduled sweep started',
  );
  return (await deps.schedules.getRun(run.scheduleId, run.firedAt)) ?? current;
}

/**
 * Draws the holdout from the dataset exactly as the planner would (per class, seeded shuffle,
 * round(fraction x n) samples) and stores it as its own prepared dataset plus the list of its
 * image hashes; records it on the schedule once.
 */
async function freezeHoldout(
  deps: RetrainDeps,
  schedule: ScheduleRecord,
  spec: SweepSpec,
  data: LoadedDataset,
  hashes: readonly string[],
): Promise<FrozenHoldout> {
  const { manifest } = data;
  const foldOf = assignFolds(
    data.labels,
    manifest.classes.length,
    1,
    spec.seed,
    spec.holdoutFraction,
  );
  const indices = foldOf.flatMap((f, i) => (f === -1 ? [i] : []));
  const subset = await storeSubset(deps, data, indices);
  const empty = subset.countsPerClass.indexOf(0);
  if (empty >= 0) {
    throw ValidationError.single(
      'template.holdoutFraction',
      `class '${manifest.classes[empty]}' gets no holdout sample at holdoutFraction ` +
        `${spec.holdoutFraction}: raise it or add samples of that class`,
    );
  }
  const sampleHashesKey = `schedules/${schedule.id}/holdout-${subset.hash.slice(0, 16)}/image-hashes.json`;
  const unique = [...new Set(indices.map((i) => hashes[i]))].sort();
  await deps.objects.put(sampleHashesKey, JSON.stringify(unique));
  const frozen: FrozenHoldout = {
    fraction: spec.holdoutFraction,
    seed: spec.seed,
    datasetHash: subset.hash,
    manifestKey: subset.manifestKey,
    sampleHashesKey,
    count: subset.count,
    countsPerClass: subset.countsPerClass,
    classes: subset.classes,
    fromDatasetHash: manifest.hash,
    frozenAt: deps.clock.now().toISOString(),
  };
  const { holdout, created } = await deps.schedules.setFrozenHoldout(schedule.id, frozen);
  deps.logger.info(
    { scheduleId: schedule.id, holdout: holdout.datasetHash, count: holdout.count, created },
    'holdout frozen',
  );
  return holdout;
}

/** sha256 of each image's pixels: the identity of a sample across dataset versions. */
function imageHashes(data: LoadedDataset): string[] {
  const [h, w, c] = data.manifest.shape;
  const size = h * w * c;
  return Array.from({ length: data.manifest.count }, (_, i) =>
    createHash('sha256')
      .update(data.pixels.subarray(i * size, (i + 1) * size))
      .digest('hex'),
  );
}

/**
 * Stores samples `indices` of a loaded dataset as a prepared dataset of their own
 * (`datasets/<content hash>/`, the layout of the dataset preparer), reusing it when present.
 */
async function storeSubset(
  deps: RetrainDeps,
  data: LoadedDataset,
  indices: readonly number[],
): Promise<PreparedDataset> {
  const { manifest } = data;
  const [h, w, c] = manifest.shape;
  const size = h * w * c;
  const pixels = new Uint8Array(indices.length * size);
  const labels = new Uint8Array(indices.length);
  const countsPerClass = new Array<number>(manifest.classes.length).fill(0);
  indices.forEach((src, dst) => {
    pixels.set(data.pixels.subarray(src * size, (src + 1) * size), dst * size);
    labels[dst] = data.labels[src];
    countsPerClass[data.labels[src]]++;
  });
  const hash = contentHash(
    manifest.shape,
    manifest.classes,
    pixels,
    labels,
    manifest.preprocessing,
  );
  const keys = {
    dataKey: `datasets/${hash}/pixels.u8`,
    labelsKey: `datasets/${hash}/labels.u8`,
    manifestKey: `datasets/${hash}/manifest.json`,
  };
  if (await deps.objects.exists(keys.manifestKey)) {
    const stored = PreparedDatasetSchema.safeParse(await getJson(deps.objects, keys.manifestKey));
    if (stored.success) return stored.data;
  }
  const subset = PreparedDatasetSchema.parse({
    hash,
    source: manifest.source,
    classes: manifest.classes,
    shape: manifest.shape,
    count: indices.length,
    countsPerClass,
    ...keys,
    preparedAt: deps.clock.now().toISOString(),
    preprocessing: manifest.preprocessing,
  } satisfies PreparedDataset);
  await deps.objects.put(keys.dataKey, pixels);
  await deps.objects.put(keys.labelsKey, labels);
  await deps.objects.put(keys.manifestKey, `${JSON.stringify(subset, null, 2)}\n`);
  return subset;
}

async function readHoldout(deps: RetrainDeps, holdout: FrozenHoldout): Promise<PreparedDataset> {
  return PreparedDatasetSchema.parse(await getJson(deps.objects, holdout.manifestKey));
}

/**
 * Another run is active. Frees its slot when its sweep already ended (its completion was lost:
 * complete it now) or when it ran longer than maxRunHours (mark it failed). True when freed.
 */
async function releaseActiveRun(
  deps: RetrainDeps,
  schedule: ScheduleRecord,
  active: ScheduleRun,
  now: Date,
): Promise<boolean> {
  if (active.sweepId) {
    const sweep = await deps.state.getSweep(active.sweepId);
    if (sweep && TERMINAL_SWEEP_STATUSES.includes(sweep.status)) {
      await completeScheduledRun(deps, active.sweepId);
      return true;
    }
  }
  const hours = (now.getTime() - Date.parse(active.startedAt)) / 3_600_000;
  if (hours < schedule.maxRunHours) return false;
  await finishRun(deps, active, {
    status: 'failed',
    reason:
      `still running after ${hours.toFixed(1)} h (maxRunHours ${schedule.maxRunHours}): ` +
      'marked failed so the schedule can run again',
  });
  return true;
}

async function updateRunning(deps: RetrainDeps, run: ScheduleRun, patch: RunPatch) {
  return deps.schedules.updateRun(
    run.scheduleId,
    run.firedAt,
    { ...patch, updatedAt: deps.clock.now().toISOString() },
    { expectStatus: ['running'] },
  );
}

/** Moves a running run to its outcome; when something else finished it first, that stands. */
async function finishRun(deps: RetrainDeps, run: ScheduleRun, patch: RunPatch) {
  const at = deps.clock.now().toISOString();
  try {
    return await deps.schedules.updateRun(
      run.scheduleId,
      run.firedAt,
      { ...patch, finishedAt: at, updatedAt: at },
      { expectStatus: ['running'] },
    );
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    return (await deps.schedules.getRun(run.scheduleId, run.firedAt)) ?? run;
  }
}

/** Imports the template's model and prepares its data: the checks a sweep would make. */
async function checkTemplate(deps: RetrainDeps, schedule: ScheduleRecord): Promise<void> {
  const spec = templateSpec(schedule);
  const baseModel = await deps.models.importBaseModel(spec.baseModel, 'template.baseModel');
  const dataset = await deps.datasets.prepare(spec.dataset, baseModel.inputShape, 'dataset');
  const testSet = spec.testSet
    ? await deps.datasets.prepare(spec.testSet, baseModel.inputShape, 'template.testSet')
    : undefined;
  const issues = checkSpecAgainstArtifacts(spec, baseModel, dataset, testSet).map((issue) => ({
    ...issue,
    path:
      issue.path === 'dataset' || issue.path.startsWith('dataset.')
        ? issue.path
        : `template.${issue.path}`,
  }));
  dataset.countsPerClass.forEach((n, c) => {
    if (Math.round(n * spec.holdoutFraction) < 1) {
      issues.push({
        path: 'template.holdoutFraction',
        message:
          `class '${dataset.classes[c]}' has ${n} samples: holdoutFraction ` +
          `${spec.holdoutFraction} keeps none of them for the frozen holdout; raise it or add samples`,
      });
    }
  });
  if (issues.length > 0) {
    throw new ValidationError(
      `the schedule's template does not fit its model or data: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
}

async function requireSchedule(deps: RetrainDeps, id: string): Promise<ScheduleRecord> {
  const schedule = await deps.schedules.getSchedule(id);
  if (!schedule) throw new NotFoundError('schedule', id);
  return schedule;
}

function triggerOf(schedule: ScheduleRecord, since: string): Trigger {
  return { scheduleId: schedule.id, cron: schedule.cron, timezone: schedule.timezone, since };
}

function nextFire(schedule: ScheduleRecord, now: Date): string | undefined {
  return nextFireTime(schedule.cron, schedule.timezone, now)?.toISOString();
}

function toIso(value: Date | string, path: string): string {
  const date = typeof value === 'string' ? new Date(value) : value;
  if (Number.isNaN(date.getTime())) {
    throw ValidationError.single(path, `'${String(value)}' is not a date: give an ISO 8601 time`);
  }
  return date.toISOString();
}

function errorReason(error: unknown): string {
  if (error instanceof ValidationError && error.issues.length > 0) {
    return error.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  }
  return error instanceof Error ? error.message : String(error);
}
