/**
 * Per-epoch checkpoints of a trial, so that a retried attempt (a Spot reclaim, a SIGKILLed
 * container) resumes where the last one stopped instead of starting over.
 *
 * Layout under `checkpoints/<sweepId>/<index>/` (one top-level prefix: the bucket's lifecycle rule expires it):
 * - `epoch-<NNNNN>.bin`: every tensor of the checkpoint, tfjs weight encoding (tf.io.encodeWeights):
 *   the model's weights (model.getWeights() order), each optimizer's weights (Adam: iterations,
 *   first and second moments), and the early-stopping best weights when the best epoch is not the
 *   last one;
 * - `latest.json`: the manifest (progress, tensor specs, the .bin's key), written after the .bin,
 *   so a reader sees the previous complete checkpoint or the new one, never half of one.
 * Older .bin files are deleted once the new manifest is in place.
 * @module
 */
import { z } from 'zod';
import { ObjectNotFoundError } from '../shared/errors.js';
import type { Logger } from '../shared/ports/logger.js';
import { getJson, type ObjectStore } from '../shared/ports/object-store.js';
import { trialCheckpointPrefix } from '../shared/schemas/plan.js';
import { EpochMetricsSchema } from '../shared/schemas/trial-result.js';
import type { LayersModel, Tensor, Tf } from './tf.js';

type Optimizer = import('@tensorflow/tfjs').Optimizer;
type NamedTensor = { name: string; tensor: Tensor };

const WeightSpecSchema = z
  .object({ name: z.string(), shape: z.array(z.number().int()), dtype: z.string() })
  .loose();

/** Where the training loop stood after its last completed epoch. */
export const TrainingProgressSchema = z.object({
  /** The last completed epoch (0-based): training resumes at `epoch + 1`. */
  epoch: z.number().int().nonnegative(),
  /** Metrics of every epoch so far, in order. */
  epochs: z.array(EpochMetricsSchema),
  /** Early stopping: the best epoch so far, its objective value, epochs since it. */
  bestEpoch: z.number().int().nonnegative(),
  bestValue: z.number(),
  sinceBest: z.number().int().nonnegative(),
});
export type TrainingProgress = z.infer<typeof TrainingProgressSchema>;

export const CheckpointManifestSchema = TrainingProgressSchema.extend({
  format: z.literal('foldsweep-checkpoint/1'),
  sweepId: z.string(),
  trialIndex: z.number().int().nonnegative(),
  /** The attempt that wrote it. */
  attempt: z.number().int().min(1),
  savedAt: z.string(),
  dataKey: z.string(),
  specs: z.array(WeightSpecSchema),
  modelWeights: z.number().int().nonnegative(),
  /** Optimizer name -> its weight names, in getWeights() order. */
  optimizers: z.record(z.string(), z.array(z.string())),
  hasBestWeights: z.boolean(),
});
export type CheckpointManifest = z.infer<typeof CheckpointManifestSchema>;

/** What a checkpoint captures: the model, the optimizers that train it, the best weights. */
export interface CheckpointParts {
  model: LayersModel;
  /** Default `{ body: model.optimizer }`. Give every optimizer the loop steps (e.g. a head's). */
  optimizers?: Record<string, Optimizer | undefined>;
  /** The early-stopping best weights (model.getWeights() order); omit when best = last epoch. */
  bestWeights?: Tensor[];
}

/** A restored checkpoint: the progress, and best weights the caller now owns (and disposes). */
export interface RestoredCheckpoint extends TrainingProgress {
  attempt: number;
  bestWeights: Tensor[];
}

export interface CheckpointerOptions {
  tf: Tf;
  objects: ObjectStore;
  sweepId: string;
  trialIndex: number;
  /** The attempt saving checkpoints (recorded in the manifest). Default 1. */
  attempt?: number;
  logger?: Pick<Logger, 'info' | 'warn'>;
  clock?: () => Date;
}

const MODEL = 'model/';
const BEST = 'best/';
const OPTIMIZER = 'optimizer/';

/**
 * Saves and restores a trial's training state through the ObjectStore (local folder or S3).
 * @example
 * const checkpoints = new Checkpointer({ tf, objects, sweepId, trialIndex, attempt });
 * const resumed = await checkpoints.restore({ model });          // undefined: start at epoch 0
 * ... after each epoch:
 * await checkpoints.save({ epoch, epochs, bestEpoch, bestValue, sinceBest }, { model, bestWeights });
 * ... after the TrialResult is written:
 * await checkpoints.clear();
 */
export class Checkpointer {
  /** `checkpoints/<sweepId>/<index>` */
  readonly prefix: string;
  private readonly tf: Tf;
  private readonly objects: ObjectStore;

  constructor(private readonly options: CheckpointerOptions) {
    this.tf = options.tf;
    this.objects = options.objects;
    this.prefix = trialCheckpointPrefix(options.sweepId, options.trialIndex);
  }

  get latestKey(): string {
    return `${this.prefix}/latest.json`;
  }

  /** Writes the checkpoint of `progress.epoch`, then drops the previous one. */
  async save(progress: TrainingProgress, parts: CheckpointParts): Promise<void> {
    const named: NamedTensor[] = parts.model
      .getWeights()
      .map((tensor, i) => ({ name: `${MODEL}${i}`, tensor }));
    const fresh: Tensor[] = [];
    const optimizers: Record<string, string[]> = {};
    for (const [name, optimizer] of Object.entries(optimizersOf(parts))) {
      const weights = await optimizer.getWeights();
      // getWeights() creates the iterations scalar; the moments are the optimizer's own variables.
      for (const w of weights) if (w.name === 'iter') fresh.push(w.tensor);
      optimizers[name] = weights.map((w) => w.name);
      named.push(
        ...weights.map((w) => ({ name: `${OPTIMIZER}${name}/${w.name}`, tensor: w.tensor })),
      );
    }
    const best = parts.bestWeights ?? [];
    named.push(...best.map((tensor, i) => ({ name: `${BEST}${i}`, tensor })));
    let encoded: Awaited<ReturnType<Tf['io']['encodeWeights']>>;
    try {
      encoded = await this.tf.io.encodeWeights(named);
    } finally {
      this.tf.dispose(fresh);
    }
    const previous = await this.latest();
    const dataKey = `${this.prefix}/epoch-${String(progress.epoch).padStart(5, '0')}.bin`;
    await this.objects.put(dataKey, new Uint8Array(encoded.data));
    const manifest: CheckpointManifest = {
      format: 'foldsweep-checkpoint/1',
      sweepId: this.options.sweepId,
      trialIndex: this.options.trialIndex,
      attempt: this.options.attempt ?? 1,
      savedAt: (this.options.clock?.() ?? new Date()).toISOString(),
      ...TrainingProgressSchema.parse(progress),
      dataKey,
      specs: encoded.specs.map((s) => ({ ...s, shape: [...s.shape] })),
      modelWeights: parts.model.getWeights().length,
      optimizers,
      hasBestWeights: best.length > 0,
    };
    await this.objects.put(this.latestKey, JSON.stringify(manifest));
    if (previous && previous.dataKey !== dataKey) {
      await this.objects.delete(previous.dataKey).catch(() => undefined);
    }
  }

  /** The latest manifest, or undefined when there is none (or it is unreadable). */
  async latest(): Promise<CheckpointManifest | undefined> {
    let json: unknown;
    try {
      json = await getJson(this.objects, this.latestKey);
    } catch (error) {
      if (error instanceof ObjectNotFoundError) return undefined;
      throw error;
    }
    const parsed = CheckpointManifestSchema.safeParse(json);
    if (!parsed.success) {
      this.options.logger?.warn({ key: this.latestKey }, 'ignoring an unreadable checkpoint');
      return undefined;
    }
    return parsed.data;
  }

  /**
   * Loads the latest checkpoint into `parts.model` and its optimizers and returns the progress
   * to resume from, or undefined (start from epoch 0) when there is none or it does not fit the
   * model (another architecture, another trial).
   */
  async restore(
    parts: Omit<CheckpointParts, 'bestWeights'>,
  ): Promise<RestoredCheckpoint | undefined> {
    const manifest = await this.latest();
    if (!manifest) return undefined;
    const { tf } = this;
    const reject = (why: string) => {
      this.options.logger?.warn({ key: this.latestKey, why }, 'not resuming from the checkpoint');
      return undefined;
    };
    if (
      manifest.sweepId !== this.options.sweepId ||
      manifest.trialIndex !== this.options.trialIndex
    ) {
      return reject('it belongs to another trial');
    }
    const current = parts.model.getWeights();
    const specs = manifest.specs as Parameters<Tf['io']['decodeWeights']>[1];
    const modelSpecs = specs.filter((s) => s.name.startsWith(MODEL));
    if (
      modelSpecs.length !== current.length ||
      modelSpecs.some((s, i) => s.shape.join('x') !== current[i].shape.join('x'))
    ) {
      return reject('its weights do not fit the model');
    }
    const optimizers = optimizersOf(parts);
    const missing = Object.keys(manifest.optimizers).filter((name) => !optimizers[name]);
    if (missing.length) return reject(`no optimizer named ${missing.join(', ')}`);
    const data = await this.objects.get(manifest.dataKey).catch(() => undefined);
    if (!data) return reject(`${manifest.dataKey} is missing`);
    const buffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    const tensors = tf.io.decodeWeights(buffer as ArrayBuffer, specs);
    const bestWeights: Tensor[] = [];
    try {
      parts.model.setWeights(modelSpecs.map((s) => tensors[s.name]));
      for (const [name, weightNames] of Object.entries(manifest.optimizers)) {
        await optimizers[name].setWeights(
          weightNames.map((w) => ({ name: w, tensor: tensors[`${OPTIMIZER}${name}/${w}`] })),
        );
      }
      if (manifest.hasBestWeights) {
        for (let i = 0; i < modelSpecs.length; i++) bestWeights.push(tensors[`${BEST}${i}`]);
      } else {
        bestWeights.push(...parts.model.getWeights().map((w) => w.clone()));
      }
    } finally {
      // Model variables and optimizer moments hold their own references to the data.
      const kept = new Set(bestWeights);
      tf.dispose(Object.values(tensors).filter((t) => !kept.has(t)));
    }
    this.options.logger?.info(
      { epoch: manifest.epoch, savedBy: manifest.attempt },
      'resuming from checkpoint',
    );
    return {
      epoch: manifest.epoch,
      epochs: manifest.epochs,
      bestEpoch: manifest.bestEpoch,
      bestValue: manifest.bestValue,
      sinceBest: manifest.sinceBest,
      attempt: manifest.attempt,
      bestWeights,
    };
  }

  /** Deletes every checkpoint object of the trial (once its result is written). */
  async clear(): Promise<void> {
    for (const key of await this.objects.list(`${this.prefix}/`)) await this.objects.delete(key);
  }
}

function optimizersOf(parts: Pick<CheckpointParts, 'model' | 'optimizers'>) {
  const given = parts.optimizers ?? { body: parts.model.optimizer };
  return Object.fromEntries(
    Object.entries(given).filter((e): e is [string, Optimizer] => e[1] !== undefined),
  );
}
