/**
 * Fixtures for scheduled retraining: a fake clock, an executor that trains every trial in this
 * process (real runTrial on the wasm backend, real TrialResults and models), band-image dataset
 * versions written as IDX files at one location, and RetrainDeps on the real local adapters
 * (one SQLite file for state, schedules and registry; files for objects).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Hono } from 'hono';
import { errorResponse } from '../../functions/api/errors.js';
import { modelsRoutes } from '../../functions/api/routes/models.js';
import { schedulesRoutes } from '../../functions/api/routes/schedules.js';
import { CronScheduler } from '../../shared/adapters/local/cron-scheduler.js';
import { FsModelImporter } from '../../shared/adapters/local/fs-model-importer.js';
import { FsObjectStore } from '../../shared/adapters/local/fs-object-store.js';
import { SqliteModelRegistry } from '../../shared/adapters/local/sqlite-model-registry.js';
import { SqliteScheduleStore } from '../../shared/adapters/local/sqlite-schedule-store.js';
import { SqliteStateStore } from '../../shared/adapters/local/sqlite-state-store.js';
import { LocalDatasetPreparer } from '../../shared/data/prepare.js';
import { assignFolds } from '../../shared/planner/folds.js';
import type { Clock } from '../../shared/ports/clock.js';
import type { Executor, ExecutorDescription, SubmitOptions } from '../../shared/ports/executor.js';
import { getJson, type ObjectStore } from '../../shared/ports/object-store.js';
import type { Scheduler } from '../../shared/ports/scheduler.js';
import type { StateStore } from '../../shared/ports/state-store.js';
import { mulberry32 } from '../../shared/random.js';
import {
  type Plan,
  type Refit,
  type Trial,
  trialAt,
  trialResultKey,
} from '../../shared/schemas/plan.js';
import type { NewModelVersion } from '../../shared/schemas/registry.js';
import type {
  FrozenHoldout,
  ScheduleInput,
  ScheduleRecord,
  ScheduleRun,
} from '../../shared/schemas/schedule.js';
import type { TrialStatus } from '../../shared/schemas/state.js';
import { type TrialResult, TrialResultSchema } from '../../shared/schemas/trial-result.js';
import { settleSweep } from '../../shared/service/lifecycle.js';
import {
  completeScheduledRun,
  type RetrainDeps,
  runSchedule,
} from '../../shared/service/schedules.js';
import { selectBackend } from '../../trainer/backend.js';
import { TfModelEvaluator } from '../../trainer/evaluate.js';
import { runTrial } from '../../trainer/run-trial.js';
import { makeTempDir, recordingLogger, writeIdxPair, writeImage } from './images.js';
import { writeTinyModel } from './workspace.js';

/** A clock the test moves by hand. */
export class FakeClock implements Clock {
  private t: number;
  constructor(start: Date | string) {
    this.t = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.t);
  }
  set(to: Date | string): void {
    this.t = new Date(to).getTime();
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/**
 * An Executor that trains each trial of a submitted plan in this process, one after the other,
 * with the real trainer (wasm backend), then calls `onDrained` like the process pool does.
 * `hold()` keeps submitted sweeps from starting until `release()` (to test overlap); `failAll`
 * writes a failed TrialResult for every trial instead of training.
 */
export class InProcessExecutor implements Executor {
  onDrained?: (sweepId: string) => Promise<void>;
  failAll = false;
  readonly submitted: Plan[] = [];
  private readonly runs = new Map<string, Promise<void>>();
  private readonly statuses = new Map<string, TrialStatus[]>();
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;

  constructor(
    private readonly objects: ObjectStore,
    private readonly state: StateStore,
  ) {}

  hold(): void {
    this.gate = new Promise((resolve) => {
      this.open = resolve;
    });
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  async submit(plan: Plan, options: SubmitOptions = {}): Promise<{ jobIds: string[] }> {
    this.submitted.push(plan);
    // A halving rung or the refit runs only its trials (the refit is not in plan.trials).
    const { refit, rung, finished } = options;
    const all = refit
      ? [...plan.trials, trialAt(plan, refit.trialIndex, refit) as Trial]
      : plan.trials;
    const members = rung ? new Set(rung.trials) : undefined;
    this.statuses.set(
      plan.sweepId,
      all.map((t) => finished?.get(t.index) ?? 'pending'),
    );
    const trials = all.filter((t) => !finished?.has(t.index) && (!members || members.has(t.index)));
    const run = this.run(plan, trials, refit, this.gate);
    run.catch(() => {}); // surfaced by waitFor
    this.runs.set(plan.sweepId, run);
    return { jobIds: [] };
  }

  /** Releases held sweeps and waits for every submitted one to end (before closing stores). */
  async drain(): Promise<void> {
    this.release();
    // waitFor follows a sweep submitted again from onDrained (its refit).
    await Promise.allSettled([...this.runs.keys()].map((id) => this.waitFor(id)));
  }

  async cancel(): Promise<void> {}

  async describe(sweepId: string): Promise<ExecutorDescription> {
    const statuses = this.statuses.get(sweepId) ?? [];
    return { sweepId, trials: statuses.map((status, index) => ({ index, status })) };
  }

  /** Resolves when the sweep's trials ran and onDrained returned (rejects if that threw). */
  async waitFor(sweepId: string): Promise<void> {
    let run = this.runs.get(sweepId);
    if (!run) throw new Error(`sweep ${sweepId} was not submitted`);
    // onDrained may submit the sweep again (the refit, a halving rung): follow it.
    while (run) {
      await run;
      const next = this.runs.get(sweepId);
      run = next !== run ? next : undefined;
    }
  }

  private async run(
    plan: Plan,
    trials: readonly Trial[],
    refit: Refit | undefined,
    gate: Promise<void> | undefined,
  ): Promise<void> {
    await Promise.resolve(); // submit returns before any trial starts, like the real pools
    if (gate) await gate;
    const { tf, name } = await selectBackend({ prefer: 'wasm' });
    const statuses = this.statuses.get(plan.sweepId) as TrialStatus[];
    for (const trial of trials) {
      const record = (status: TrialStatus, result?: TrialResult) =>
        this.state.putTrial({
          sweepId: plan.sweepId,
          trialIndex: trial.index,
          variantId: trial.variantId,
          fold: trial.fold,
          status,
          attempt: 1,
          objective: result?.objective ?? null,
          reason: result?.reason,
          backend: result?.backend,
          ...(result?.bestEpoch !== undefined ? { bestEpoch: result.bestEpoch } : {}),
          updatedAt: new Date().toISOString(),
        });
      statuses[trial.index] = 'running';
      await record('running');
      let result: TrialResult;
      if (this.failAll) {
        const at = new Date().toISOString();
        result = {
          sweepId: plan.sweepId,
          trialIndex: trial.index,
          variantId: trial.variantId,
          fold: trial.fold,
          status: 'failed',
          reason: 'out of memory (simulated)',
          attempt: 1,
          startedAt: at,
          finishedAt: at,
          durationMs: 0,
          epochs: [],
          objective: null,
        };
        await this.objects.put(trialResultKey(plan.sweepId, trial.index), JSON.stringify(result));
      } else {
        try {
          result = await runTrial(
            { tf, backend: name, objects: this.objects },
            plan,
            trial.index,
            1,
            refit,
          );
        } catch {
          result = TrialResultSchema.parse(
            await getJson(this.objects, trialResultKey(plan.sweepId, trial.index)),
          );
        }
      }
      statuses[trial.index] = result.status;
      await record(result.status, result);
    }
    await this.onDrained?.(plan.sweepId);
  }
}

/** A Scheduler that only records what it was asked (for API tests). */
export class RecordingScheduler implements Scheduler {
  readonly triggers = new Map<string, { scheduleId: string; cron: string; timezone: string }>();
  async put(trigger: { scheduleId: string; cron: string; timezone: string }) {
    this.triggers.set(trigger.scheduleId, {
      scheduleId: trigger.scheduleId,
      cron: trigger.cron,
      timezone: trigger.timezone,
    });
  }
  async delete(scheduleId: string) {
    this.triggers.delete(scheduleId);
  }
  async list() {
    return [...this.triggers.values()];
  }
}

/**
 * A part of a dataset version: `n` band images, classes interleaved (image i shows band i mod 3),
 * with noise from `seed`. `labels`:
 * - `true` (default): each image labelled with its band;
 * - `next`: labelled as the next class ((band + 1) mod 3): data that teaches the wrong thing;
 * - `next-outside-holdout`: only for a first version: the samples the schedule's holdout will
 *   take (asked of the planner's own assignFolds, as the service draws it) keep true labels,
 *   every other one is labelled `next`. A first model trained on it learns the wrong mapping
 *   and scores near 0 on the (correct) holdout, whatever its random initialisation.
 */
export interface DataBatch {
  n: number;
  seed: number;
  labels?: 'true' | 'next' | 'next-outside-holdout';
}

export const CLASS_NAMES = ['top', 'middle', 'bottom'];

/** The holdout the fixtures' schedules use (template seed and holdoutFraction). */
export const HOLDOUT = { seed: 3, fraction: 0.25 };

/** An 8x8 image with a bright horizontal band at `band` (of 3), like bandImages. */
function bandImage(band: number, rand: () => number, out: Uint8Array, at: number) {
  const top = Math.floor((band * 8) / 3);
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) {
      const on = y >= top && y < top + 2;
      out[at + y * 8 + x] = Math.min(255, (on ? 200 : 20) + Math.floor(rand() * 40));
    }
  }
}

/** Pixels and labels of the batches, concatenated in order (earlier batches keep their place). */
export function datasetVersion(batches: readonly DataBatch[]) {
  const count = batches.reduce((s, b) => s + b.n, 0);
  const pixels = new Uint8Array(count * 64);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const b of batches) {
    const rand = mulberry32(b.seed);
    const classes = Array.from({ length: b.n }, (_, i) => i % 3);
    const kept =
      b.labels === 'next-outside-holdout'
        ? assignFolds(classes, 3, 1, HOLDOUT.seed, HOLDOUT.fraction).map((f) => f === -1)
        : classes.map(() => b.labels !== 'next');
    classes.forEach((label, i) => {
      // The label is fixed (so the holdout draw is); the image shows the band it should, or the
      // previous band when the sample is mislabelled.
      const band = kept[i] ? label : (label + 2) % 3;
      bandImage(band, rand, pixels, (at + i) * 64);
      labels[at + i] = label;
    });
    at += b.n;
  }
  return { pixels, labels };
}

/**
 * The data versions of the champion/challenger flow, each adding to the one before:
 * - v1: 60 images whose labels outside the future holdout are wrong: a poor first model;
 * - v2: v1 plus 240 correctly labelled images: the challenger should win;
 * - v3: v2 plus 900 mislabelled images: the challenger should lose.
 */
export const FLOW_DATA = (() => {
  const v1: DataBatch[] = [{ n: 60, seed: 1, labels: 'next-outside-holdout' }];
  const v2: DataBatch[] = [...v1, { n: 240, seed: 2 }];
  const v3: DataBatch[] = [...v2, { n: 900, seed: 3, labels: 'next' }];
  return { v1, v2, v3 };
})();

/** Writes a version of the data (IDX images + labels) into `dataDir`, replacing what was there. */
export async function writeDataVersion(dataDir: string, batches: readonly DataBatch[]) {
  const { pixels, labels } = datasetVersion(batches);
  await writeIdxPair(dataDir, { labels: Array.from(labels), rows: 8, cols: 8, pixels });
  return { count: labels.length };
}

/**
 * Writes a version of the data as an image folder in `dir` (`<class>/<index>.png`, 8x8 grey,
 * class folders named CLASS_NAMES): sample i keeps its file name and bytes in every later
 * version, so a version adds files and changes none. Returns the file count.
 */
export async function writeDataVersionImages(dir: string, batches: readonly DataBatch[]) {
  const { pixels, labels } = datasetVersion(batches);
  for (let i = 0; i < labels.length; i++) {
    await writeImage(join(dir, CLASS_NAMES[labels[i]], `${String(i).padStart(5, '0')}.png`), {
      width: 8,
      height: 8,
      channels: 1,
      pixels: pixels.subarray(i * 64, (i + 1) * 64),
    });
  }
  return { count: labels.length };
}

/**
 * The flow's schedule: nightly at 02:00 Berlin, on the band images at `imagesFile`, a 2-fold
 * sweep of one finetune variant of the tiny model at `modelPath`, the fixtures' holdout, and a
 * 0.05 accuracy margin.
 */
export function retrainScheduleInput(
  paths: { imagesFile: string; modelPath: string },
  overrides: Partial<ScheduleInput> = {},
): ScheduleInput {
  return {
    id: 'nightly',
    cron: '0 2 * * *',
    timezone: 'Europe/Berlin',
    dataset: { uri: paths.imagesFile, format: 'idx', classNames: CLASS_NAMES },
    template: {
      baseModel: paths.modelPath,
      folds: 2,
      seed: HOLDOUT.seed,
      holdoutFraction: HOLDOUT.fraction,
      searchSpace: { strategy: ['finetune'], freezeDepth: [0], lrMultiplier: [1] },
      training: { learningRate: 0.02, epochs: 10, batchSize: 16, patience: 3 },
    },
    modelName: 'bands',
    promotion: { metric: 'accuracy', minImprovement: 0.05 },
    ...overrides,
  };
}

/**
 * A temp workspace for retraining: a tiny base model, one dataset location (`writeData` replaces
 * its content), FOLDSWEEP_HOME with SQLite (state + schedules + registry in one file) and file
 * objects, an in-process executor wired to aggregate and complete scheduled runs, a fake clock,
 * and a local CronScheduler (not started) wired to runSchedule.
 */
export async function makeRetrainWorkspace(options: { start?: string } = {}) {
  const tmp = await makeTempDir('foldsweep-retrain-');
  const modelPath = await writeTinyModel(join(tmp.path, 'model'));
  const dataDir = join(tmp.path, 'data');
  const home = join(tmp.path, 'home');
  const dbFile = join(home, 'state.db');
  const objects = new FsObjectStore(join(home, 'objects'));
  const state = new SqliteStateStore(dbFile);
  const schedules = new SqliteScheduleStore(dbFile);
  const registry = new SqliteModelRegistry(dbFile);
  const { logger, records } = recordingLogger();
  const clock = new FakeClock(options.start ?? '2025-01-06T12:00:00.000Z');
  const executor = new InProcessExecutor(objects, state);
  let n = 0;
  const scheduler = new CronScheduler({
    onFire: (fire) => runSchedule(deps, fire.scheduleId, fire),
    logger,
    unref: true,
  });
  const deps: RetrainDeps = {
    state,
    objects,
    executor,
    datasets: new LocalDatasetPreparer(objects, logger),
    models: new FsModelImporter(objects),
    evaluator: new TfModelEvaluator(objects),
    clock,
    logger,
    newId: () => `sweep-${String(++n).padStart(4, '0')}`,
    schedules,
    registry,
    scheduler,
  };
  executor.onDrained = async (sweepId) => {
    await settleSweep(deps, sweepId);
    await completeScheduledRun(deps, sweepId);
  };
  const imagesFile = join(dataDir, 'train-images-idx3-ubyte');

  /** Writes a new version of the data at the schedule's location. */
  const writeData = (batches: readonly DataBatch[]) => writeDataVersion(dataDir, batches);

  const scheduleInput = (overrides: Partial<ScheduleInput> = {}): ScheduleInput =>
    retrainScheduleInput({ imagesFile, modelPath }, overrides);

  return {
    dir: tmp.path,
    home,
    modelPath,
    dataDir,
    imagesFile,
    deps,
    scheduler,
    executor,
    clock,
    logs: records,
    writeData,
    scheduleInput,
    async removeData() {
      await rm(dataDir, { recursive: true, force: true });
    },
    async cleanup() {
      await scheduler.stop();
      await executor.drain();
      await Promise.all([state.close(), schedules.close(), registry.close()]);
      await tmp.cleanup();
    },
  };
}

/**
 * /schedules and /models mounted as functions/api/app.ts is to mount them (`app.route`), with
 * the app's error mapping.
 */
export function retrainApp(deps: RetrainDeps) {
  const app = new Hono();
  app.route('/schedules', schedulesRoutes(deps));
  app.route('/models', modelsRoutes(deps));
  app.onError((error, c) => errorResponse(c, error, deps.logger));
  return app;
}

/** A complete, valid ScheduleRecord; `overrides` replace whole fields. */
export function scheduleRecordFactory(overrides: Partial<ScheduleRecord> = {}): ScheduleRecord {
  return {
    id: 'nightly',
    cron: '0 2 * * *',
    timezone: 'Europe/Berlin',
    dataset: { uri: '/data/train-images-idx3-ubyte', format: 'idx' },
    template: { baseModel: '/models/base/model.json', folds: 3, holdoutFraction: 0.2 },
    modelName: 'bands',
    promotion: { metric: 'accuracy', minImprovement: 0.01 },
    maxRunHours: 72,
    createdAt: '2025-01-06T11:00:00.000Z',
    updatedAt: '2025-01-06T11:00:00.000Z',
    ...overrides,
  };
}

/** A complete, valid running ScheduleRun; `overrides` replace whole fields. */
export function scheduleRunFactory(overrides: Partial<ScheduleRun> = {}): ScheduleRun {
  return {
    scheduleId: 'nightly',
    firedAt: '2025-01-07T01:00:00.000Z',
    trigger: 'cron',
    force: false,
    status: 'running',
    startedAt: '2025-01-07T01:00:00.500Z',
    updatedAt: '2025-01-07T01:00:00.500Z',
    ...overrides,
  };
}

/** A complete, valid FrozenHoldout. */
export function frozenHoldoutFactory(overrides: Partial<FrozenHoldout> = {}): FrozenHoldout {
  return {
    fraction: 0.2,
    seed: 0,
    datasetHash: 'h'.repeat(64),
    manifestKey: `datasets/${'h'.repeat(64)}/manifest.json`,
    sampleHashesKey: 'schedules/nightly/holdout-hhhh/image-hashes.json',
    count: 12,
    countsPerClass: [4, 4, 4],
    classes: CLASS_NAMES,
    fromDatasetHash: 'd'.repeat(64),
    frozenAt: '2025-01-07T01:00:01.000Z',
    ...overrides,
  };
}

/** A complete, valid model version (without its number); `overrides` replace whole fields. */
export function modelVersionFactory(overrides: Partial<NewModelVersion> = {}): NewModelVersion {
  const sweepId = overrides.sweepId ?? 'sweep-0001';
  return {
    modelName: 'bands',
    sweepId,
    source: { kind: 'schedule', scheduleId: 'nightly', firedAt: '2025-01-07T01:00:00.000Z' },
    modelPrefix: `sweeps/${sweepId}/champion`,
    variant: {
      id: 'a1b2c3d4',
      index: 0,
      strategy: 'finetune',
      freezeDepth: 0,
      lrMultiplier: 1,
      learningRate: 0.02,
    },
    training: { learningRate: 0.02, epochs: 10, batchSize: 16, patience: 3 },
    folds: 2,
    dataset: { hash: 't'.repeat(64), count: 45, source: '/data/train-images-idx3-ubyte' },
    holdout: { hash: 'h'.repeat(64), count: 15 },
    baseModel: { hash: 'b'.repeat(64), uri: '/models/base/model.json' },
    cv: { objective: 'val_accuracy', mean: 0.8, std: 0.05 },
    holdoutScore: { accuracy: 0.8, loss: 0.5, samples: 15 },
    decision: 'promoted',
    reason: 'first champion',
    createdAt: '2025-01-07T01:05:00.000Z',
    ...overrides,
  };
}
