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
}

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
      `model.json format is '${String(modelJson.format)}', expected 'layers-model'`,
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
  if (!Array.isArray(modelJson.weightsManifest)) {
    throw new LayersModelFormatError('model.json has no weightsManifest');
  }
  for (const group of modelJson.weightsManifest) {
    if (!isObject(group) || !Array.isArray(group.paths)) {
      throw new LayersModelFormatError('weightsManifest entry without paths');
    }
    for (const p of group.paths) weightPaths.push(String(p));
  }
  return {
    inputShape: inputShape as [number, number, number],
    baseLayers: body
      .slice(0, body.length - head.length)
      .map(({ name, className }) => ({ name, className })),
    headLayers: head.map(({ name, className }) => ({ name, className })),
    numClasses: Number(units),
    weightPaths,
  };
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
