import type { EpochMetrics } from '../shared/schemas/trial-result.js';
import type { LayersModel, Tensor, Tf } from './tf.js';

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  patience: number;
  objective: 'val_accuracy' | 'val_loss';
  onEpoch?: (metrics: EpochMetrics) => void | Promise<void>;
}

export interface TrainOutcome {
  epochs: EpochMetrics[];
  bestEpoch: number;
  objective: number;
  stoppedEarly: boolean;
}

const num = (v: unknown) => (typeof v === 'number' ? v : Number(v));

/**
 * Trains epoch by epoch with early stopping on the validation objective and restores the best
 * epoch's weights at the end. Tensor count stays flat: one copy of the best weights is kept and
 * the previous copy disposed whenever it improves.
 *
 * @param data xs [n, H, W, C] float32 in [0, 1], ys [n, numClasses] one-hot; both splits
 */
export async function trainWithEarlyStopping(
  tf: Tf,
  model: LayersModel,
  data: { xTrain: Tensor; yTrain: Tensor; xVal: Tensor; yVal: Tensor },
  options: TrainOptions,
): Promise<TrainOutcome> {
  const higherIsBetter = options.objective === 'val_accuracy';
  const epochs: EpochMetrics[] = [];
  let best: { epoch: number; value: number; weights: Tensor[] } | null = null;
  let sinceBest = 0;
  let stoppedEarly = false;
  try {
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      const started = performance.now();
      const history = await model.fit(data.xTrain, data.yTrain, {
        epochs: 1,
        batchSize: options.batchSize,
        shuffle: true,
        verbose: 0,
        validationData: [data.xVal, data.yVal],
      });
      const h = history.history;
      const metrics: EpochMetrics = {
        epoch,
        loss: num(h.loss?.[0]),
        accuracy: num((h.acc ?? h.accuracy)?.[0]),
        valLoss: num(h.val_loss?.[0]),
        valAccuracy: num((h.val_acc ?? h.val_accuracy)?.[0]),
        durationMs: Math.round(performance.now() - started),
        numTensors: 0,
      };
      const value = higherIsBetter ? metrics.valAccuracy : metrics.valLoss;
      if (!Number.isFinite(value)) {
        throw new Error(`epoch ${epoch}: ${options.objective} is ${value} (training diverged)`);
      }
      const improved = !best || (higherIsBetter ? value > best.value : value < best.value);
      if (improved) {
        const weights = model.getWeights().map((w) => w.clone());
        if (best) tf.dispose(best.weights);
        best = { epoch, value, weights };
        sinceBest = 0;
      } else {
        sinceBest++;
      }
      metrics.numTensors = tf.memory().numTensors;
      epochs.push(metrics);
      await options.onEpoch?.(metrics);
      if (sinceBest > 0 && sinceBest >= options.patience) {
        stoppedEarly = epoch < options.epochs - 1;
        break;
      }
    }
    if (!best) throw new Error('no epoch was trained');
    model.setWeights(best.weights);
    return { epochs, bestEpoch: best.epoch, objective: best.value, stoppedEarly };
  } finally {
    if (best) tf.dispose(best.weights);
  }
}
