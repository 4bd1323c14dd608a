import { mulberry32, shuffleInPlace } from '../shared/random.js';
import type { EpochMetrics } from '../shared/schemas/trial-result.js';
import { HEAD_PREFIX } from './model.js';
import type { LayersModel, Tensor, Tf } from './tf.js';
import { applyGradients } from './wasm-kernels/adam.js';

type Scalar = import('@tensorflow/tfjs').Scalar;
type Variable = import('@tensorflow/tfjs').Variable;
type NamedTensorMap = Record<string, Tensor>;
type Optimizer = import('@tensorflow/tfjs').Optimizer;

/** What a training loop minimises, and what it reports as `loss` / `valLoss`. */
export interface TrainingLoss {
  /** The scalar minimised on a training batch: mean loss plus any regularisation. */
  minimise(yTrue: Tensor, yPred: Tensor): Scalar;
  /** Per-sample loss reported in the metrics: [batch]. */
  perSample(yTrue: Tensor, yPred: Tensor): Tensor;
  /**
   * Optional: `minimise` computed from `perSample`'s output, for losses where the minimised scalar
   * is a function of the reported per-sample loss (cross-entropy: its mean). The training loop then
   * computes the per-sample loss once per step instead of twice.
   */
  minimiseFromPerSample?(perSample: Tensor): Scalar;
}

const EPSILON = 1e-7;

/**
 * Categorical cross-entropy of softmax outputs, as tfjs-layers computes it (outputs renormalised,
 * clipped to [1e-7, 1 - 1e-7]).
 * @param yTrue [batch, numClasses] one-hot; yPred [batch, numClasses] probabilities
 * @returns [batch]
 */
export function crossEntropyPerSample(tf: Tf, yTrue: Tensor, yPred: Tensor): Tensor {
  return tf.tidy(() => {
    const p = yPred.div(yPred.sum(-1, true)).clipByValue(EPSILON, 1 - EPSILON);
    return yTrue.mul(p.log()).sum(-1).neg();
  });
}

/**
 * One-vs-rest hinge loss of class scores: sum over classes of max(0, 1 - y * score) with y = +1
 * for the true class and -1 for the others; squared: the same terms squared.
 * @param yTrue [batch, numClasses] one-hot; scores [batch, numClasses]
 * @returns [batch]
 */
export function ovrHingePerSample(tf: Tf, yTrue: Tensor, scores: Tensor, squared = false): Tensor {
  return tf.tidy(() => {
    const signs = yTrue.mul(2).sub(1);
    const hinge = tf.relu(tf.sub(1, signs.mul(scores)));
    return (squared ? hinge.square() : hinge).sum(-1);
  });
}

/** Cross-entropy on softmax outputs: the loss of finetune and scratch models. */
export function crossEntropyLoss(tf: Tf): TrainingLoss {
  return {
    minimise: (y, p) => crossEntropyPerSample(tf, y, p).mean() as Scalar,
    perSample: (y, p) => crossEntropyPerSample(tf, y, p),
    minimiseFromPerSample: (perSample) => perSample.mean() as Scalar,
  };
}

/**
 * Per-epoch checkpoints, so a retried attempt resumes instead of restarting: trainer/checkpoint.ts
 * `Checkpointer` has this shape. `restore` loads the model's and the optimizers' weights of the
 * latest checkpoint (or returns undefined: start at epoch 0); `save` runs after every epoch.
 */
export interface TrainingCheckpoints {
  restore(parts: {
    model: LayersModel;
    optimizers: Record<string, Optimizer | undefined>;
  }): Promise<
    | {
        epoch: number;
        epochs: EpochMetrics[];
        bestEpoch: number;
        bestValue: number;
        sinceBest: number;
        bestWeights: Tensor[];
      }
    | undefined
  >;
  save(
    progress: {
      epoch: number;
      epochs: EpochMetrics[];
      bestEpoch: number;
      bestValue: number;
      sinceBest: number;
    },
    parts: {
      model: LayersModel;
      optimizers: Record<string, Optimizer | undefined>;
      bestWeights?: Tensor[];
    },
  ): Promise<void>;
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  patience: number;
  /**
   * Early stopping also waits this many optimizer steps without improvement: the patience in
   * epochs is raised to ceil(patienceSteps / steps per epoch) when that is more. On a small fold
   * an epoch is a few steps, and `patience` epochs alone stop a slow learner before it has moved.
   * Default 0 (epochs only).
   */
  patienceSteps?: number;
  objective: 'val_accuracy' | 'val_loss';
  onEpoch?: (metrics: EpochMetrics) => void | Promise<void>;
  /**
   * Seeds the batch order and `augment`'s random numbers, per epoch: epoch e's batches depend
   * only on (seed, e), so a resumed run sees the batches an uninterrupted one would. Default 0.
   */
  seed?: number;
  /** Transforms each training batch (never validation data): [b, ...] -> [b, ...]. */
  augment?: (xs: Tensor, random: () => number) => Tensor;
  /**
   * Learning rate (Adam) of the new head's layers (`foldsweep_head*`); the other layers train
   * with the model's compiled optimizer. Default: the compiled optimizer trains every layer.
   */
  headLearningRate?: number;
  /**
   * The fraction of all optimizer steps (epochs x batches), at the end, over which every
   * optimizer's learning rate falls linearly from its own value toward zero: with D such steps,
   * the i-th of them (1-based) runs at (D + 1 - i) / (D + 1) of it. Meant for a refit, which
   * keeps its last weights: at a constant rate the last step's weights are one draw from where
   * the optimizer bounces around, and the test accuracy of neighbouring epochs differs by points
   * on small data. The rate depends only on the step's index, so a resumed run matches.
   * Default 0 (constant).
   */
  finalDecay?: number;
  /** Default: crossEntropyLoss. */
  loss?: TrainingLoss;
  checkpoints?: TrainingCheckpoints;
}

export interface TrainOutcome {
  epochs: EpochMetrics[];
  bestEpoch: number;
  objective: number;
  stoppedEarly: boolean;
}

const EVAL_BATCH = 256;

/**
 * Trains epoch by epoch with early stopping on the validation objective and restores the best
 * epoch's weights at the end. A custom loop over seeded shuffled mini-batches (instead of
 * model.fit) so that training batches can be augmented and the head can have its own learning
 * rate. Layers run in training mode (dropout on, trainable BatchNormalization on batch
 * statistics); frozen layers run in inference mode (see freezeLayers). Tensor count stays flat:
 * per-batch work is tidied and one copy of the best weights is kept.
 *
 * @param data xs [n, ...inputShape] float32 (images in [0, 1], or bottleneck features), ys
 *   [n, numClasses] one-hot; both splits. The model must be compiled: its optimizer trains it.
 */
export async function trainWithEarlyStopping(
  tf: Tf,
  model: LayersModel,
  data: { xTrain: Tensor; yTrain: Tensor; xVal: Tensor; yVal: Tensor },
  options: TrainOptions,
): Promise<TrainOutcome> {
  const bodyOptimizer = model.optimizer;
  if (!bodyOptimizer) throw new Error('compile the model first: its optimizer trains it');
  const loss = options.loss ?? crossEntropyLoss(tf);
  const variables = model.trainableWeights.map((w) => w.read() as Variable);
  const headVariables = new Set(
    model.layers
      .filter((l) => l.name.startsWith(HEAD_PREFIX))
      .flatMap((l) => l.trainableWeights.map((w) => (w.read() as Variable).name)),
  );
  const headOptimizer =
    options.headLearningRate !== undefined ? tf.train.adam(options.headLearningRate) : undefined;
  const optimizers = { body: bodyOptimizer, head: headOptimizer };
  const n = data.xTrain.shape[0];
  const decay = finalDecaySchedule(options, n, [bodyOptimizer, headOptimizer]);

  // Class indices of the training labels, once: a step compares predictions with a gather of
  // them instead of an argMax of its one-hot batch.
  const trainClasses = tf.tidy(() => data.yTrain.argMax(-1));

  const trainStep = async (batch: number[], random: () => number) => {
    const indices = tf.tensor1d(batch, 'int32');
    const ys = tf.gather(data.yTrain, indices);
    const xs = tf.tidy(() => {
      const x = tf.gather(data.xTrain, indices);
      return options.augment ? options.augment(x, random) : x;
    });
    const kept: { yPred?: Tensor; loss?: Tensor } = {};
    const { value, grads } = tf.variableGrads(() => {
      const yPred = model.apply(xs, { training: true }) as Tensor;
      kept.yPred = tf.keep(yPred);
      // The per-sample loss once: its sum is the metric, and (for losses that allow it) the
      // objective is computed from it.
      const perSample = loss.perSample(ys, yPred);
      kept.loss = tf.keep(perSample.sum());
      const regularisation = model.calculateLosses();
      const objective = loss.minimiseFromPerSample
        ? loss.minimiseFromPerSample(perSample)
        : loss.minimise(ys, yPred);
      return regularisation.length
        ? (tf.addN([objective, ...regularisation]) as Scalar)
        : objective;
    }, variables);
    const bodyGrads: NamedTensorMap = {};
    const headGrads: NamedTensorMap = {};
    for (const [name, grad] of Object.entries(grads)) {
      (headOptimizer && headVariables.has(name) ? headGrads : bodyGrads)[name] = grad;
    }
    applyGradients(bodyOptimizer, bodyGrads);
    if (headOptimizer && Object.keys(headGrads).length) applyGradients(headOptimizer, headGrads);
    // Accuracy outside the gradient tape (nothing to differentiate there).
    const hitCount = tf.tidy(() =>
      (kept.yPred as Tensor).argMax(-1).equal(tf.gather(trainClasses, indices)).sum(),
    );
    const [hits, lossSum] = await Promise.all([hitCount.data(), kept.loss?.data()]);
    tf.dispose([indices, xs, ys, value, kept.yPred, kept.loss, hitCount, ...Object.values(grads)]);
    return { hits: hits[0] ?? 0, loss: lossSum?.[0] ?? 0 };
  };

  const higherIsBetter = options.objective === 'val_accuracy';
  const patience = effectivePatience(options, n);
  // A refit has no validation split: it trains every epoch and keeps the last one's weights.
  const validated = data.xVal.shape[0] > 0;
  const epochs: EpochMetrics[] = [];
  let best: { epoch: number; value: number; valLoss: number; weights: Tensor[] } | null = null;
  let sinceBest = 0;
  let stoppedEarly = false;
  let first = 0;
  try {
    const resumed = await options.checkpoints?.restore({ model, optimizers });
    if (resumed) {
      epochs.push(...resumed.epochs);
      best = {
        epoch: resumed.bestEpoch,
        value: resumed.bestValue,
        valLoss: resumed.epochs[resumed.bestEpoch]?.valLoss ?? Number.POSITIVE_INFINITY,
        weights: resumed.bestWeights,
      };
      sinceBest = resumed.sinceBest;
      first = resumed.epoch + 1;
      if (sinceBest > 0 && sinceBest >= patience) {
        // The interrupted attempt had already decided to stop after its last epoch.
        stoppedEarly = resumed.epoch < options.epochs - 1;
        first = options.epochs;
      }
    }
    for (let epoch = first; epoch < options.epochs; epoch++) {
      const started = performance.now();
      const random = mulberry32((options.seed ?? 0) ^ Math.imul(epoch + 1, 0x9e3779b1));
      const order = shuffleInPlace(
        Array.from({ length: n }, (_, i) => i),
        random,
      );
      let hits = 0;
      let lossSum = 0;
      for (let start = 0; start < n; start += options.batchSize) {
        decay.atStep(epoch * Math.ceil(n / options.batchSize) + start / options.batchSize);
        const step = await trainStep(order.slice(start, start + options.batchSize), random);
        hits += step.hits;
        lossSum += step.loss;
      }
      const val = validated
        ? await evaluateSplit(tf, model, data.xVal, data.yVal, loss)
        : { loss: null, accuracy: null };
      const metrics: EpochMetrics = {
        epoch,
        loss: lossSum / n,
        accuracy: hits / n,
        valLoss: val.loss,
        valAccuracy: val.accuracy,
        durationMs: Math.round(performance.now() - started),
        numTensors: 0,
      };
      const value = !validated
        ? metrics.accuracy
        : ((higherIsBetter ? metrics.valAccuracy : metrics.valLoss) ?? Number.NaN);
      if (!Number.isFinite(value) || !Number.isFinite(metrics.loss)) {
        throw new Error(
          `epoch ${epoch}: ${validated ? options.objective : 'accuracy'} is ${value}, loss ${metrics.loss} (training diverged)`,
        );
      }
      if (!validated) {
        // No validation: every epoch is the latest, the model's own weights are the ones kept.
        if (best) tf.dispose(best.weights);
        best = { epoch, value, valLoss: Number.POSITIVE_INFINITY, weights: [] };
      } else if (!best || improves(options.objective, metrics, best)) {
        const weights = model.getWeights().map((w) => w.clone());
        if (best) tf.dispose(best.weights);
        best = { epoch, value, valLoss: metrics.valLoss ?? Number.NaN, weights };
        sinceBest = 0;
      } else {
        sinceBest++;
      }
      metrics.numTensors = tf.memory().numTensors;
      epochs.push(metrics);
      const kept: { epoch: number; value: number; valLoss: number; weights: Tensor[] } = best;
      await options.checkpoints?.save(
        { epoch, epochs, bestEpoch: kept.epoch, bestValue: kept.value, sinceBest },
        { model, optimizers, bestWeights: kept.epoch === epoch ? undefined : kept.weights },
      );
      await options.onEpoch?.(metrics);
      if (sinceBest > 0 && sinceBest >= patience) {
        stoppedEarly = epoch < options.epochs - 1;
        break;
      }
    }
    if (!best) throw new Error('no epoch was trained');
    if (validated) model.setWeights(best.weights);
    return { epochs, bestEpoch: best.epoch, objective: best.value, stoppedEarly };
  } finally {
    decay.restore();
    if (best) tf.dispose(best.weights);
    trainClasses.dispose();
    headOptimizer?.dispose();
  }
}

/** An optimizer's learning rate, which tfjs-core's optimizers read at every step. */
type WithLearningRate = { learningRate: number };

/**
 * `finalDecay`'s schedule over the optimizers: `atStep(s)` sets each one's learning rate for
 * global step s (0-based over all epochs), `restore()` puts the original rates back.
 */
export function finalDecaySchedule(
  options: Pick<TrainOptions, 'epochs' | 'batchSize' | 'finalDecay'>,
  trainingImages: number,
  optimizers: readonly (Optimizer | undefined)[],
): { atStep(step: number): void; restore(): void } {
  const fraction = options.finalDecay ?? 0;
  if (!(fraction >= 0 && fraction <= 1)) {
    throw new Error(`finalDecay must be between 0 and 1, got ${options.finalDecay}`);
  }
  const total = options.epochs * Math.ceil(trainingImages / options.batchSize);
  const decaying = Math.round(fraction * total);
  const present = optimizers.filter((o): o is Optimizer => o !== undefined);
  const base = present.map((o) => (o as unknown as WithLearningRate).learningRate);
  const set = (factor: number) =>
    present.forEach((o, i) => {
      (o as unknown as WithLearningRate).learningRate = base[i] * factor;
    });
  return {
    atStep(step) {
      if (decaying === 0) return;
      const left = total - step; // this step and the ones after it
      set(left <= decaying ? left / (decaying + 1) : 1);
    },
    restore() {
      if (decaying > 0) set(1);
    },
  };
}

/**
 * The patience in epochs training uses: `patience`, raised to cover `patienceSteps` optimizer
 * steps at this training-set size and batch size.
 */
export function effectivePatience(
  options: Pick<TrainOptions, 'patience' | 'patienceSteps' | 'batchSize'>,
  trainingImages: number,
): number {
  const stepsPerEpoch = Math.max(1, Math.ceil(trainingImages / options.batchSize));
  return Math.max(options.patience, Math.ceil((options.patienceSteps ?? 0) / stepsPerEpoch));
}

/**
 * Whether an epoch beats the best so far. On validation accuracy, an equal accuracy with a lower
 * validation loss counts: a small validation fold's accuracy moves in coarse steps (3 points on
 * 33 images) and ties are common, while its loss still shows progress.
 */
function improves(
  objective: TrainOptions['objective'],
  metrics: EpochMetrics,
  best: { value: number; valLoss: number },
): boolean {
  const valLoss = metrics.valLoss ?? Number.NaN;
  const valAccuracy = metrics.valAccuracy ?? Number.NaN;
  if (objective === 'val_loss') return valLoss < best.value;
  return valAccuracy > best.value || (valAccuracy === best.value && valLoss < best.valLoss);
}

/**
 * Mean loss and accuracy (argmax) of `model` in inference mode on xs/ys, in batches.
 */
export async function evaluateSplit(
  tf: Tf,
  model: LayersModel,
  xs: Tensor,
  ys: Tensor,
  loss: TrainingLoss,
): Promise<{ loss: number; accuracy: number }> {
  const n = xs.shape[0];
  let hits = 0;
  let lossSum = 0;
  for (let start = 0; start < n; start += EVAL_BATCH) {
    const size = Math.min(EVAL_BATCH, n - start);
    const [h, l] = tf.tidy(() => {
      const y = ys.slice(start, size);
      const p = model.predict(xs.slice(start, size)) as Tensor;
      return [p.argMax(-1).equal(y.argMax(-1)).sum(), loss.perSample(y, p).sum()];
    });
    const [hv, lv] = await Promise.all([h.data(), l.data()]);
    hits += hv[0];
    lossSum += lv[0];
    tf.dispose([h, l]);
  }
  return { loss: n ? lossSum / n : Number.NaN, accuracy: n ? hits / n : Number.NaN };
}
