import { readStoredLayersModel } from '../shared/model/ensemble.js';
import type { ObjectStore } from '../shared/ports/object-store.js';
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
  const { modelJson, weightSpecs, weightData } = await readStoredLayersModel(objects, prefix);
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: modelJson.modelTopology as Json,
      weightSpecs: weightSpecs as never,
      weightData: weightData.buffer as ArrayBuffer,
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
