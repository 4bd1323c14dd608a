import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { ulid } from 'ulid';
import { defaultS3DatasetSource } from '../../shared/adapters/aws/default-s3-dataset-source.js';
import { defaultS3ModelSource } from '../../shared/adapters/aws/default-s3-model-source.js';
import { CronScheduler } from '../../shared/adapters/local/cron-scheduler.js';
import {
  type DataRoots,
  rootedDatasetPreparer,
  rootedModelImporter,
} from '../../shared/adapters/local/data-roots.js';
import { FsModelImporter } from '../../shared/adapters/local/fs-model-importer.js';
import { FsObjectStore } from '../../shared/adapters/local/fs-object-store.js';
import { ensureWritableHome, rethrowStorageProblem } from '../../shared/adapters/local/home.js';
import { ProcessPoolExecutor } from '../../shared/adapters/local/process-pool-executor.js';
import { SqliteModelRegistry } from '../../shared/adapters/local/sqlite-model-registry.js';
import { SqliteScheduleStore } from '../../shared/adapters/local/sqlite-schedule-store.js';
import { SqliteStateStore } from '../../shared/adapters/local/sqlite-state-store.js';
import { LocalDatasetPreparer } from '../../shared/data/prepare.js';
import type { FeatureProber } from '../../shared/ports/artifacts.js';
import { systemClock } from '../../shared/ports/clock.js';
import type { ExecutorEvent } from '../../shared/ports/executor.js';
import type { Logger } from '../../shared/ports/logger.js';
import type { PreparationStarter } from '../../shared/ports/preparation.js';
import { type SpecLimits, specLimitsFromEnv } from '../../shared/schemas/spec-limits.js';
import {
  findOrphanedSweeps,
  MAX_AGGREGATION_ATTEMPTS,
  prepareSweep,
  renewLeases,
  resumeSweep,
  settleSweep,
} from '../../shared/service/lifecycle.js';
import { type RetrainDeps, runSchedule } from '../../shared/service/schedules.js';
import { TfModelEvaluator } from '../../trainer/evaluate.js';
import { TfFeatureProber } from '../../trainer/probe.js';

export interface LocalDepsOptions {
  /** FOLDSWEEP_HOME: objects/, state.db and logs/ live here. Default ./.foldsweep */
  home?: string;
  /** Trainer processes at once (default: one per core). */
  concurrency?: number;
  backend?: 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
  /** Where logs go: a pino destination; default `<home>/logs/foldsweep.log`. */
  logger?: Logger;
  onEvent?: (event: ExecutorEvent) => void;
  /**
   * How long this process's hold on a sweep lasts without a heartbeat (ms). Another process
   * takes a sweep over only after it ran out. Default FOLDSWEEP_LEASE_MS, else 30 s.
   */
  leaseMs?: number;
  /** Spec size limits; default: FOLDSWEEP_MAX_* over DEFAULT_SPEC_LIMITS. */
  limits?: SpecLimits;
  /**
   * `foldsweep serve`: read base models and datasets only under these roots (relative spec
   * paths against their base). Absent (`foldsweep run`): any path the user can read.
   */
  dataRoots?: DataRoots;
}

export interface LocalDeps extends RetrainDeps {
  home: string;
  executor: ProcessPoolExecutor;
  scheduler: CronScheduler;
  /** `foldsweep advise`'s linear probe of a base model's features. */
  prober: FeatureProber;
  owner: { id: string; leaseMs: number };
  preparation: PreparationStarter;
  /** The sweeps this process drives: their leases are renewed by its heartbeat. */
  driving: Set<string>;
  /**
   * Takes over every sweep no live process drives (stopped or crashed owners): resumes it where
   * it stopped. `serve` calls it at start and once per lease period. Returns the ids taken.
   */
  adoptOrphans(): Promise<string[]>;
  /** Stops the heartbeat and releases this process's sweeps (others may take them at once). */
  close(): Promise<void>;
}

/**
 * Wires the embedded default: filesystem objects, SQLite state (sweeps, schedules, model
 * registry in one file), a process pool of trainers whose draining settles the sweep in this
 * process (lifecycle settleSweep), a background queue that prepares submitted sweeps one at a
 * time, this process as the owner of the sweeps it drives (a lease renewed by a heartbeat, which
 * also stops the trainers of a sweep another process cancelled), and cron triggers for scheduled
 * retraining (started by `serve`).
 */
export function localDeps(options: LocalDepsOptions = {}): LocalDeps {
  const home = resolve(options.home ?? process.env.FOLDSWEEP_HOME ?? '.foldsweep');
  // A home that is a file, read-only, not ours or on a full disk: one line, before anything.
  ensureWritableHome(home);
  let logger: Logger;
  let state: SqliteStateStore;
  let schedules: SqliteScheduleStore;
  let registry: SqliteModelRegistry;
  try {
    logger =
      options.logger ??
      pino(
        { level: process.env.FOLDSWEEP_LOG_LEVEL ?? 'info' },
        pino.destination({ dest: join(home, 'logs', 'foldsweep.log'), sync: true }),
      );
    state = new SqliteStateStore(join(home, 'state.db'));
    schedules = new SqliteScheduleStore(join(home, 'state.db'));
    registry = new SqliteModelRegistry(join(home, 'state.db'));
  } catch (error) {
    rethrowStorageProblem(error, home, 'opening its log and state.db');
  }
  const objects = new FsObjectStore(join(home, 'objects'));
  const limits = options.limits ?? specLimitsFromEnv(process.env);
  const datasets = new LocalDatasetPreparer(objects, logger, {
    sources: [defaultS3DatasetSource()],
  });
  const models = new FsModelImporter(objects, { sources: [defaultS3ModelSource()], logger });
  const roots = options.dataRoots;
  const leaseMs = options.leaseMs ?? Number(process.env.FOLDSWEEP_LEASE_MS ?? 30_000);
  const owner = { id: `${hostname()}:${process.pid}:${ulid().slice(-8)}`, leaseMs };
  const driving = new Set<string>();
  const scheduler = new CronScheduler({
    onFire: (fire) => runSchedule(deps as LocalDeps, fire.scheduleId, fire),
    missedRuns: 'run-once',
    logger,
    unref: true,
  });
  // Preparations run one at a time: a burst of submissions queues instead of decoding at once.
  let preparing: Promise<unknown> = Promise.resolve();
  const preparation: PreparationStarter = {
    async start(sweepId) {
      driving.add(sweepId);
      preparing = preparing
        .then(() => prepareSweep(deps as LocalDeps, sweepId))
        .then((outcome) => {
          if (outcome.status !== 'running') driving.delete(sweepId);
        })
        .catch((error: unknown) => {
          driving.delete(sweepId);
          logger.error({ err: error, sweepId }, 'preparing the sweep failed');
        });
    },
  };
  const deps = {
    home,
    state,
    objects,
    datasets: roots ? rootedDatasetPreparer(datasets, roots) : datasets,
    models: roots ? rootedModelImporter(models, roots) : models,
    limits,
    ...(roots ? { paths: roots } : {}),
    evaluator: new TfModelEvaluator(objects),
    prober: new TfFeatureProber(objects),
    clock: systemClock,
    logger,
    newId: () => ulid(),
    schedules,
    registry,
    scheduler,
    owner,
    preparation,
    driving,
  } as Omit<LocalDeps, 'executor' | 'close' | 'adoptOrphans'> & Partial<LocalDeps>;
  const executor = new ProcessPoolExecutor({
    home,
    objects,
    state,
    concurrency: options.concurrency,
    backend: options.backend,
    logger,
    onEvent: options.onEvent,
    onDrained: async (sweepId) => {
      driving.add(sweepId);
      let advanced = false;
      try {
        // Successive halving: a rung drained and the next one runs: keep driving the sweep.
        advanced = (await settleWithRetries(deps as LocalDeps, sweepId)) === 'advanced';
      } finally {
        if (!advanced) driving.delete(sweepId);
      }
    },
  });
  deps.executor = executor;
  const heartbeat = setInterval(
    () => {
      beat(deps as LocalDeps).catch((error: unknown) =>
        logger.error({ err: error }, 'lease heartbeat failed'),
      );
    },
    Math.max(50, Math.min(2000, leaseMs / 3)),
  );
  heartbeat.unref();
  deps.adoptOrphans = () => adoptOrphans(deps as LocalDeps);
  deps.close = async () => {
    clearInterval(heartbeat);
    await scheduler.stop();
    await releaseLeases(deps as LocalDeps).catch(() => undefined);
    await Promise.all([state.close?.(), schedules.close(), registry.close()]);
  };
  return deps as LocalDeps;
}

/** The drained path locally: settleSweep, retried while it has attempts left; its outcome's status. */
async function settleWithRetries(deps: LocalDeps, sweepId: string): Promise<string | undefined> {
  for (let attempt = 1; attempt <= MAX_AGGREGATION_ATTEMPTS; attempt++) {
    try {
      return (await settleSweep(deps, sweepId)).status;
    } catch (error) {
      deps.logger.warn({ err: error, sweepId, attempt }, 'aggregation attempt failed');
    }
  }
}

/**
 * Renews this process's leases; stops driving the sweeps it lost: cancelled by another process
 * (its trainers are stopped now), finished, or taken over after a missed heartbeat.
 */
async function beat(deps: LocalDeps) {
  if (deps.driving.size === 0) return;
  for (const { id, status } of await renewLeases(deps, deps.driving)) {
    deps.driving.delete(id);
    if (status === 'cancelled' || status === 'lost') {
      deps.logger.info({ sweepId: id, status }, 'sweep no longer ours: stopping its trainers');
      await deps.executor.cancel(id);
    }
  }
}

/** Lets other processes take this one's unfinished sweeps at once (a clean stop). */
async function releaseLeases(deps: LocalDeps) {
  for (const id of deps.driving) {
    await deps.state
      .updateSweep(
        id,
        { owner: null },
        { expectLease: { owner: deps.owner.id, now: deps.clock.now().toISOString() } },
      )
      .catch(() => undefined);
  }
  deps.driving.clear();
}

async function adoptOrphans(deps: LocalDeps): Promise<string[]> {
  const adopted: string[] = [];
  for (const sweep of await findOrphanedSweeps(deps)) {
    if (deps.driving.has(sweep.id)) continue;
    deps.driving.add(sweep.id);
    try {
      const outcome = await resumeSweep(deps, sweep.id);
      if (outcome.status === 'skipped') {
        deps.driving.delete(sweep.id);
        continue;
      }
      deps.logger.info({ sweepId: sweep.id, status: sweep.status }, 'took over an orphaned sweep');
      adopted.push(sweep.id);
    } catch (error) {
      deps.driving.delete(sweep.id);
      deps.logger.error({ err: error, sweepId: sweep.id }, 'taking over a sweep failed');
    }
  }
  return adopted;
}
