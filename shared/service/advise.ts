/**
 * The advise use case: prepares the dataset and imports the base model as a sweep would (so the
 * sweep that follows reuses both), probes the base's features at the layer below its head and at
 * an earlier one, and recommends a sweep spec (shared/advice.ts).
 */
import { type Advice, earlyLayerOf, recommendSweep } from '../advice.js';
import type { FeatureProber, ProbeResult } from '../ports/artifacts.js';
import type { PreparedDataset } from '../schemas/dataset.js';
import { type DatasetRefInput, DatasetRefSchema } from '../schemas/dataset.js';
import { parseOrThrow } from '../schemas/issues.js';
import type { ServiceDeps } from './deps.js';

export interface AdviseRequest {
  /** The labelled dataset (a DatasetRef). */
  dataset: unknown;
  /** An optional separate test split (a DatasetRef): checked and put in the spec. */
  testSet?: unknown;
  /** Path of the base model's model.json. */
  baseModel: string;
  /** Images per class the probe samples. Default 60. */
  probePerClass?: number;
  seed?: number;
  name?: string;
}

export interface AdviseOutcome extends Advice {
  dataset: PreparedDataset;
  probes: ProbeResult[];
}

export type AdviseDeps = Pick<ServiceDeps, 'datasets' | 'models' | 'logger'> & {
  prober: FeatureProber;
};

/**
 * Bad input (a dataset or test set that fails validation or cannot be read, a model that is not a
 * layers classifier) throws ValidationError / InvalidArtifactError naming the field.
 */
export async function adviseSweep(
  deps: AdviseDeps,
  request: AdviseRequest,
): Promise<AdviseOutcome> {
  const datasetRef = parseOrThrow(DatasetRefSchema, request.dataset, 'dataset');
  const testRef =
    request.testSet === undefined
      ? undefined
      : parseOrThrow(DatasetRefSchema, request.testSet, 'testSet');
  const base = await deps.models.importBaseModel(request.baseModel, 'model');
  const dataset = await deps.datasets.prepare(datasetRef, base.inputShape, 'dataset');
  if (testRef) await deps.datasets.prepare(testRef, base.inputShape, 'testSet');
  const layers = base.layers.map((l) => l.name);
  const top = layers[layers.length - 1];
  const early = earlyLayerOf(layers);
  const probes = await deps.prober.probe(base.prefix, dataset, {
    cutLayers: early ? [top, early] : [top],
    perClass: request.probePerClass,
    seed: request.seed,
  });
  deps.logger.info(
    { dataset: dataset.hash, model: base.hash, probes },
    'advise: linear probe of the base model',
  );
  const advice = recommendSweep({
    dataset: request.dataset as DatasetRefInput,
    testSet: request.testSet as DatasetRefInput | undefined,
    baseModel: request.baseModel,
    classes: dataset.classes,
    countsPerClass: dataset.countsPerClass,
    layers,
    earlyLayer: early ?? top,
    topProbe: probes[0],
    earlyProbe: probes[1],
    name: request.name,
    seed: request.seed,
  });
  return { ...advice, dataset, probes };
}
