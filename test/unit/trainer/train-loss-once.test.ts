import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../trainer/backend.js';
import { buildFineTuneModel } from '../../../trainer/model.js';
import type { Tf } from '../../../trainer/tf.js';
import {
  crossEntropyLoss,
  type TrainingLoss,
  trainWithEarlyStopping,
} from '../../../trainer/train.js';
import { bandSplits, tinyCnn } from '../../helpers/tiny-model.js';

let tf: Tf;
beforeAll(async () => {
  tf = (await selectBackend({ prefer: 'wasm' })).tf;
});

const data = (n = 60) => bandSplits(tf, n);

function twins() {
  const make = () =>
    buildFineTuneModel(tf, tinyCnn(tf, 5), {
      strategy: 'finetune',
      numClasses: 3,
      freezeDepth: 0,
      learningRate: 0.02,
    });
  const a = make();
  const b = make();
  b.setWeights(a.getWeights());
  return [a, b];
}

/** crossEntropyLoss with call counters; `fromPerSample: false` hides minimiseFromPerSample. */
function counted(fromPerSample: boolean) {
  const inner = crossEntropyLoss(tf);
  const calls = { perSample: 0, minimise: 0, fromPerSample: 0 };
  const loss: TrainingLoss = {
    perSample: (y, p) => {
      calls.perSample++;
      return inner.perSample(y, p);
    },
    minimise: (y, p) => {
      calls.minimise++;
      return inner.minimise(y, p);
    },
  };
  if (fromPerSample) {
    loss.minimiseFromPerSample = (perSample) => {
      calls.fromPerSample++;
      return inner.minimiseFromPerSample?.(perSample) as ReturnType<TrainingLoss['minimise']>;
    };
  }
  return { loss, calls };
}

describe('trainWithEarlyStopping() loss per step', () => {
  it('computes the per-sample loss once per step and trains exactly as minimise would', async () => {
    // Prepare: 40 training samples, batch 10 -> 4 steps per epoch, 2 epochs.
    const d = data();
    const [a, b] = twins();
    const once = counted(true);
    const twice = counted(false);
    const options = { epochs: 2, batchSize: 10, patience: 5, objective: 'val_loss' as const };

    // Act
    const viaPerSample = await trainWithEarlyStopping(tf, a, d, { ...options, loss: once.loss });
    const viaMinimise = await trainWithEarlyStopping(tf, b, d, { ...options, loss: twice.loss });

    // Assess: the same metrics; one per-sample loss per training step on the new path (the rest
    // of the calls are validation batches, one per epoch), two on the old one.
    const metrics = (o: typeof viaPerSample) => o.epochs.map((e) => [e.loss, e.accuracy]);
    expect(metrics(viaPerSample)).toEqual(metrics(viaMinimise));
    expect(once.calls).toEqual({ perSample: 8 + 2, minimise: 0, fromPerSample: 8 });
    expect(twice.calls).toEqual({ perSample: 8 + 2, minimise: 8, fromPerSample: 0 });
    expect(a.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(
      b.getWeights().map((w) => Array.from(w.dataSync())),
    );
    a.dispose();
    b.dispose();
    tf.dispose(Object.values(d));
  });
});
