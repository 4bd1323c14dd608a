/**
 * Fold ensembles without TensorFlow: the k fold models of one variant joined, at the level of
 * their tfjs layers files, into one functional model whose output is the mean of theirs
 * (probabilities for softmax heads, scores for bottleneck-linear). One input feeds every member;
 * each member's layers keep their configuration under a `fold<k>_` prefix, and an `Average` layer
 * joins the outputs. Stock `tf.loadLayersModel` loads the result like any other champion.
 */
import { getJson, type ObjectStore } from '../ports/object-store.js';

type Json = Record<string, unknown>;

/** A tfjs layers model as stored: model.json, and its weight files' bytes joined in order. */
export interface StoredLayersModel {
  modelJson: Json;
  /** The weight specs of every manifest group, in order. */
  weightSpecs: WeightSpec[];
  /** The bytes of every group's paths, in order (the layout the specs describe). */
  weightData: Uint8Array;
}

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  [key: string]: unknown;
}

export class EnsembleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnsembleError';
  }
}

const isObject = (v: unknown): v is Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads a tfjs layers model stored under `prefix` (model.json + the weight files it names). */
export async function readStoredLayersModel(
  objects: ObjectStore,
  prefix: string,
): Promise<StoredLayersModel> {
  const modelJson = (await getJson(objects, `${prefix}/model.json`)) as Json;
  const manifest = modelJson.weightsManifest as { paths: string[]; weights: WeightSpec[] }[];
  const parts: Uint8Array[] = [];
  const weightSpecs: WeightSpec[] = [];
  for (const group of manifest) {
    for (const p of group.paths) parts.push(await objects.get(`${prefix}/${p}`));
    weightSpecs.push(...group.weights);
  }
  return { modelJson, weightSpecs, weightData: concatBytes(parts) };
}

/**
 * The model.json and weights.bin of the ensemble of `members` (at least 2, one input and one
 * output each, the same input and output shapes: the fold models of one variant).
 * @throws EnsembleError naming the member and what does not fit
 */
export function ensembleLayersModel(members: readonly StoredLayersModel[]): {
  modelJson: Json;
  weights: Uint8Array;
} {
  if (members.length < 2) {
    throw new EnsembleError(`an ensemble needs at least 2 models, got ${members.length}`);
  }
  const INPUT = 'ensemble_input';
  const layers: Json[] = [];
  const outputs: string[] = [];
  const weightSpecs: WeightSpec[] = [];
  let inputLayer: Json | undefined;
  members.forEach((member, k) => {
    const graph = functionalGraph(member.modelJson, k);
    const prefix = `fold${k}_`;
    const rename = (name: string) => (name === graph.input ? INPUT : `${prefix}${name}`);
    for (const layer of graph.layers) {
      const name = String(layer.name);
      if (name === graph.input) {
        const config = { ...(layer.config as Json), name: INPUT };
        if (!inputLayer) inputLayer = { ...layer, name: INPUT, config, inbound_nodes: [] };
        else if (JSON.stringify(config) !== JSON.stringify(inputLayer.config)) {
          throw new EnsembleError(`model ${k} has another input than model 0`);
        }
        continue;
      }
      const nodes = layer.inbound_nodes as unknown[][][];
      layers.push({
        ...layer,
        name: rename(name),
        config: { ...(layer.config as Json), name: rename(name) },
        inbound_nodes: nodes.map((node) =>
          node.map(([from, ...rest]) => [rename(String(from)), ...rest]),
        ),
      });
    }
    outputs.push(rename(graph.output));
    const layerNames = new Set(graph.layers.map((l) => String(l.name)));
    for (const spec of member.weightSpecs) {
      const slash = spec.name.indexOf('/');
      const owner = slash > 0 ? spec.name.slice(0, slash) : '';
      if (!layerNames.has(owner)) {
        throw new EnsembleError(`model ${k}: weight ${spec.name} does not belong to a layer`);
      }
      weightSpecs.push({ ...spec, name: `${prefix}${spec.name}` });
    }
  });
  if (!inputLayer) throw new EnsembleError('no input layer');
  const average = {
    class_name: 'Average',
    name: 'ensemble_average',
    config: { name: 'ensemble_average', trainable: false, dtype: 'float32' },
    inbound_nodes: [outputs.map((o) => [o, 0, 0, {}])],
  };
  const first = members[0].modelJson;
  const topology = first.modelTopology as Json;
  return {
    modelJson: {
      format: 'layers-model',
      generatedBy: first.generatedBy ?? null,
      convertedBy: 'foldsweep ensemble',
      modelTopology: {
        keras_version: topology.keras_version,
        backend: topology.backend,
        class_name: 'Model',
        config: {
          name: 'foldsweep_ensemble',
          layers: [inputLayer, ...layers, average],
          input_layers: [[INPUT, 0, 0]],
          output_layers: [['ensemble_average', 0, 0]],
        },
      },
      weightsManifest: [{ paths: ['weights.bin'], weights: weightSpecs }],
    },
    weights: concatBytes(members.map((m) => m.weightData)),
  };
}

/**
 * Writes the ensemble of the models stored under `memberPrefixes` under `outPrefix`
 * (weights.bin first, so a model.json never names missing weights).
 */
export async function writeEnsemble(
  objects: ObjectStore,
  memberPrefixes: readonly string[],
  outPrefix: string,
): Promise<void> {
  const members: StoredLayersModel[] = [];
  for (const prefix of memberPrefixes) members.push(await readStoredLayersModel(objects, prefix));
  const { modelJson, weights } = ensembleLayersModel(members);
  await objects.put(`${outPrefix}/weights.bin`, weights);
  await objects.put(`${outPrefix}/model.json`, JSON.stringify(modelJson));
}

/** The layers, the input layer's name and the output layer's name of a functional model. */
function functionalGraph(
  modelJson: Json,
  k: number,
): { layers: Json[]; input: string; output: string } {
  const topology = modelJson.modelTopology;
  if (!isObject(topology)) throw new EnsembleError(`model ${k}: model.json has no modelTopology`);
  const root = isObject(topology.model_config) ? topology.model_config : topology;
  const config = root.config;
  if (
    (root.class_name !== 'Model' && root.class_name !== 'Functional') ||
    !isObject(config) ||
    !Array.isArray(config.layers)
  ) {
    throw new EnsembleError(
      `model ${k}: only functional models join an ensemble (got ${String(root.class_name)})`,
    );
  }
  const ends = (key: string) => {
    const list = config[key];
    if (!Array.isArray(list) || list.length !== 1 || !Array.isArray(list[0])) {
      throw new EnsembleError(`model ${k}: an ensemble member needs exactly one ${key} entry`);
    }
    return String(list[0][0]);
  };
  return {
    layers: config.layers as Json[],
    input: ends('input_layers'),
    output: ends('output_layers'),
  };
}

function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}
