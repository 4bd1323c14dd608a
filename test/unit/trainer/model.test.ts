import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../trainer/backend.js';
import {
  baseLayers,
  buildFineTuneModel,
  buildHeadModel,
  copyHeadWeights,
  featureExtractor,
  freezeLayers,
  headStart,
  outputKind,
  reinitialized,
  releaseModels,
} from '../../../trainer/model.js';
import type { Tensor, Tf } from '../../../trainer/tf.js';
import { trainWithEarlyStopping } from '../../../trainer/train.js';
import { tinyBnCnn, tinyCnn } from '../../helpers/tiny-model.js';

type SymbolicTensor = import('@tensorflow/tfjs').SymbolicTensor;

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

describe('buildFineTuneModel() with a cut layer and head options', () => {
  it('cuts at the named layer and counts freezeDepth up to it', () => {
    // Prepare
    const base = tinyCnn(tf, 5);

    // Act
    const model = buildFineTuneModel(tf, base, {
      strategy: 'finetune',
      numClasses: 3,
      freezeDepth: 4,
      learningRate: 0.01,
      cutLayer: 'gap',
    });

    // Assess
    const names = model.layers.map((l) => l.name);
    expect(names).not.toContain('fc1');
    expect(names.slice(-2)).toEqual(['gap', 'foldsweep_head']);
    expect(model.layers.filter((l) => l.trainable).map((l) => l.name)).toEqual(['foldsweep_head']);
    releaseModels(model, base);
  });

  it('flattens a spatial cut output and adds the hidden layer and dropout', () => {
    // Prepare
    const base = tinyCnn(tf, 5);

    // Act
    const model = buildFineTuneModel(tf, base, {
      strategy: 'finetune',
      numClasses: 3,
      freezeDepth: 0,
      learningRate: 0.01,
      cutLayer: 'pool1',
      hiddenUnits: 7,
      dropout: 0.5,
    });

    // Assess
    const tail = model.layers.slice(-4);
    expect(tail.map((l) => [l.name, l.getClassName()])).toEqual([
      ['foldsweep_head_flatten', 'Flatten'],
      ['foldsweep_head_hidden', 'Dense'],
      ['foldsweep_head_dropout', 'Dropout'],
      ['foldsweep_head', 'Dense'],
    ]);
    expect(tail[1].outputShape).toEqual([null, 7]);
    expect(model.outputs[0].shape).toEqual([null, 3]);
    releaseModels(model, base);
  });

  it('rejects a cut layer the base does not have, listing the ones it has', () => {
    // Prepare
    const base = tinyCnn(tf, 5);

    // Act
    const act = () =>
      buildFineTuneModel(tf, base, {
        strategy: 'finetune',
        numClasses: 3,
        freezeDepth: 0,
        learningRate: 0.01,
        cutLayer: 'predictions',
      });

    // Assess
    expect(act).toThrow(
      /'predictions' is not one of the base layers \(conv1, pool1, conv2, gap, fc1\)/,
    );
    base.dispose();
  });

  it('builds a linear head whose outputs are scores, seeded heads alike', () => {
    // Prepare
    const options = {
      strategy: 'bottleneck-linear' as const,
      numClasses: 3,
      freezeDepth: 5,
      learningRate: 0.01,
      output: 'linear' as const,
      init: 42,
    };
    const a = tinyCnn(tf, 5);
    const b = tinyCnn(tf, 5);

    // Act
    const first = buildFineTuneModel(tf, a, options);
    const second = buildFineTuneModel(tf, b, options);

    // Assess
    expect(outputKind(first)).toBe('scores');
    expect(first.getLayer('foldsweep_head').getWeights()[0].arraySync()).toEqual(
      second.getLayer('foldsweep_head').getWeights()[0].arraySync(),
    );
    expect(
      outputKind(buildFineTuneModel(tf, tinyCnn(tf, 5), { ...options, output: 'softmax' })),
    ).toBe('probabilities');
    releaseModels(first, second, a, b);
  });
});

describe('freezeLayers()', () => {
  /** [moving mean, moving variance, bn1 output on x in training mode, in inference mode]. */
  function bnState(model: import('@tensorflow/tfjs').LayersModel, x: Tensor) {
    const bn = model.getLayer('bn1');
    const [, , mean, variance] = bn.getWeights().map((w) => w.arraySync());
    const probe = tf.model({ inputs: model.inputs, outputs: bn.output as SymbolicTensor });
    const training = (probe.apply(x, { training: true }) as Tensor).arraySync();
    const inference = (probe.predict(x) as Tensor).arraySync();
    return { mean, variance, training, inference };
  }

  async function oneStep(model: import('@tensorflow/tfjs').LayersModel) {
    const xs = tf.randomUniform([8, 8, 8, 1], 0, 1, 'float32', 3);
    const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3).toFloat();
    await trainWithEarlyStopping(
      tf,
      model,
      { xTrain: xs, yTrain: ys, xVal: xs, yVal: ys },
      { epochs: 1, batchSize: 8, patience: 1, objective: 'val_loss' },
    );
    tf.dispose([xs, ys]);
  }

  it('runs a frozen BatchNormalization on its moving statistics and keeps them', async () => {
    // Prepare
    const base = tinyBnCnn(tf, 5);
    const model = buildFineTuneModel(tf, base, {
      strategy: 'finetune',
      numClasses: 3,
      freezeDepth: 2, // conv1, bn1
      learningRate: 0.05,
    });
    const x = tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 9);
    const before = bnState(model, x);

    // Act
    await oneStep(model);

    // Assess
    const after = bnState(model, x);
    expect(after.mean).toEqual(before.mean);
    expect(after.variance).toEqual(before.variance);
    expect(after.training).toEqual(after.inference);
    expect(after.inference).toEqual(before.inference);
    tf.dispose(x);
    releaseModels(model, base);
  });

  it('leaves a trainable BatchNormalization on batch statistics, updating the moving ones', async () => {
    // Prepare: the same model with bn1 trainable (the control for the test above).
    const base = tinyBnCnn(tf, 5);
    const model = buildFineTuneModel(tf, base, {
      strategy: 'finetune',
      numClasses: 3,
      freezeDepth: 1, // conv1 only
      learningRate: 0.05,
    });
    const x = tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 9);
    const before = bnState(model, x);

    // Act
    await oneStep(model);

    // Assess
    const after = bnState(model, x);
    expect(after.mean).not.toEqual(before.mean);
    expect(after.training).not.toEqual(after.inference);
    tf.dispose(x);
    releaseModels(model, base);
  });

  it('restores training behaviour when a layer is unfrozen', () => {
    // Prepare
    const base = tinyBnCnn(tf, 5);
    const body = baseLayers(base);
    const x = tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 9);
    const probe = tf.model({
      inputs: base.inputs,
      outputs: base.getLayer('bn1').output as SymbolicTensor,
    });

    // Act
    freezeLayers(body, 2);
    const frozen = (probe.apply(x, { training: true }) as Tensor).arraySync();
    const inference = (probe.predict(x) as Tensor).arraySync();
    freezeLayers(body, 0);
    const thawed = (probe.apply(x, { training: true }) as Tensor).arraySync();

    // Assess
    expect(frozen).toEqual(inference);
    expect(thawed).not.toEqual(frozen);
    expect(body.every((l) => l.trainable)).toBe(true);
    tf.dispose(x);
    base.dispose();
  });
});

describe('buildHeadModel() / copyHeadWeights()', () => {
  it('trains a head alone on features and moves its weights onto the full model', () => {
    // Prepare
    const base = tinyCnn(tf, 5);
    const full = buildFineTuneModel(tf, base, {
      strategy: 'finetune',
      numClasses: 3,
      freezeDepth: 5,
      learningRate: 0.01,
      hiddenUnits: 4,
    });
    const head = buildHeadModel(tf, [8], { numClasses: 3, hiddenUnits: 4, learningRate: 0.01 });
    const x = tf.randomUniform([5, 8, 8, 1], 0, 1, 'float32', 1);
    const features = featureExtractor(tf, base).predict(x) as Tensor;

    // Act
    copyHeadWeights(head, full);

    // Assess
    expect((full.predict(x) as Tensor).arraySync()).toEqual(
      (head.predict(features) as Tensor).arraySync(),
    );
    tf.dispose([x, features]);
    releaseModels(full, head, base);
  });
});

describe('releaseModels()', () => {
  it('frees the weights of the base, the dropped head and the new model once', () => {
    // Prepare
    const before = tf.memory().numTensors;
    const base = tinyCnn(tf, 5);
    const model = buildFineTuneModel(tf, base, {
      strategy: 'finetune',
      numClasses: 3,
      freezeDepth: 0,
      learningRate: 0.01,
    });

    // Act
    releaseModels(model, base);

    // Assess
    expect(tf.memory().numTensors).toBe(before);
  });
});
