import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FsModelImporter } from '../../shared/adapters/local/fs-model-importer.js';
import { FsObjectStore } from '../../shared/adapters/local/fs-object-store.js';
import { SqliteStateStore } from '../../shared/adapters/local/sqlite-state-store.js';
import { LocalDatasetPreparer } from '../../shared/data/prepare.js';
import type { Executor, ExecutorDescription, SubmitOptions } from '../../shared/ports/executor.js';
import type { Plan } from '../../shared/schemas/plan.js';
import type { SweepSpecInput } from '../../shared/schemas/sweep-spec.js';
import type { ServiceDeps } from '../../shared/service/deps.js';
import { selectBackend } from '../../trainer/backend.js';
import { TfModelEvaluator } from '../../trainer/evaluate.js';
import { serializeModel } from '../../trainer/model-io.js';
import { makeTempDir, recordingLogger, writeIdxPair } from './images.js';
import { bandImages, tinyCnn } from './tiny-model.js';

/** An Executor test double that records submitted plans and runs nothing. */
export class RecordingExecutor implements Executor {
  readonly submitted: Plan[] = [];
  async submit(plan: Plan) {
    this.submitted.push(plan);
    return { jobIds: [] };
  }
  async cancel() {}
  async describe(sweepId: string): Promise<ExecutorDescription> {
    return { sweepId, trials: [] };
  }
}

/**
 * An Executor test double that records each submission (the rung, its trials, the finished
 * trials, the refit trial) and runs nothing.
 */
export class RungRecordingExecutor implements Executor {
  readonly submissions: { rung?: number; trials: number[]; finished: number[]; refit?: number }[] =
    [];
  readonly cancelled: string[][] = [];
  async submit(plan: Plan, options: SubmitOptions = {}) {
    this.submissions.push({
      rung: options.rung?.rung,
      trials: [...(options.rung?.trials ?? plan.trials.map((t) => t.index))],
      finished: [...(options.finished?.keys() ?? [])],
      ...(options.refit ? { refit: options.refit.trialIndex } : {}),
    });
    return { jobIds: [`job-${this.submissions.length}`] };
  }
  async cancel(_sweepId: string, jobIds: readonly string[] = []) {
    this.cancelled.push([...jobIds]);
  }
  async describe(sweepId: string): Promise<ExecutorDescription> {
    return { sweepId, trials: [] };
  }
}

/** Saves the tiny CNN (8x8x1 input, numClasses outputs) as model.json + weights.bin in `dir`. */
export async function writeTinyModel(dir: string, numClasses = 4) {
  const { tf } = await selectBackend({ prefer: 'wasm' });
  const model = tinyCnn(tf, numClasses);
  await mkdir(dir, { recursive: true });
  const { modelJson, weights } = await serializeModel(tf, model);
  await writeFile(join(dir, 'weights.bin'), weights);
  await writeFile(join(dir, 'model.json'), modelJson);
  model.dispose();
  return join(dir, 'model.json');
}

/**
 * A temp workspace: a tiny base model, a learnable 8x8 IDX dataset of `samples` images in 3
 * classes, FOLDSWEEP_HOME, and service deps on the real local adapters.
 */
export async function makeWorkspace(options: { samples?: number; executor?: Executor } = {}) {
  const tmp = await makeTempDir();
  const modelPath = await writeTinyModel(join(tmp.path, 'model'));
  const { pixels, labels } = bandImages(options.samples ?? 60, 3);
  const idx = await writeIdxPair(join(tmp.path, 'data'), {
    labels: Array.from(labels),
    rows: 8,
    cols: 8,
    pixels,
  });
  const home = join(tmp.path, 'home');
  const objects = new FsObjectStore(join(home, 'objects'));
  const state = new SqliteStateStore(join(home, 'state.db'));
  const { logger, records } = recordingLogger();
  const executor = options.executor ?? new RecordingExecutor();
  let n = 0;
  const deps: ServiceDeps = {
    state,
    objects,
    executor,
    datasets: new LocalDatasetPreparer(objects, logger),
    models: new FsModelImporter(objects),
    evaluator: new TfModelEvaluator(objects),
    clock: { now: () => new Date() },
    logger,
    newId: () => `sweep-${String(++n).padStart(4, '0')}`,
  };
  const spec = (overrides: Partial<SweepSpecInput> = {}): SweepSpecInput => ({
    name: 'tiny',
    // The best fold's model: tests of the refit (the default) ask for it.
    champion: 'best-fold',
    baseModel: modelPath,
    dataset: { uri: idx.imagesFile, format: 'idx', classNames: ['top', 'middle', 'bottom'] },
    folds: 3,
    seed: 1,
    searchSpace: { strategy: ['finetune', 'scratch'], freezeDepth: [0, 2], lrMultiplier: [1] },
    training: {
      learningRate: 0.02,
      epochs: 3,
      batchSize: 8,
      patience: 2,
      objective: 'val_accuracy',
    },
    ...overrides,
  });
  return {
    dir: tmp.path,
    home,
    modelPath,
    idx,
    deps,
    state,
    objects,
    executor,
    logs: records,
    spec,
    async cleanup() {
      await state.close();
      await tmp.cleanup();
    },
  };
}
