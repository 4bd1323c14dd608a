import type { Strategy } from '../shared/schemas/sweep-spec.js';
import type { LayersModel, Tf } from './tf.js';

export interface SurgeryOptions {
  strategy: Strategy;
  numClasses: number;
  freezeDepth: number;
  /** Scratch learning rate x lrMultiplier. */
  learningRate: number;
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
 * The truncated base's layers in order (input layer excluded): what freezeDepth counts.
 */
export function baseLayers(model: LayersModel) {
  return model.layers.slice(0, headStart(model)).filter((l) => l.getClassName() !== 'InputLayer');
}

/**
 * Model surgery for fine-tuning, in named steps:
 * 1. truncate: drop the old softmax head;
 * 2. new head: Dense(numClasses, softmax) on the last base layer's output;
 * 3. freeze: the first `freezeDepth` base layers stop training;
 * 4. compile: Adam at `learningRate`, categorical cross-entropy, accuracy.
 * For `scratch` the caller passes a freshly initialised copy of the architecture.
 *
 * Input: [batch, H, W, C] float32 in [0, 1]. Output: [batch, numClasses] class probabilities.
 */
export function buildFineTuneModel(
  tf: Tf,
  base: LayersModel,
  options: SurgeryOptions,
): LayersModel {
  const cut = headStart(base);
  const body = baseLayers(base);
  if (options.freezeDepth > body.length) {
    throw new Error(
      `freezeDepth ${options.freezeDepth} exceeds the ${body.length} layers below the head`,
    );
  }
  const features = base.layers[cut - 1].output as import('@tensorflow/tfjs').SymbolicTensor;
  const head = tf.layers
    .dense({
      units: options.numClasses,
      activation: 'softmax',
      name: 'foldsweep_head',
      kernelInitializer: 'glorotUniform',
    })
    .apply(features) as import('@tensorflow/tfjs').SymbolicTensor;
  const model = tf.model({ inputs: base.inputs, outputs: head, name: 'foldsweep_model' });
  body.forEach((layer, i) => {
    layer.trainable = i >= options.freezeDepth;
  });
  model.compile({
    optimizer: tf.train.adam(options.learningRate),
    loss: 'categoricalCrossentropy',
    metrics: ['accuracy'],
  });
  return model;
}

/** A new model with the same architecture as `model` and freshly initialised weights. */
export async function reinitialized(tf: Tf, model: LayersModel): Promise<LayersModel> {
  const topology = model.toJSON(
    undefined,
    false,
  ) as unknown as import('@tensorflow/tfjs').io.ModelJSON['modelTopology'];
  return tf.models.modelFromJSON({ modelTopology: topology } as never);
}
