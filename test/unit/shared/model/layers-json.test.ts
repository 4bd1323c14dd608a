import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import {
  LayersModelFormatError,
  summarizeLayersModel,
} from '../../../../shared/model/layers-json.js';

type Json = Record<string, unknown>;

const kernel = (name: string, shape: number[]) => ({ name, shape, dtype: 'float32' });

/** A layer as tfjs-layers writes it: class_name + config (with name). */
const layer = (className: string, config: Json) => ({ class_name: className, config });

/** A model.json as tf.LayersModel.save / tensorflowjs_converter write it around a topology. */
function modelJson(modelTopology: Json, extra: Json = {}): Json {
  return {
    format: 'layers-model',
    generatedBy: 'TensorFlow.js tfjs-layers v4.22.0',
    convertedBy: null,
    modelTopology,
    weightsManifest: [
      {
        paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'],
        weights: [kernel('conv1/kernel', [3, 3, 1, 8]), kernel('conv1/bias', [8])],
      },
      { paths: ['group2-shard1of1.bin'], weights: [kernel('head/kernel', [64, 10])] },
    ],
    ...extra,
  };
}

/** A Sequential CNN for 28x28x1 images ending in a 10-way Dense softmax. */
function sequentialTopology(head: Json[] = [denseSoftmax('head', 10)]): Json {
  return {
    class_name: 'Sequential',
    config: {
      name: 'sequential_1',
      layers: [
        layer('Conv2D', {
          name: 'conv1',
          filters: 8,
          kernel_size: [3, 3],
          strides: [1, 1],
          padding: 'valid',
          data_format: 'channels_last',
          activation: 'relu',
          use_bias: true,
          trainable: true,
          batch_input_shape: [null, 28, 28, 1],
          dtype: 'float32',
        }),
        layer('MaxPooling2D', { name: 'pool1', pool_size: [2, 2], trainable: true }),
        layer('Flatten', { name: 'flatten', trainable: true }),
        layer('Dense', { name: 'dense1', units: 64, activation: 'relu', trainable: true }),
        ...head,
      ],
    },
    keras_version: 'tfjs-layers 4.22.0',
    backend: 'tensor_flow.js',
  };
}

function denseSoftmax(name: string, units: number): Json {
  return layer('Dense', { name, units, activation: 'softmax', use_bias: true, trainable: true });
}

/** A functional model ("Model"/"Functional") whose first layer is an InputLayer. */
function functionalTopology(className = 'Model'): Json {
  const node = (from: string) => [[[from, 0, 0, {}]]];
  return {
    class_name: className,
    config: {
      name: 'model1',
      layers: [
        {
          name: 'image',
          class_name: 'InputLayer',
          config: {
            batch_input_shape: [null, 32, 32, 3],
            dtype: 'float32',
            sparse: false,
            name: 'image',
          },
          inbound_nodes: [],
        },
        {
          name: 'conv',
          class_name: 'Conv2D',
          config: { name: 'conv', filters: 4, kernel_size: [3, 3], activation: 'relu' },
          inbound_nodes: node('image'),
        },
        {
          name: 'gap',
          class_name: 'GlobalAveragePooling2D',
          config: { name: 'gap' },
          inbound_nodes: node('conv'),
        },
        {
          name: 'logits',
          class_name: 'Dense',
          config: { name: 'logits', units: 4, activation: 'linear' },
          inbound_nodes: node('gap'),
        },
        {
          name: 'probs',
          class_name: 'Activation',
          config: { name: 'probs', activation: 'softmax' },
          inbound_nodes: node('logits'),
        },
      ],
      input_layers: [['image', 0, 0]],
      output_layers: [['probs', 0, 0]],
    },
    keras_version: 'tfjs-layers 4.22.0',
    backend: 'tensor_flow.js',
  };
}

/** The LayersModelFormatError summarizeLayersModel(json) throws. */
function formatError(json: unknown): LayersModelFormatError {
  try {
    summarizeLayersModel(json);
  } catch (err) {
    if (err instanceof LayersModelFormatError) return err;
    throw err;
  }
  throw new Error('expected summarizeLayersModel to throw');
}

const withFirstLayerConfig = (patch: Json): Json => {
  const topology = sequentialTopology();
  const layers = (topology.config as { layers: { config: Json }[] }).layers;
  layers[0].config = { ...layers[0].config, ...patch };
  return modelJson(topology);
};

describe('summarizeLayersModel()', () => {
  it('summarizes a Sequential model ending in a Dense softmax', () => {
    // Prepare
    const json = modelJson(sequentialTopology());

    // Act
    const summary = summarizeLayersModel(json);

    // Assess
    expect(summary).toEqual({
      inputShape: [28, 28, 1],
      baseLayers: [
        { name: 'conv1', className: 'Conv2D' },
        { name: 'pool1', className: 'MaxPooling2D' },
        { name: 'flatten', className: 'Flatten' },
        { name: 'dense1', className: 'Dense' },
      ],
      headLayers: [{ name: 'head', className: 'Dense' }],
      numClasses: 10,
      weightPaths: ['group1-shard1of2.bin', 'group1-shard2of2.bin', 'group2-shard1of1.bin'],
      weightGroups: [
        { paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], bytes: (72 + 8) * 4 },
        { paths: ['group2-shard1of1.bin'], bytes: 640 * 4 },
      ],
    });
  });

  it.each([
    {
      what: 'a float64 weight',
      weights: [{ name: 'w', shape: [2], dtype: 'float64' }],
      message: /weight 'w' has dtype 'float64'.*re-save the model/,
    },
    {
      what: 'a string weight',
      weights: [{ name: 'w', shape: [2], dtype: 'string' }],
      message: /dtype 'string'/,
    },
    {
      what: 'a weight without a shape',
      weights: [{ name: 'w', dtype: 'float32' }],
      message: /weight 'w' has no valid shape/,
    },
  ])('rejects $what in the weightsManifest', ({ weights, message }) => {
    const json = modelJson(sequentialTopology(), {
      weightsManifest: [{ paths: ['a.bin'], weights }],
    });
    expect(formatError(json).message).toMatch(message);
  });

  it('counts quantized weights by their quantization dtype', () => {
    const json = modelJson(sequentialTopology(), {
      weightsManifest: [
        {
          paths: ['a.bin'],
          weights: [{ name: 'w', shape: [10], dtype: 'float32', quantization: { dtype: 'uint8' } }],
        },
      ],
    });
    expect(summarizeLayersModel(json).weightGroups).toEqual([{ paths: ['a.bin'], bytes: 10 }]);
  });

  it('refuses an input shape of 50000x50000, naming the largest side it takes', () => {
    const json = withFirstLayerConfig({ batch_input_shape: [null, 50000, 50000, 1] });
    expect(formatError(json).message).toMatch(
      /\[50000,50000,1\] is too large.*at most 4096 pixels/,
    );
  });

  it('summarizes a functional model, leaving the InputLayer out of the base', () => {
    // Prepare
    const json = modelJson(functionalTopology());

    // Act
    const summary = summarizeLayersModel(json);

    // Assess
    expect(summary.inputShape).toEqual([32, 32, 3]);
    expect(summary.baseLayers).toEqual([
      { name: 'conv', className: 'Conv2D' },
      { name: 'gap', className: 'GlobalAveragePooling2D' },
    ]);
    expect(summary.numClasses).toBe(4);
  });

  it('takes Dense + Activation(softmax) as a two-layer head with the Dense units as classes', () => {
    // Prepare
    const head = [
      layer('Dense', { name: 'logits', units: 5, activation: 'linear' }),
      layer('Activation', { name: 'softmax', activation: 'softmax' }),
    ];
    const json = modelJson(sequentialTopology(head));

    // Act
    const summary = summarizeLayersModel(json);

    // Assess
    expect(summary.headLayers).toEqual([
      { name: 'logits', className: 'Dense' },
      { name: 'softmax', className: 'Activation' },
    ]);
    expect(summary.numClasses).toBe(5);
    expect(summary.baseLayers.map((l) => l.name)).toEqual(['conv1', 'pool1', 'flatten', 'dense1']);
  });

  it('reads Keras-converter layouts: model_config wrapper and a bare layer array', () => {
    // Prepare
    const sequential = sequentialTopology();
    const layers = (sequential.config as { layers: unknown[] }).layers;
    const wrapped = modelJson({
      keras_version: '2.15.0',
      backend: 'tensorflow',
      model_config: { class_name: 'Functional', config: functionalTopology().config },
    });
    const bareArray = modelJson({ class_name: 'Sequential', config: layers });

    // Act
    const fromWrapped = summarizeLayersModel(wrapped);
    const fromArray = summarizeLayersModel(bareArray);

    // Assess
    expect(fromWrapped.inputShape).toEqual([32, 32, 3]);
    expect(fromWrapped.numClasses).toBe(4);
    expect(fromArray.inputShape).toEqual([28, 28, 1]);
    expect(fromArray.baseLayers).toHaveLength(4);
  });

  it('accepts a model.json without a format field and a camelCase batchInputShape', () => {
    // Prepare
    const json = withFirstLayerConfig({
      batch_input_shape: undefined,
      batchInputShape: [null, 8, 8, 3],
    });
    delete json.format;

    // Act
    const summary = summarizeLayersModel(json);

    // Assess
    expect(summary.inputShape).toEqual([8, 8, 3]);
  });

  it('rejects a graph model (format graph-model, GraphDef topology), pointing at layers models', () => {
    // Prepare
    const json = {
      format: 'graph-model',
      generatedBy: '2.15.0',
      convertedBy: 'TensorFlow.js Converter v4.22.0',
      modelTopology: { node: [{ name: 'x', op: 'Placeholder' }], library: {}, versions: {} },
      weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: [] }],
    };

    // Act
    const err = formatError(json);

    // Assess
    expect(err.name).toBe('LayersModelFormatError');
    expect(err.message).toContain("'graph-model'");
    expect(err.message).toMatch(/layers[- ]model/);
  });

  it.each([
    {
      what: 'a graph model without modelTopology',
      json: { format: 'graph-model', weightsManifest: [] },
    },
    { what: 'an empty object', json: {} },
    { what: 'null', json: null },
    { what: 'an array', json: [sequentialTopology()] },
    { what: 'a bare topology (not wrapped in model.json)', json: sequentialTopology() },
  ])('rejects $what as not a layers model', ({ json }) => {
    // Prepare / Act
    const err = formatError(json);

    // Assess
    expect(err.message).toMatch(/not a tfjs layers model/);
    expect(err.message).toContain('tfjs_layers_model');
  });

  it('rejects a last layer that is not a softmax classifier, naming it', () => {
    // Prepare
    const json = modelJson(
      sequentialTopology([layer('Dense', { name: 'regressor', units: 1, activation: 'linear' })]),
    );

    // Act
    const err = formatError(json);

    // Assess
    expect(err.message).toContain("last layer 'regressor' (Dense, activation linear)");
    expect(err.message).toContain('softmax');
  });

  it('rejects an Activation(softmax) head that does not follow a Dense layer', () => {
    // Prepare
    const json = modelJson(
      sequentialTopology([
        layer('Dense', { name: 'd', units: 3, activation: 'relu' }),
        layer('Flatten', { name: 'f' }),
        layer('Activation', { name: 'act', activation: 'softmax' }),
      ]),
    );

    // Act
    const err = formatError(json);

    // Assess
    expect(err.message).toContain("last layer 'act'");
  });

  it.each([
    { shape: [null, 784], why: 'flat vector' },
    { shape: [null, 28, 28], why: 'no channel axis' },
    { shape: [null, 28, 28, 2], why: '2 channels' },
    { shape: [null, 28, 28, 4], why: '4 channels' },
    { shape: [null, null, null, 3], why: 'variable size' },
    { shape: [null, 0, 28, 1], why: 'zero height' },
    { shape: [null, 1, 28, 28, 1], why: 'a volume' },
  ])('rejects input shape $shape ($why) as not an image shape', ({ shape }) => {
    // Prepare
    const json = withFirstLayerConfig({ batch_input_shape: shape });

    // Act
    const err = formatError(json);

    // Assess
    expect(err.message).toContain(`input shape ${JSON.stringify(shape.slice(1))}`);
    expect(err.message).toContain('is not an image shape');
  });

  it('rejects a model with no batch_input_shape anywhere', () => {
    // Prepare
    const json = withFirstLayerConfig({ batch_input_shape: undefined });

    // Act
    const err = formatError(json);

    // Assess
    expect(err.message).toMatch(/^input shape undefined is not an image shape/);
  });

  it.each([
    {
      what: 'no weightsManifest',
      extra: { weightsManifest: undefined },
      message: /no weightsManifest/,
    },
    {
      what: 'a weightsManifest object',
      extra: { weightsManifest: {} },
      message: /no weightsManifest/,
    },
    {
      what: 'an entry without paths',
      extra: { weightsManifest: [{ paths: ['a.bin'] }, { weights: [] }] },
      message: /weightsManifest entry without paths/,
    },
  ])('rejects a model.json with $what', ({ extra, message }) => {
    // Prepare
    const json = modelJson(sequentialTopology(), extra);

    // Act
    const err = formatError(json);

    // Assess
    expect(err.message).toMatch(message);
  });

  it.each([
    { what: 'an empty layer list', topology: { class_name: 'Sequential', config: { layers: [] } } },
    { what: 'no config', topology: { class_name: 'Sequential' } },
  ])('rejects a topology with $what as listing no layers', ({ topology }) => {
    // Prepare
    const json = modelJson(topology);

    // Act
    const err = formatError(json);

    // Assess
    expect(err.message).toBe('modelTopology (Sequential) lists no layers');
  });

  it('rejects a layer without config, giving its position', () => {
    // Prepare
    const topology = sequentialTopology();
    (topology.config as { layers: unknown[] }).layers.splice(2, 0, { class_name: 'Dropout' });

    // Act
    const err = formatError(modelJson(topology));

    // Assess
    expect(err.message).toBe('layer 2 has no config');
  });

  // A model whose only layer is its InputLayer has no head at all: the documented contract is a
  // LayersModelFormatError (which the model importer turns into a 400 on `baseModel`), but
  // `body[body.length - 1]` is undefined and reading `.className` throws a TypeError instead.
  it('rejects a model with nothing but an InputLayer as a format error', () => {
    // Prepare
    const topology = functionalTopology();
    const config = topology.config as { layers: unknown[] };
    config.layers = config.layers.slice(0, 1);

    // Act
    const act = () => summarizeLayersModel(modelJson(topology));

    // Assess
    expect(act).toThrow(LayersModelFormatError);
  });
});

describe('summarizeLayersModel() on model.json written by @tensorflow/tfjs', () => {
  /** Saves `model` through a capturing handler and builds the model.json tfjs would write. */
  async function savedModelJson(model: tf.LayersModel): Promise<unknown> {
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    if (!artifacts) throw new Error('save handler was not called');
    const json = {
      modelTopology: artifacts.modelTopology,
      format: artifacts.format ?? 'layers-model',
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy ?? null,
      weightsManifest: [{ paths: ['./weights.bin'], weights: artifacts.weightSpecs }],
    };
    // Round-trip through text, as the importer reads it from a file.
    return JSON.parse(JSON.stringify(json));
  }

  it('matches a real Sequential CNN: input shape, base layer names and class count', async () => {
    // Prepare
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: [12, 10, 1],
          filters: 2,
          kernelSize: 3,
          activation: 'relu',
          name: 'c1',
        }),
        tf.layers.maxPooling2d({ poolSize: 2, name: 'p1' }),
        tf.layers.flatten({ name: 'flat' }),
        tf.layers.dense({ units: 6, activation: 'relu', name: 'd1' }),
        tf.layers.dense({ units: 7, activation: 'softmax', name: 'out' }),
      ],
    });
    const json = await savedModelJson(model);

    // Act
    const summary = summarizeLayersModel(json);

    // Assess
    expect(summary.inputShape).toEqual(model.inputs[0].shape.slice(1));
    expect(summary.baseLayers).toEqual([
      { name: 'c1', className: 'Conv2D' },
      { name: 'p1', className: 'MaxPooling2D' },
      { name: 'flat', className: 'Flatten' },
      { name: 'd1', className: 'Dense' },
    ]);
    expect(summary.headLayers).toEqual([{ name: 'out', className: 'Dense' }]);
    expect(summary.numClasses).toBe(model.outputs[0].shape[1]);
    expect(summary.weightPaths).toEqual(['./weights.bin']);
    model.dispose();
  });

  it('matches a real functional model with an InputLayer and a Dense + Activation head', async () => {
    // Prepare
    const input = tf.input({ shape: [9, 9, 3], name: 'pixels' });
    const conv = tf.layers
      .conv2d({ filters: 2, kernelSize: 3, name: 'conv' })
      .apply(input) as tf.SymbolicTensor;
    const flat = tf.layers.flatten({ name: 'flat' }).apply(conv) as tf.SymbolicTensor;
    const logits = tf.layers.dense({ units: 3, name: 'logits' }).apply(flat) as tf.SymbolicTensor;
    const probs = tf.layers
      .activation({ activation: 'softmax', name: 'probs' })
      .apply(logits) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: probs });
    const json = await savedModelJson(model);

    // Act
    const summary = summarizeLayersModel(json);

    // Assess
    expect(model.layers.map((l) => l.name)).toEqual(['pixels', 'conv', 'flat', 'logits', 'probs']);
    expect(summary.inputShape).toEqual([9, 9, 3]);
    expect(summary.baseLayers.map((l) => l.name)).toEqual(['conv', 'flat']);
    expect(summary.headLayers.map((l) => l.name)).toEqual(['logits', 'probs']);
    expect(summary.numClasses).toBe(3);
    model.dispose();
  });

  it('rejects a real model whose last layer is not a softmax', async () => {
    // Prepare
    const model = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [4, 4, 1], name: 'flat' }),
        tf.layers.dense({ units: 2, activation: 'sigmoid', name: 'sig' }),
      ],
    });
    const json = await savedModelJson(model);

    // Act
    const err = formatError(json);

    // Assess
    expect(err.message).toContain("last layer 'sig' (Dense, activation sigmoid)");
    model.dispose();
  });
});
