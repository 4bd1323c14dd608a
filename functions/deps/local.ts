import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { ulid } from 'ulid';
import { defaultS3DatasetSource } from '../../shared/adapters/aws/default-s3-dataset-source.js';
import { defaultS3ModelSource } from '../../shared/adapters/aws/default-s3-model-source.js';
import { CronScheduler } from '../../shared/adapters/local/cron-scheduler.js';
import { FsModelImporter } from '../../shared/adapters/local/fs-model-importer.js';
import { FsObjectStore } from '../../shared/adapters/local/fs-object-store.js';
import { ProcessPoolExecutor } from '../../shared/adapters/local/process-pool-executor.js';
import { SqliteModelRegistry } from '../../shared/adapters/local/sqlite-model-registry.js';
import { SqliteScheduleStore } from '../../shared/adapters/local/sqlite-schedule-store.js';
import { SqliteStateStore } from '../../shared/adapters/local/sqlite-state-store.js';
import { LocalDatasetPreparer } from '../../shared/data/prepare.js';
import type { FeatureProber } from '../../shared/ports/artifacts.js';
import { systemClock } from '../../shared/ports/clock.js';
import type { ExecutorEvent } from '../../shared/ports/executor.js';
import type { Logger } from '../../shared/ports/logger.js';
import { aggregateSweep } from '../../shared/service/aggregate.js';
import {
  completeScheduledRun,
  type RetrainDeps,
  runSchedule,
} from '../../shared/service/schedules.js';
import { findInterruptedSweeps } from '../../shared/service/sweeps.js';
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
}

export interface LocalDeps extends RetrainDeps {
  home: string;
  executor: ProcessPoolExecutor;
  scheduler: CronScheduler;
  /** `foldsweep advise`'s linear probe of a base model's features. */
  prober: FeatureProber;
  close(): Promise<void>;
}

/**
 * Wires the embedded default: filesystem objects, SQLite state (sweeps, schedules, model
 * registry in one file), a process pool of trainers that aggregates each sweep in this process
 * when its trials drain, and cron triggers for scheduled retraining (started by `serve`).
 */
export function localDeps(options: LocalDepsOptions = {}): LocalDeps {
  const home = resolve(options.home ?? process.env.FOLDSWEEP_HOME ?? '.foldsweep');
  mkdirSync(join(home, 'logs'), { recursive: true });
  const logger =
    options.logger ??
    pino(
      { level: process.env.FOLDSWEEP_LOG_LEVEL ?? 'info' },
      pino.destination({ dest: join(home, 'logs', 'foldsweep.log'), sync: true }),
    );
  const objects = new FsObjectStore(join(home, 'objects'));
  const state = new SqliteStateStore(join(home, 'state.db'));
  const schedules = new SqliteScheduleStore(join(home, 'state.db'));
  const registry = new SqliteModelRegistry(join(home, 'state.db'));
  const scheduler = new CronScheduler({
    onFire: (fire) => runSchedule(deps as LocalDeps, fire.scheduleId, fire),
    missedRuns: 'run-once',
    logger,
    unref: true,
  });
  const deps = {
    home,
    state,
    objects,
    datasets: new LocalDatasetPreparer(objects, logger, { sources: [defaultS3DatasetSource()] }),
    models: new FsModelImporter(objects, { sources: [defaultS3ModelSource()], logger }),
    evaluator: new TfModelEvaluator(objects),
    prober: new TfFeatureProber(objects),
    clock: systemClock,
    logger,
    newId: () => ulid(),
    schedules,
    registry,
    scheduler,
  } as Omit<LocalDeps, 'executor' | 'close'> & Partial<LocalDeps>;
  const executor = new ProcessPoolExecutor({
    home,
    objects,
    state,
    concurrency: options.concurrency,
    backend: options.backend,
    logger,
    onEvent: options.onEvent,
    onDrained: async (sweepId) => {
      await aggregateSweep(deps as LocalDeps, sweepId);
      await completeScheduledRun(deps as LocalDeps, sweepId);
    },
  });
  deps.executor = executor;
  deps.close = async () => {
    await scheduler.stop();
    await Promise.all([state.close?.(), schedules.close(), registry.close()]);
  };
  return deps as LocalDeps;
}

/**
 * Picks up sweeps that an earlier process left running (it was stopped or crashed): runs only
 * their unfinished trials, then aggregates as usual. Returns the ids it resumed.
 */
export async function resumeInterruptedSweeps(deps: LocalDeps): Promise<string[]> {
  const resumed: string[] = [];
  for (const { sweep, plan, finished } of await findInterruptedSweeps(deps)) {
    deps.logger.info(
      { sweepId: sweep.id, finished: finished.size, total: plan.trials.length },
      'resuming an interrupted sweep',
    );
    await deps.executor.submit(plan, { finished });
    resumed.push(sweep.id);
  }
  return resumed;
}
