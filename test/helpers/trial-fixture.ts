/**
 * A real, tiny sweep in an in-memory ObjectStore for trainer tests: a base CNN saved in the
 * tfjs layers format, a learnable 8x8x1 dataset of `samples` band images in 3 classes, and a
 * plan built by the real planSweep over them. runTrial can run any of its trials.
 */
import { contentHash } from '../../shared/data/load.js';
import { summarizeLayersModel } from '../../shared/model/layers-json.js';
import { planSweep } from '../../shared/planner/plan-sweep.js';
import { getJson } from '../../shared/ports/object-store.js';
import type { PreparedDataset } from '../../shared/schemas/dataset.js';
import type { BaseModelRef, Plan } from '../../shared/schemas/plan.js';
import type { SweepSpecInput } from '../../shared/schemas/sweep-spec.js';
import { saveModelToStore } from '../../trainer/model-io.js';
import type { LayersModel, Tf } from '../../trainer/tf.js';
import { sweepSpecFactory, TEST_CREATED_AT, TEST_SWEEP_ID } from './factories.js';
import { MemoryObjectStore } from './memory-object-store.js';
import { bandImages } from './tiny-model.js';

export interface TrialFixture {
  objects: MemoryObjectStore;
  baseModel: BaseModelRef;
  dataset: PreparedDataset;
  /** A plan over the fixture's model and data; `spec` overrides the tiny defaults. */
  plan(spec?: Partial<SweepSpecInput>, sweepId?: string): Plan;
}

/** Stores `base` (disposed afterwards) and a band-image dataset in a fresh MemoryObjectStore. */
export async function trialFixture(
  tf: Tf,
  base: LayersModel,
  options: { samples?: number } = {},
): Promise<TrialFixture> {
  const objects = new MemoryObjectStore();
  await saveModelToStore(tf, base, objects, 'models/base');
  base.dispose();
  const summary = summarizeLayersModel(await getJson(objects, 'models/base/model.json'));
  const baseModel: BaseModelRef = {
    uri: 'memory://models/base/model.json',
    hash: 'c'.repeat(64),
    prefix: 'models/base',
    inputShape: summary.inputShape as BaseModelRef['inputShape'],
    layers: summary.baseLayers,
    numClasses: summary.numClasses,
  };
  const n = options.samples ?? 60;
  const { pixels, labels } = bandImages(n, 3, 5);
  const classes = ['top', 'middle', 'bottom'];
  const hash = contentHash([8, 8, 1], classes, pixels, labels);
  const dataset: PreparedDataset = {
    hash,
    source: { uri: '/band-images', format: 'idx' },
    classes,
    shape: [8, 8, 1],
    count: n,
    countsPerClass: [0, 1, 2].map((c) => labels.filter((l) => l === c).length),
    dataKey: `datasets/${hash}/pixels.u8`,
    labelsKey: `datasets/${hash}/labels.u8`,
    manifestKey: `datasets/${hash}/manifest.json`,
    preparedAt: TEST_CREATED_AT,
  };
  await objects.put(dataset.dataKey, pixels);
  await objects.put(dataset.labelsKey, labels);
  return {
    objects,
    baseModel,
    dataset,
    plan: (spec = {}, sweepId = TEST_SWEEP_ID) =>
      planSweep({
        sweepId,
        createdAt: TEST_CREATED_AT,
        spec: sweepSpecFactory({
          folds: 2,
          seed: 3,
          training: { learningRate: 0.02, epochs: 3, batchSize: 8, patience: 5 },
          ...spec,
        }),
        dataset,
        labels,
        baseModel,
      }),
  };
}
