import type { ModelOutputs } from '../shared/schemas/champion.js';
import type { Strategy } from '../shared/schemas/sweep-spec.js';
import type { LayersModel, Tf } from './tf.js';

type Layer = import('@tensorflow/tfjs').layers.Layer;
type SymbolicTensor = import('@tensorflow/tfjs').SymbolicTensor;

/** Every layer surgery adds starts with this name; they train at the head learning rate. */
export const HEAD_PREFIX = 'foldsweep_head';
/** The new head's output layer. */
export const HEAD_OUTPUT = HEAD_PREFIX;

export interface HeadOptions {
  numClasses: number;
  /** A hidden Dense(relu) layer of this many units before the output layer. */
  hiddenUnits?: number;
  /** Dropout rate before the output layer. */
  dropout?: number;
  /** 'softmax' (default): class probabilities. 'linear': class scores (the SVM head). */
  output?: 'softmax' | 'linear';
  /** Seeds the new head's initial weights; 'zeros' starts every weight at 0 (convex heads). */
  init?: number | 'zeros';
}

export interface SurgeryOptions extends HeadOptions {
  strategy: Strategy;
  freezeDepth: number;
  /** Scratch learning rate x lrMultiplier: the body's rate, compiled into the model. */
  learningRate: number;
  /** Name of the last base layer kept; default: the layer just below the softmax head. */
  cutLayer?: string;
}

/** Index in `model.layers` of the first layer of the softmax head (Dense softmax, or Dense + Activation softmax). */
export function headStart(model: LayersModel): number {
  const layers = model.layers;
  const last = layers[layers.length - 1];
  const activation = (last.getConfig() as { activation?: unknown }).activation;
  if (last.getClassName() === 'Dense' && activation === 'softmax') return layers.length - 1;
  if (
    last.getClassName() === 'Activation' &&
    activation === 'softmax' &&
    layers[layers.length - 2]?.getClassName() === 'Dense'
  ) {
    return layers.length - 2;
  }
  throw new Error(
    `the model's last layer '${last.name}' is not a softmax classifier: cannot replace its head`,
  );
}

/**
 * The truncated base's layers in order (input layer excluded): what a cut layer names.
 */
export function baseLayers(model: LayersModel) {
  return model.layers.slice(0, headStart(model)).filter((l) => l.getClassName() !== 'InputLayer');
}

/**
 * The base layers up to and including the cut layer (default: all of baseLayers): the body that
 * freezeDepth counts.
 * @throws when cutLayer names no base layer
 */
export function bodyLayers(model: LayersModel, cutLayer?: string): Layer[] {
  const layers = baseLayers(model);
  if (layers.length === 0) throw new Error('the base model has no layers below its softmax head');
  const at =
    cutLayer === undefined ? layers.length - 1 : layers.findIndex((l) => l.name === cutLayer);
  if (at < 0) {
    throw new Error(
      `cut layer '${cutLayer}' is not one of the base layers (${layers.map((l) => l.name).join(', ')})`,
    );
  }
  return layers.slice(0, at + 1);
}

/** The cut layer's output: [batch, ...featureShape], what the new head (or the SVM) sees. */
export function cutOutput(model: LayersModel, cutLayer?: string): SymbolicTensor {
  const body = bodyLayers(model, cutLayer);
  return body[body.length - 1].output as SymbolicTensor;
}

const originalCall = new WeakMap<Layer, Layer['call']>();

/**
 * Freezes the first `depth` layers of `body` and unfreezes the rest. A frozen layer runs in
 * inference mode even while the model trains: BatchNormalization normalises with (and keeps) its
 * moving statistics instead of the batch's, dropout passes its input through. tfjs-layers alone
 * would still use batch statistics and update the moving ones in a layer with trainable=false.
 * This also makes a frozen prefix a pure function of its input, which the bottleneck cache needs.
 */
export function freezeLayers(body: readonly Layer[], depth: number): void {
  body.forEach((layer, i) => {
    const frozen = i < depth;
    layer.trainable = !frozen;
    const original = originalCall.get(layer);
    if (frozen && !original) {
      const call = layer.call;
      originalCall.set(layer, call);
      layer.call = (inputs, kwargs) => call.call(layer, inputs, { ...kwargs, training: false });
    } else if (!frozen && original) {
      layer.call = original;
      originalCall.delete(layer);
    }
  });
}

/**
 * The new head on `features`: [Flatten when features are not flat] -> [Dense(hiddenUnits, relu)]
 * -> [Dropout] -> Dense(numClasses, softmax | linear) named `foldsweep_head`.
 */
export function buildHead(tf: Tf, features: SymbolicTensor, options: HeadOptions): SymbolicTensor {
  let seed = typeof options.init === 'number' ? options.init : undefined;
  const kernelInitializer = () =>
    options.init === 'zeros'
      ? tf.initializers.zeros()
      : tf.initializers.glorotUniform(seed === undefined ? {} : { seed: seed++ });
  let x = features;
  if (features.shape.length > 2) {
    x = tf.layers.flatten({ name: `${HEAD_PREFIX}_flatten` }).apply(x) as SymbolicTensor;
  }
  if (options.hiddenUnits) {
    x = tf.layers
      .dense({
        units: options.hiddenUnits,
        activation: 'relu',
        name: `${HEAD_PREFIX}_hidden`,
        kernelInitializer: kernelInitializer(),
      })
      .apply(x) as SymbolicTensor;
  }
  if (options.dropout) {
    x = tf.layers
      .dropout({ rate: options.dropout, name: `${HEAD_PREFIX}_dropout` })
      .apply(x) as SymbolicTensor;
  }
  return tf.layers
    .dense({
      units: options.numClasses,
      activation: options.output ?? 'softmax',
      name: HEAD_OUTPUT,
      kernelInitializer: kernelInitializer(),
    })
    .apply(x) as SymbolicTensor;
}

/**
 * Model surgery for fine-tuning, in named steps:
 * 1. truncate: keep the base up to `cutLayer` (default: drop just the old softmax head);
 * 2. new head: buildHead on the cut layer's output (one unit per new class);
 * 3. freeze: the first `freezeDepth` layers up to the cut stop training (inference mode);
 * 4. compile: Adam at `learningRate`, categorical cross-entropy, accuracy.
 * For `scratch` the caller passes a freshly initialised copy of the architecture.
 *
 * Input: [batch, H, W, C] float32 in [0, 1]. Output: [batch, numClasses] class probabilities
 * (class scores with `output: 'linear'`).
 */
export function buildFineTuneModel(
  tf: Tf,
  base: LayersModel,
  options: SurgeryOptions,
): LayersModel {
  const body = bodyLayers(base, options.cutLayer);
  if (options.freezeDepth > body.length) {
    throw new Error(
      `freezeDepth ${options.freezeDepth} exceeds the ${body.length} layers up to the cut`,
    );
  }
  const head = buildHead(tf, body[body.length - 1].output as SymbolicTensor, options);
  const model = tf.model({ inputs: base.inputs, outputs: head, name: 'foldsweep_model' });
  freezeLayers(body, options.freezeDepth);
  model.compile({
    optimizer: tf.train.adam(options.learningRate),
    loss: 'categoricalCrossentropy',
    metrics: ['accuracy'],
  });
  return model;
}

/**
 * The base up to the cut as a model of its own: [batch, H, W, C] -> [batch, ...featureShape]
 * bottleneck features. Its layers are the base's (shared, not copied).
 */
export function featureExtractor(tf: Tf, base: LayersModel, cutLayer?: string): LayersModel {
  return tf.model({
    inputs: base.inputs,
    outputs: cutOutput(base, cutLayer),
    name: 'foldsweep_features',
  });
}

/**
 * The new head alone, on precomputed features of shape `featureShape` (no batch axis), compiled
 * with Adam at `learningRate`. Its layers have the same names as the head buildFineTuneModel
 * adds, so copyHeadWeights moves the trained weights onto the full model.
 */
export function buildHeadModel(
  tf: Tf,
  featureShape: readonly number[],
  options: HeadOptions & { learningRate: number },
): LayersModel {
  const input = tf.input({ shape: [...featureShape], name: `${HEAD_PREFIX}_features` });
  const model = tf.model({
    inputs: input,
    outputs: buildHead(tf, input, options),
    name: 'foldsweep_head_model',
  });
  model.compile({
    optimizer: tf.train.adam(options.learningRate),
    loss: 'categoricalCrossentropy',
    metrics: ['accuracy'],
  });
  return model;
}

/** Copies the weights of every head layer (`foldsweep_head*`) of `from` onto `to`. */
export function copyHeadWeights(from: LayersModel, to: LayersModel): void {
  for (const layer of from.layers) {
    if (!layer.name.startsWith(HEAD_PREFIX) || layer.weights.length === 0) continue;
    to.getLayer(layer.name).setWeights(layer.getWeights());
  }
}

/** 'probabilities' when the model ends in a softmax, else 'scores'. */
export function outputKind(model: LayersModel): ModelOutputs {
  const last = model.layers[model.layers.length - 1];
  return (last.getConfig() as { activation?: unknown }).activation === 'softmax'
    ? 'probabilities'
    : 'scores';
}

/** A new model with the same architecture as `model` and freshly initialised weights. */
export async function reinitialized(tf: Tf, model: LayersModel): Promise<LayersModel> {
  const topology = model.toJSON(
    undefined,
    false,
  ) as unknown as import('@tensorflow/tfjs').io.ModelJSON['modelTopology'];
  return tf.models.modelFromJSON({ modelTopology: topology } as never);
}

/**
 * Frees the weights of every layer of the given models once (models built by surgery share the
 * base's layers, and layers the surgery dropped are still the base's) and their optimizers.
 */
export function releaseModels(...models: (LayersModel | undefined)[]): void {
  const layers = new Set<Layer>();
  const optimizers = new Set<import('@tensorflow/tfjs').Optimizer>();
  for (const model of models) {
    if (!model) continue;
    for (const layer of model.layers) layers.add(layer);
    if (model.optimizer) optimizers.add(model.optimizer);
  }
  for (const layer of layers) {
    for (const weight of layer.weights) {
      try {
        weight.dispose();
      } catch {
        // Already disposed (e.g. by model.dispose() elsewhere): nothing left to free.
      }
    }
  }
  for (const optimizer of optimizers) optimizer.dispose();
}
