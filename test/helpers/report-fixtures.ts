/**
 * Report inputs without training: a plan from planFactory with 7 variants x 3 folds
 * (finetune freezeDepth {0, 2} x lrMultiplier {1, 0.1}, scratch, bottleneck-linear C {0.1, 1})
 * and trial results with made-up learning curves, in the states a live or finished sweep has.
 */
import { join } from 'node:path';
import { SqliteStateStore } from '../../shared/adapters/local/sqlite-state-store.js';
import { buildLeaderboard } from '../../shared/aggregation/leaderboard.js';
import type { ReportInput } from '../../shared/report/html-report.js';
import type { ChampionMetadata } from '../../shared/schemas/champion.js';
import { type Plan, planKey, trialResultKey } from '../../shared/schemas/plan.js';
import type { ChampionRecord, TrialRecord } from '../../shared/schemas/state.js';
import {
  type EpochMetrics,
  type TrialResult,
  trialRecordOf,
} from '../../shared/schemas/trial-result.js';
import type { ServiceDeps } from '../../shared/service/deps.js';
import { planFactory, TEST_CREATED_AT, trialResultFor } from './factories.js';
import { makeTempDir, recordingLogger } from './images.js';
import { MemoryObjectStore } from './memory-object-store.js';

/** The dimensions the fixture plan sweeps: strategy, freezeDepth, lrMultiplier, svmC. */
export const FIXTURE_SWEPT_DIMENSIONS = ['strategy', 'freezeDepth', 'lrMultiplier', 'svmC'];

export function reportPlan(): Plan {
  return planFactory({
    spec: {
      name: 'report-fixture',
      searchSpace: {
        strategy: ['finetune', 'scratch', 'bottleneck-linear'],
        freezeDepth: [0, 2],
        lrMultiplier: [1, 0.1],
        svmC: [0.1, 1],
      },
    },
    dataset: { countsPerClass: [20, 20, 20] },
  });
}

/** Epoch metrics that rise towards `top` (deterministic in trial and epoch). */
export function curve(n: number, top: number, trialIndex: number): EpochMetrics[] {
  return Array.from({ length: n }, (_, epoch) => {
    const f = 1 - Math.exp(-(epoch + 1) / 2);
    const wobble = ((trialIndex * 7 + epoch * 3) % 5) / 200;
    return {
      epoch,
      loss: 1.2 * (1 - f) + 0.1,
      accuracy: Math.min(1, 0.3 + (top + 0.05 - 0.3) * f),
      valLoss: 1.2 * (1 - f) + 0.2 + wobble,
      valAccuracy: Math.min(1, 0.3 + (top - 0.3) * f - wobble),
      durationMs: 400 + epoch * 10,
      numTensors: 40,
    };
  });
}

function at(seconds: number) {
  return new Date(Date.parse(TEST_CREATED_AT) + seconds * 1000).toISOString();
}

/** A finished trial result of (variant, fold) with `epochs` epochs and objective `score`. */
export function finishedTrial(
  plan: Plan,
  variant: number,
  fold: number,
  score: number,
  epochs = 4,
): TrialResult {
  const trialIndex = variant * plan.folds + fold;
  const epochsOf = curve(epochs, score, trialIndex);
  const best = epochsOf.reduce(
    (b, e) => ((e.valAccuracy ?? 0) > (epochsOf[b].valAccuracy ?? 0) ? e.epoch : b),
    0,
  );
  return trialResultFor(plan, variant, fold, {
    backend: 'wasm',
    startedAt: at(trialIndex * 2),
    finishedAt: at(trialIndex * 2 + 3),
    durationMs: 3000,
    epochs: epochsOf,
    bestEpoch: best,
    objective: epochsOf[best].valAccuracy,
  });
}

export interface ReportScenario {
  input: ReportInput;
  /** Trials whose result has epochs (one learning-curve chart each). */
  withCurves: number;
}

/**
 * A live sweep: variants 0-2 complete, variant 3 with a failed fold, variant 4 with one fold
 * done, one running and one pending, variants 5-6 not started. No champion.
 */
export function liveScenario(): ReportScenario {
  const plan = reportPlan();
  const trials: TrialResult[] = [];
  const scores = [0.81, 0.86, 0.78];
  for (let v = 0; v < 3; v++) {
    for (let f = 0; f < 3; f++) trials.push(finishedTrial(plan, v, f, scores[v] + f * 0.01));
  }
  trials.push(finishedTrial(plan, 3, 0, 0.7), finishedTrial(plan, 3, 2, 0.72));
  trials.push({
    ...trialResultFor(plan, 3, 1, {
      status: 'failed',
      reason: 'trainer exited with code 137 <oom> & no result',
      objective: null,
      startedAt: at(20),
      finishedAt: at(21),
      durationMs: 1000,
    }),
  });
  trials.push(finishedTrial(plan, 4, 0, 0.75, 3));
  const trialStates: TrialRecord[] = [
    {
      sweepId: plan.sweepId,
      trialIndex: 13,
      variantId: plan.trials[13].variantId,
      fold: 1,
      status: 'running',
      attempt: 1,
      objective: null,
      updatedAt: at(30),
    },
  ];
  return {
    input: {
      sweepId: plan.sweepId,
      sweep: { status: 'running', createdAt: TEST_CREATED_AT, updatedAt: at(30) },
      plan,
      leaderboard: buildLeaderboard(plan, trials),
      trials,
      trialStates,
      generatedAt: at(31),
      refreshSeconds: 10,
    },
    withCurves: trials.filter((t) => t.epochs.length > 0).length,
  };
}

/** Every trial succeeded and a champion (variant 1) is promoted with holdout and test scores. */
export function completedScenario(): ReportScenario {
  const plan = reportPlan();
  const trials: TrialResult[] = [];
  plan.variants.forEach((v) => {
    for (let f = 0; f < plan.folds; f++) {
      trials.push(finishedTrial(plan, v.index, f, 0.7 + ((v.index * 5) % 7) * 0.03 + f * 0.005));
    }
  });
  const leaderboard = buildLeaderboard(plan, trials);
  const best = leaderboard.rows[0];
  const bestVariant = plan.variants.find((v) => v.id === best.variantId) as Plan['variants'][0];
  const trialIndex = best.bestTrialIndex ?? 0;
  const champion: ChampionRecord = {
    sweepId: plan.sweepId,
    variantId: best.variantId,
    trialIndex,
    modelPrefix: `sweeps/${plan.sweepId}/champion`,
    objectiveMean: best.mean ?? 0,
    holdoutAccuracy: 11 / 12,
    testAccuracy: 0.85,
    promotedAt: at(100),
  };
  const confusion = [
    [4, 0, 0],
    [1, 3, 0],
    [0, 0, 4],
  ];
  const metadata: ChampionMetadata = {
    format: 'foldsweep-champion/1',
    classNames: plan.dataset.classes,
    outputs: 'probabilities',
    inputShape: plan.dataset.shape,
    preprocessing: { description: 'x / 255', scale: 1 / 255, offset: 0, layout: 'NHWC' },
    lineage: {
      sweepId: plan.sweepId,
      sweepName: plan.spec.name,
      variant: bestVariant,
      trialIndex,
      fold: plan.trials[trialIndex].fold,
      datasetHash: plan.dataset.hash,
      datasetSource: plan.dataset.source.uri,
      baseModelHash: plan.baseModel.hash,
      baseModelUri: plan.baseModel.uri,
      promotedAt: at(100),
    },
    metrics: {
      objective: 'val_accuracy',
      cvMean: best.mean ?? 0,
      cvStd: best.std ?? 0,
      folds: plan.folds,
      holdout: {
        accuracy: 11 / 12,
        loss: 0.3,
        samples: 12,
        confusion,
        perClassAccuracy: [1, 0.75, 1],
      },
      test: {
        accuracy: 0.85,
        loss: 0.4,
        samples: 60,
        confusion: [
          [18, 2, 0],
          [3, 14, 3],
          [0, 1, 19],
        ],
        perClassAccuracy: [0.9, 0.7, 0.95],
      },
    },
  };
  return {
    input: {
      sweepId: plan.sweepId,
      sweep: { status: 'completed', createdAt: TEST_CREATED_AT, updatedAt: at(101) },
      plan,
      leaderboard,
      trials,
      champion,
      metadata,
      generatedAt: at(102),
    },
    withCurves: trials.length,
  };
}

/**
 * Stores holding a scenario as a sweep leaves them: the sweep record, plan.json, each trial's
 * result.json and state record, and (with a champion) the champion record, metadata.json and
 * stand-in model files. Returns service deps on a MemoryObjectStore and a SQLite state store.
 */
export async function seededStores(scenario: ReportScenario) {
  const tmp = await makeTempDir('foldsweep-report-');
  const objects = new MemoryObjectStore();
  const state = new SqliteStateStore(join(tmp.path, 'state.db'));
  const { input } = scenario;
  const plan = input.plan as Plan;
  await state.createSweep({
    id: plan.sweepId,
    status: input.sweep?.status ?? 'running',
    spec: plan.spec,
    createdAt: TEST_CREATED_AT,
    updatedAt: TEST_CREATED_AT,
    planKey: planKey(plan.sweepId),
    trialsTotal: plan.trials.length,
  });
  await objects.put(planKey(plan.sweepId), JSON.stringify(plan));
  for (const t of input.trials) {
    await objects.put(trialResultKey(plan.sweepId, t.trialIndex), JSON.stringify(t));
    await state.putTrial(trialRecordOf(t, t.finishedAt));
  }
  for (const t of input.trialStates ?? []) await state.putTrial(t);
  if (input.champion) {
    const prefix = input.champion.modelPrefix;
    await objects.put(`${prefix}/model.json`, '{"modelTopology":{}}');
    await objects.put(`${prefix}/weights.bin`, new Uint8Array([1, 2, 3, 4]));
    await objects.put(`${prefix}/metadata.json`, JSON.stringify(input.metadata));
    await state.promoteChampion(input.champion);
  }
  const logger = recordingLogger().logger;
  const deps: ServiceDeps = {
    state,
    objects,
    executor: {
      submit: async () => ({ jobIds: [] }),
      cancel: async () => undefined,
      describe: async (sweepId) => ({ sweepId, trials: [] }),
    },
    datasets: {} as ServiceDeps['datasets'],
    models: {} as ServiceDeps['models'],
    evaluator: {} as ServiceDeps['evaluator'],
    clock: { now: () => new Date(input.generatedAt) },
    logger,
    newId: () => 'unused',
  };
  return {
    deps,
    objects,
    state,
    plan,
    async cleanup() {
      await state.close();
      await tmp.cleanup();
    },
  };
}
