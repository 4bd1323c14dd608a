/**
 * Factories for complete, valid domain inputs. Each takes overrides for the fields a test cares
 * about and fills the rest with small, consistent defaults:
 * - a 3-class, 8x8x1 prepared dataset with 12 samples per class,
 * - a base model with 4 layers below its softmax head and the same input shape,
 * - a sweep spec parsed through SweepSpecSchema (so schema defaults are filled),
 * - a plan built by the real planSweep,
 * - a succeeded trial result.
 */

import { planSweep } from '../../shared/planner/plan-sweep.js';
import type { PreparedDataset } from '../../shared/schemas/dataset.js';
import type { BaseModelRef, Plan } from '../../shared/schemas/plan.js';
import {
  type SweepSpec,
  type SweepSpecInput,
  SweepSpecSchema,
} from '../../shared/schemas/sweep-spec.js';
import type { TrialResult } from '../../shared/schemas/trial-result.js';

export const TEST_SWEEP_ID = 'sweep-test';
export const TEST_CREATED_AT = '2024-01-01T00:00:00.000Z';

/** A sweep spec as the API would hold it after parsing: every default filled. */
export function sweepSpecFactory(overrides: Partial<SweepSpecInput> = {}): SweepSpec {
  return SweepSpecSchema.parse({
    baseModel: 'models/base/model.json',
    dataset: { uri: '/data/train-images-idx3-ubyte.gz', format: 'idx' },
    folds: 3,
    seed: 7,
    ...overrides,
  });
}

/**
 * A prepared-dataset manifest. `count` follows `countsPerClass` unless given explicitly, and
 * `classes` defaults to one name per count.
 */
export function preparedDatasetFactory(overrides: Partial<PreparedDataset> = {}): PreparedDataset {
  const countsPerClass = overrides.countsPerClass ?? [12, 12, 12];
  const classes = overrides.classes ?? countsPerClass.map((_, i) => `class-${i}`);
  const hash = 'a'.repeat(64);
  return {
    hash,
    source: { uri: '/data/train-images-idx3-ubyte.gz', format: 'idx' },
    classes,
    shape: [8, 8, 1],
    count: countsPerClass.reduce((s, n) => s + n, 0),
    countsPerClass,
    dataKey: `datasets/${hash}/pixels.u8`,
    labelsKey: `datasets/${hash}/labels.u8`,
    manifestKey: `datasets/${hash}/manifest.json`,
    preparedAt: TEST_CREATED_AT,
    ...overrides,
  };
}

/** A base model with 4 layers below its softmax head, expecting 8x8x1 images, 10 classes. */
export function baseModelRefFactory(overrides: Partial<BaseModelRef> = {}): BaseModelRef {
  const hash = 'b'.repeat(64);
  return {
    uri: 'models/base/model.json',
    hash,
    prefix: `models/${hash}`,
    inputShape: [8, 8, 1],
    layers: [
      { name: 'conv1', className: 'Conv2D' },
      { name: 'pool1', className: 'MaxPooling2D' },
      { name: 'flatten', className: 'Flatten' },
      { name: 'dense1', className: 'Dense' },
    ],
    numClasses: 10,
    ...overrides,
  };
}

/**
 * Labels matching `countsPerClass`, classes interleaved (0,1,2,0,1,2,...) while every class still
 * has samples left, so no class sits in one contiguous block.
 */
export function labelsForCounts(countsPerClass: readonly number[]): Uint8Array {
  const left = [...countsPerClass];
  const labels: number[] = [];
  while (left.some((n) => n > 0)) {
    left.forEach((n, c) => {
      if (n > 0) {
        labels.push(c);
        left[c] = n - 1;
      }
    });
  }
  return Uint8Array.from(labels);
}

export interface PlanFactoryOptions {
  spec?: Partial<SweepSpecInput>;
  dataset?: Partial<PreparedDataset>;
  baseModel?: Partial<BaseModelRef>;
  /** Defaults to labelsForCounts(dataset.countsPerClass). */
  labels?: ArrayLike<number>;
  testSet?: PreparedDataset;
  sweepId?: string;
  createdAt?: string;
}

/** A plan built by the real planSweep from factory inputs. */
export function planFactory(options: PlanFactoryOptions = {}): Plan {
  const dataset = preparedDatasetFactory(options.dataset);
  return planSweep({
    sweepId: options.sweepId ?? TEST_SWEEP_ID,
    createdAt: options.createdAt ?? TEST_CREATED_AT,
    spec: sweepSpecFactory(options.spec),
    dataset,
    labels: options.labels ?? labelsForCounts(dataset.countsPerClass),
    baseModel: baseModelRefFactory(options.baseModel),
    testSet: options.testSet,
  });
}

/** A succeeded first attempt of trial 0 of TEST_SWEEP_ID. */
export function trialResultFactory(overrides: Partial<TrialResult> = {}): TrialResult {
  return {
    sweepId: TEST_SWEEP_ID,
    trialIndex: 0,
    variantId: '00000000',
    fold: 0,
    status: 'succeeded',
    backend: 'cpu',
    attempt: 1,
    startedAt: TEST_CREATED_AT,
    finishedAt: '2024-01-01T00:01:00.000Z',
    durationMs: 60_000,
    epochs: [],
    objective: 0.9,
    ...overrides,
  };
}

/** A trial result for (variantIndex, fold) of `plan`, with trialIndex/variantId/fold filled. */
export function trialResultFor(
  plan: Plan,
  variantIndex: number,
  fold: number,
  overrides: Partial<TrialResult> = {},
): TrialResult {
  const trialIndex = variantIndex * plan.folds + fold;
  return trialResultFactory({
    sweepId: plan.sweepId,
    trialIndex,
    variantId: plan.trials[trialIndex].variantId,
    fold,
    ...overrides,
  });
}
