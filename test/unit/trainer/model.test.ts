import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../trainer/backend.js';
import {
  baseLayers,
  buildFineTuneModel,
  headStart,
  reinitialized,
} from '../../../trainer/model.js';
import type { Tf } from '../../../trainer/tf.js';
import { tinyCnn } from '../../helpers/tiny-model.js';

let tf: Tf;
beforeAll(async () => {
  tf = (await selectBackend({ prefer: 'wasm' })).tf;
});

describe('buildFineTuneModel()', () => {
  it('replaces the softmax head with one unit per new class', () => {
    const base = tinyCnn(tf, 5);
    const model = buildFineTuneModel(tf, base, {
      strategy: 'finetune',
      numClasses: 3,
      freezeDepth: 0,
      learningRate: 0.01,
    });
    expect(model.outputs[0].shape).toEqual([null, 3]);
    const last = model.layers[model.layers.length - 1];
    expect(last.name).toBe('foldsweep_head');
    expect((last.getConfig() as { activation: string }).activation).toBe('softmax');
    expect(model.layers.map((l) => l.name)).not.toContain('predictions');
    model.dispose();
  });

  it('freezes exactly the first freezeDepth base layers', () => {
    const base = tinyCnn(tf, 5);
    const model = buildFineTuneModel(tf, base, {
      strategy: 'finetune',
      numClasses: 3,
      freezeDepth: 2,
      learningRate: 0.01,
    });
    const trainable = Object.fromEntries(model.layers.map((l) => [l.name, l.trainable]));
    expect(trainable).toMatchObject({
      conv1: false,
      pool1: false,
      conv2: true,
      gap: true,
      fc1: true,
      foldsweep_head: true,
    });
    // conv1 kernel+bias are no longer trainable weights; conv2, fc1 and the head are (2 each).
    expect(model.trainableWeights.map((w) => w.originalName)).toHaveLength(6);
    model.dispose();
  });

  it('keeps frozen weights unchanged and trains the rest', async () => {
    const base = tinyCnn(tf, 5);
    const model = buildFineTuneModel(tf, base, {
      strategy: 'finetune',
      numClasses: 3,
      freezeDepth: 1,
      learningRate: 0.05,
    });
    const conv1Before = model.getLayer('conv1').getWeights()[0].arraySync();
    const fc1Before = model.getLayer('fc1').getWeights()[0].arraySync();
    const xs = tf.randomUniform([12, 8, 8, 1]);
    const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2], 'int32'), 3).toFloat();
    await model.fit(xs, ys, { epochs: 2, batchSize: 4, verbose: 0 });
    expect(model.getLayer('conv1').getWeights()[0].arraySync()).toEqual(conv1Before);
    expect(model.getLayer('fc1').getWeights()[0].arraySync()).not.toEqual(fc1Before);
    tf.dispose([xs, ys]);
    model.dispose();
  });

  it('compiles with the learning rate it is given', () => {
    const model = buildFineTuneModel(tf, tinyCnn(tf, 5), {
      strategy: 'finetune',
      numClasses: 3,
      freezeDepth: 0,
      learningRate: 0.0003,
    });
    expect((model.optimizer.getConfig() as { learningRate: number }).learningRate).toBeCloseTo(
      0.0003,
      10,
    );
    model.dispose();
  });

  it('rejects a freezeDepth beyond the layers below the head', () => {
    const base = tinyCnn(tf, 5);
    expect(() =>
      buildFineTuneModel(tf, base, {
        strategy: 'finetune',
        numClasses: 3,
        freezeDepth: 6,
        learningRate: 0.01,
      }),
    ).toThrow(/freezeDepth 6 exceeds the 5 layers/);
    base.dispose();
  });

  it('finds a Dense + Activation(softmax) head and refuses a model without softmax', () => {
    const input = tf.input({ shape: [8, 8, 1] });
    const flat = tf.layers.flatten().apply(input) as import('@tensorflow/tfjs').SymbolicTensor;
    const logits = tf.layers
      .dense({ units: 4, name: 'logits' })
      .apply(flat) as import('@tensorflow/tfjs').SymbolicTensor;
    const probs = tf.layers
      .activation({ activation: 'softmax', name: 'probs' })
      .apply(logits) as import('@tensorflow/tfjs').SymbolicTensor;
    const twoPart = tf.model({ inputs: input, outputs: probs });
    expect(twoPart.layers[headStart(twoPart)].name).toBe('logits');
    expect(baseLayers(twoPart).map((l) => l.name)).toHaveLength(1);
    const noSoftmax = tf.model({ inputs: input, outputs: logits });
    expect(() => headStart(noSoftmax)).toThrow(/not a softmax classifier/);
    twoPart.dispose();
  });
});

describe('reinitialized()', () => {
  it('copies the architecture with fresh weights', async () => {
    const base = tinyCnn(tf, 5);
    const fresh = await reinitialized(tf, base);
    expect(fresh.layers.map((l) => l.name)).toEqual(base.layers.map((l) => l.name));
    const a = base.getLayer('conv1').getWeights()[0].dataSync();
    const b = fresh.getLayer('conv1').getWeights()[0].dataSync();
    expect(Array.from(a)).not.toEqual(Array.from(b));
    base.dispose();
    fresh.dispose();
  });
});
