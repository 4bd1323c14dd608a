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
 * Saves a model in the standard tfjs layers layout (model.json + weights.bin) under `prefix`,
 * loadable by stock `tf.loadLayersModel` from files or HTTP.
 */
export async function saveModelToStore(
  tf: Tf,
  model: LayersModel,
  objects: ObjectStore,
  prefix: string,
): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData
        ? tf.io.CompositeArrayBuffer.join(artifacts.weightData)
        : new ArrayBuffer(0);
      await objects.put(`${prefix}/weights.bin`, new Uint8Array(weightData));
      const modelJson = {
        format: 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      };
      await objects.put(`${prefix}/model.json`, JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
}
