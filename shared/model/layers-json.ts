/**
 * Reads what foldsweep needs from a tfjs layers `model.json` without loading TensorFlow:
 * the input shape, the layers below the softmax head, the number of classes and the weight files.
 * Pure: used by the model importer (to validate a spec before any trial) and by the trainer.
 */

export interface LayerSummary {
  name: string;
  className: string;
}

export interface LayersModelSummary {
  /** [height, width, channels] of one input image. */
  inputShape: [number, number, number];
  /** Layers of the truncated base, in order: input layer and softmax head excluded. */
  baseLayers: LayerSummary[];
  /** Layers forming the old head that surgery drops (Dense softmax, or Dense + Activation softmax). */
  headLayers: LayerSummary[];
  numClasses: number;
  weightPaths: string[];
  /** Each weightsManifest group: its files, in order, and the bytes its weights take. */
  weightGroups: WeightGroup[];
}

export interface WeightGroup {
  paths: string[];
  /** Bytes the group's files hold together: the weights' element counts x their dtype sizes. */
  bytes: number;
}

/** Largest input side (pixels) of a base model: beyond it one image alone takes gigabytes. */
export const MAX_INPUT_SIDE = 4096;

/** Bytes per element of the weight dtypes tfjs layers models store (quantized ones by their quantization dtype). */
const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4 };
const QUANTIZED_BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };

export class LayersModelFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LayersModelFormatError';
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * @throws LayersModelFormatError saying what is missing (the caller adds the file name)
 */
export function summarizeLayersModel(modelJson: unknown): LayersModelSummary {
  if (!isObject(modelJson) || !isObject(modelJson.modelTopology)) {
    throw new LayersModelFormatError(
      'not a tfjs layers model: model.json has no modelTopology (graph models from ' +
        'tensorflowjs_converter --output_format=tfjs_graph_model cannot be fine-tuned; ' +
        'convert with --output_format=tfjs_layers_model)',
    );
  }
  if (modelJson.format !== undefined && modelJson.format !== 'layers-model') {
    throw new LayersModelFormatError(
      `model.json format is '${String(modelJson.format)}', expected 'layers-model'` +
        (modelJson.format === 'graph-model'
          ? ': graph models cannot be fine-tuned; convert the original model with ' +
            'tensorflowjs_converter --output_format=tfjs_layers_model (or save it with tf.LayersModel.save)'
          : ''),
    );
  }
  const topology = modelJson.modelTopology;
  const root = isObject(topology.model_config) ? topology.model_config : topology;
  const className = String(root.class_name ?? '');
  const config = root.config;
  const rawLayers = Array.isArray(config)
    ? config
    : isObject(config) && Array.isArray(config.layers)
      ? config.layers
      : null;
  if (!rawLayers || rawLayers.length === 0) {
    throw new LayersModelFormatError(
      `modelTopology (${className || 'unknown class'}) lists no layers`,
    );
  }
  const layers = rawLayers.map((l, i) => {
    if (!isObject(l) || !isObject(l.config)) {
      throw new LayersModelFormatError(`layer ${i} has no config`);
    }
    return {
      name: String(l.config.name ?? l.name ?? `layer_${i}`),
      className: String(l.class_name),
      config: l.config,
    };
  });
  let inputShape: unknown;
  for (const l of layers) {
    const s = l.config.batch_input_shape ?? l.config.batchInputShape;
    if (Array.isArray(s)) {
      inputShape = s.slice(1);
      break;
    }
  }
  if (
    !Array.isArray(inputShape) ||
    inputShape.length !== 3 ||
    !inputShape.every((d) => Number.isInteger(d) && d > 0) ||
    (inputShape[2] !== 1 && inputShape[2] !== 3)
  ) {
    throw new LayersModelFormatError(
      `input shape ${JSON.stringify(inputShape)} is not an image shape [height, width, 1 or 3]`,
    );
  }
  if (inputShape[0] > MAX_INPUT_SIDE || inputShape[1] > MAX_INPUT_SIDE) {
    throw new LayersModelFormatError(
      `input shape ${JSON.stringify(inputShape)} is too large: height and width must be at most ` +
        `${MAX_INPUT_SIDE} pixels (one image of it alone would take ` +
        `${Math.round((inputShape[0] * inputShape[1] * inputShape[2] * 4) / 2 ** 30)} GB as float32): ` +
        'use a base model with a smaller input, e.g. 224x224',
    );
  }
  const body = layers.filter((l) => l.className !== 'InputLayer');
  if (body.length === 0) {
    throw new LayersModelFormatError(
      'the model has no layers besides its input: nothing to fine-tune',
    );
  }
  const last = body[body.length - 1];
  let head: typeof body;
  let units: unknown;
  if (last.className === 'Dense' && last.config.activation === 'softmax') {
    head = [last];
    units = last.config.units;
  } else if (
    last.className === 'Activation' &&
    last.config.activation === 'softmax' &&
    body[body.length - 2]?.className === 'Dense'
  ) {
    head = body.slice(-2);
    units = head[0].config.units;
  } else {
    throw new LayersModelFormatError(
      `the last layer '${last.name}' (${last.className}, activation ${String(last.config.activation)}) ` +
        'is not a softmax classifier: foldsweep replaces a Dense softmax head',
    );
  }
  if (!Number.isInteger(units) || (units as number) < 2) {
    throw new LayersModelFormatError(
      `the softmax head '${head[0].name}' has units ${JSON.stringify(units)}: expected an integer >= 2`,
    );
  }
  const weightPaths: string[] = [];
  const weightGroups: WeightGroup[] = [];
  if (!Array.isArray(modelJson.weightsManifest)) {
    throw new LayersModelFormatError('model.json has no weightsManifest');
  }
  for (const group of modelJson.weightsManifest) {
    if (!isObject(group) || !Array.isArray(group.paths)) {
      throw new LayersModelFormatError('weightsManifest entry without paths');
    }
    weightPaths.push(...group.paths.map(String));
  }
  for (const group of modelJson.weightsManifest as { paths: unknown[]; weights: unknown }[]) {
    weightGroups.push({ paths: group.paths.map(String), bytes: groupBytes(group.weights) });
  }
  return {
    inputShape: inputShape as [number, number, number],
    baseLayers: body
      .slice(0, body.length - head.length)
      .map(({ name, className }) => ({ name, className })),
    headLayers: head.map(({ name, className }) => ({ name, className })),
    numClasses: Number(units),
    weightPaths,
    weightGroups,
  };
}

/** The bytes a weightsManifest group's weights take; LayersModelFormatError for a bad entry. */
function groupBytes(weights: unknown): number {
  if (!Array.isArray(weights)) {
    throw new LayersModelFormatError('weightsManifest entry without a weights list');
  }
  let bytes = 0;
  for (const w of weights) {
    const name = isObject(w) ? String(w.name) : '?';
    if (
      !isObject(w) ||
      !Array.isArray(w.shape) ||
      !w.shape.every((d) => Number.isInteger(d) && d >= 0)
    ) {
      throw new LayersModelFormatError(`weightsManifest weight '${name}' has no valid shape`);
    }
    const quantization = isObject(w.quantization) ? String(w.quantization.dtype) : undefined;
    const size =
      quantization === undefined ? DTYPE_BYTES[String(w.dtype)] : QUANTIZED_BYTES[quantization];
    if (size === undefined) {
      throw new LayersModelFormatError(
        `weight '${name}' has dtype '${quantization ?? String(w.dtype)}'${quantization ? ' (quantization)' : ''}: ` +
          `tfjs layers weights are ${Object.keys(DTYPE_BYTES).join(' or ')}` +
          ` (quantized as ${Object.keys(QUANTIZED_BYTES).join(', ')}): re-save the model with ` +
          'tf.LayersModel.save or tensorflowjs_converter --output_format=tfjs_layers_model',
      );
    }
    bytes += (w.shape as number[]).reduce((a, d) => a * d, 1) * size;
  }
  return bytes;
}

/**
 * The position in `layers` of a layer given by name or by index (0-based), or -1 when it names
 * no layer. Used for `model.cutLayer` (over the layers below the softmax head) and for a
 * `freezeDepth` given as a name (over the layers up to the cut).
 */
export function findLayer(layers: readonly LayerSummary[], ref: string | number): number {
  if (typeof ref === 'number')
    return Number.isInteger(ref) && ref >= 0 && ref < layers.length ? ref : -1;
  return layers.findIndex((l) => l.name === ref);
}
