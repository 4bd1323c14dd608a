import { getJson, type ObjectStore } from '../shared/ports/object-store.js';
import type { LayersModel, Tf } from './tf.js';

type Json = Record<string, unknown>;

/**
 * Loads a tfjs layers model stored under `prefix` (model.json + the weight files it names).
 */
export async function loadModelFromStore(
  tf: Tf,
  objects: ObjectStore,
  prefix: string,
): Promise<LayersModel> {
  const modelJson = (await getJson(objects, `${prefix}/model.json`)) as Json;
  const manifest = modelJson.weightsManifest as { paths: string[]; weights: unknown[] }[];
  const parts: Uint8Array[] = [];
  const weightSpecs: unknown[] = [];
  for (const group of manifest) {
    for (const p of group.paths) parts.push(await objects.get(`${prefix}/${p}`));
    weightSpecs.push(...group.weights);
  }
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    weightData.set(p, offset);
    offset += p.byteLength;
  }
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: modelJson.modelTopology as Json,
      weightSpecs: weightSpecs as never,
      weightData: weightData.buffer,
    }),
  );
}

/**
 * Serialises a model in the standard tfjs layers layout: `model.json` (topology + a manifest
 * naming one `weights.bin`) and the weights, loadable by stock `tf.loadLayersModel`.
 */
export async function serializeModel(
  tf: Tf,
  model: LayersModel,
): Promise<{ modelJson: string; weights: Uint8Array }> {
  let out: { modelJson: string; weights: Uint8Array } | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData
        ? tf.io.CompositeArrayBuffer.join(artifacts.weightData)
        : new ArrayBuffer(0);
      out = {
        weights: new Uint8Array(weightData),
        modelJson: JSON.stringify({
          format: 'layers-model',
          generatedBy: artifacts.generatedBy,
          convertedBy: null,
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
        }),
      };
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  if (!out) throw new Error('tfjs did not hand over the model artifacts');
  return out;
}

/** Saves a model under `prefix` (weights first, so a model.json never names missing weights). */
export async function saveModelToStore(
  tf: Tf,
  model: LayersModel,
  objects: ObjectStore,
  prefix: string,
): Promise<void> {
  const { modelJson, weights } = await serializeModel(tf, model);
  await objects.put(`${prefix}/weights.bin`, weights);
  await objects.put(`${prefix}/model.json`, modelJson);
}
