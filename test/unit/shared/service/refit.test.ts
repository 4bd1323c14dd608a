import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { foldSplit } from '../../../../shared/planner/folds.js';
import {
  planRefit,
  REFIT_EPOCH_RULES,
  readRefit,
  refitEpochs,
} from '../../../../shared/planner/refit.js';
import { getJson } from '../../../../shared/ports/object-store.js';
import { ChampionMetadataSchema } from '../../../../shared/schemas/champion.js';
import {
  type Plan,
  rungKey,
  trialAt,
  trialModelPrefix,
  trialResultKey,
} from '../../../../shared/schemas/plan.js';
import type { TrialResult } from '../../../../shared/schemas/trial-result.js';
import { cancelSweep, resumeSweep, settleSweep } from '../../../../shared/service/lifecycle.js';
import { createSweep, getSweep } from '../../../../shared/service/sweeps.js';
import { selectBackend } from '../../../../trainer/backend.js';
import { serializeModel } from '../../../../trainer/model-io.js';
import { tinyCnn } from '../../../helpers/tiny-model.js';
import { makeWorkspace, RungRecordingExecutor } from '../../../helpers/workspace.js';

describe('refitEpochs()', () => {
  it('median: the median of the folds’ best epochs, rounded up', () => {
    expect(refitEpochs([12, 18, 30], 40, 'median')).toBe(18);
    expect(refitEpochs([30, 12, 18], 40, 'median')).toBe(18);
    expect(refitEpochs([3, 4], 40, 'median')).toBe(4);
    expect(refitEpochs([3, 4, 9, 10], 40, 'median')).toBe(7);
    expect(refitEpochs([1, 1, 2], 40, 'median')).toBe(1);
  });

  it('scaled: the median times k/(k-1) for k folds, rounded up', () => {
    expect(refitEpochs([12, 18, 30], 40, 'scaled')).toBe(27);
    expect(refitEpochs([3, 4], 40, 'scaled')).toBe(7); // 3.5 x 2
    expect(refitEpochs([5, 5, 6, 9], 40, 'scaled')).toBe(8); // 5.5 x 4/3 = 7.33
    expect(refitEpochs([30, 31, 33], 40, 'scaled')).toBe(40); // 46.5, capped
    expect(refitEpochs([7], 40, 'scaled')).toBe(7); // one fold: nothing to scale by
  });

  it('max: the latest fold’s best epoch; budget: training.epochs whatever the folds', () => {
    expect(refitEpochs([12, 30, 18], 40, 'max')).toBe(30);
    expect(refitEpochs([1, 1, 2], 40, 'max')).toBe(2);
    expect(refitEpochs([12, 30, 18], 40, 'budget')).toBe(40);
    expect(refitEpochs([1], 25, 'budget')).toBe(25);
  });

  it('stays within 1..maxEpochs under every rule and uses maxEpochs when no fold recorded one', () => {
    for (const rule of REFIT_EPOCH_RULES) {
      expect(refitEpochs([50, 60, 70], 40, rule)).toBe(40);
      expect(refitEpochs([], 25, rule)).toBe(25);
      expect(refitEpochs([0, 0, 0], 40, rule)).toBe(rule === 'budget' ? 40 : 1);
      expect(() => refitEpochs([3], 0, rule)).toThrow(/maxEpochs/);
    }
  });
});

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
let executor: RungRecordingExecutor;
beforeEach(async () => {
  executor = new RungRecordingExecutor();
  ws = await makeWorkspace({ executor });
});
afterEach(async () => {
  await ws.cleanup();
});

/** 2 finetune variants x 3 folds; variant 1 scores best on every fold. */
const twoVariants = (extra: Record<string, unknown> = {}) =>
  ws.spec({
    searchSpace: { strategy: ['finetune'], freezeDepth: [0, 2], lrMultiplier: [1] },
    holdoutFraction: 0.2,
    champion: 'refit',
    training: { learningRate: 0.02, epochs: 10, batchSize: 8, patience: 2 },
    ...extra,
  });
const SCORE = [0.6, 0.9];
/** Best epochs (0-based) of variant 1's folds: 1-based 3, 7, 5 -> median 5. */
const BEST_EPOCH = [2, 6, 4];

/** A tiny 3-class model stored under the trial's model prefix (what a trainer saves). */
async function storeModel(sweepId: string, trialIndex: number) {
  const { tf } = await selectBackend({ prefer: 'wasm' });
  const model = tinyCnn(tf, 3);
  const { modelJson, weights } = await serializeModel(tf, model);
  model.dispose();
  const prefix = trialModelPrefix(sweepId, trialIndex);
  await ws.objects.put(`${prefix}/model.json`, modelJson);
  await ws.objects.put(`${prefix}/weights.bin`, weights);
}

/** Records trial `index` as finished (record + result.json), with a stored model when it succeeded. */
async function finish(plan: Plan, index: number, ok = true) {
  const refit = await readRefit(ws.objects, plan.sweepId);
  const t = trialAt(plan, index, refit);
  if (!t) throw new Error(`no trial ${index}`);
  const isRefit = index === plan.trials.length;
  const objective = ok && !isRefit ? SCORE[t.variantIndex] : null;
  const bestEpoch = isRefit ? (refit?.epochs ?? 1) - 1 : BEST_EPOCH[t.fold];
  const now = new Date().toISOString();
  const result: TrialResult = {
    sweepId: plan.sweepId,
    trialIndex: index,
    variantId: t.variantId,
    fold: t.fold,
    status: ok ? 'succeeded' : 'failed',
    ...(ok ? {} : { reason: 'out of memory' }),
    attempt: 1,
    startedAt: now,
    finishedAt: now,
    durationMs: 1,
    epochs: [],
    objective,
    ...(ok ? { bestEpoch, modelPrefix: trialModelPrefix(plan.sweepId, index) } : {}),
    ...(isRefit ? { refit: true } : {}),
  };
  if (ok) await storeModel(plan.sweepId, index);
  await ws.objects.put(trialResultKey(plan.sweepId, index), JSON.stringify(result));
  await ws.state.putTrial({
    sweepId: plan.sweepId,
    trialIndex: index,
    variantId: t.variantId,
    fold: t.fold,
    status: result.status,
    attempt: 1,
    objective,
    ...(ok ? { bestEpoch } : {}),
    updatedAt: now,
  });
}

async function finishFolds(plan: Plan) {
  for (const t of plan.trials) await finish(plan, t.index);
}

async function metadataOf(sweepId: string) {
  const champion = await ws.state.getChampion(sweepId);
  if (!champion) throw new Error('no champion');
  return ChampionMetadataSchema.parse(
    await getJson(ws.objects, `${champion.modelPrefix}/metadata.json`),
  );
}

describe('the refit in the lifecycle', () => {
  it('plans the refit as the trial after the plan’s, on every non-holdout image', async () => {
    // Prepare
    const { plan } = await createSweep(ws.deps, twoVariants());

    // Act
    const refit = planRefit(plan, 1, BEST_EPOCH);

    // Assess
    expect(refit).toMatchObject({
      trialIndex: 6,
      variantIndex: 1,
      variantId: plan.variants[1].id,
      fold: 3,
      // The default rule: the spec's training.epochs (10), the rate decaying over the last 25%.
      epochs: 10,
      finalDecay: 0.25,
      rule: { foldBestEpochs: [3, 7, 5] },
    });
    expect(refit.rule.description).toMatch(/^training\.epochs: 10 epochs.*last 25% of the steps/);
    expect(planRefit(plan, 1, BEST_EPOCH, { rule: 'median', finalDecay: 0 })).toMatchObject({
      epochs: 5,
      rule: { description: expect.stringMatching(/^median of the folds' best epochs/) },
    });
    expect(planRefit(plan, 1, BEST_EPOCH, { finalDecay: 0 })).not.toHaveProperty('finalDecay');
    const nonHoldout = plan.foldOf.filter((f) => f >= 0).length;
    expect(refit.trainingImages).toBe(nonHoldout);
    expect(nonHoldout).toBeLessThan(plan.foldOf.length);
    expect(foldSplit(plan.foldOf, refit.fold)).toMatchObject({ validation: [] });
    expect(trialAt(plan, 6, refit)).toEqual({
      index: 6,
      variantId: plan.variants[1].id,
      variantIndex: 1,
      fold: 3,
    });
    expect(trialAt(plan, 6)).toBeUndefined();
  });

  it('submits the winner’s refit when the folds finish, then promotes it as the champion', async () => {
    // Prepare
    const { sweep, plan } = await createSweep(ws.deps, twoVariants());
    expect((await getSweep(ws.deps, sweep.id)).progress.trialsTotal).toBe(6 + 1);
    await finishFolds(plan);

    // Act
    const submitted = await settleSweep(ws.deps, sweep.id);
    const duplicate = await settleSweep(ws.deps, sweep.id);

    // Assess: one more submission, of trial 6 only
    expect(submitted).toMatchObject({
      status: 'advanced',
      rung: 0,
      trials: [6],
      refit: { variantId: plan.variants[1].id, epochs: 10 },
    });
    expect(duplicate).toMatchObject({ status: 'skipped' });
    expect(duplicate.status === 'skipped' && duplicate.reason).toMatch(/running its refit/);
    expect(executor.submissions.slice(1)).toEqual([
      { rung: 0, trials: [6], finished: [0, 1, 2, 3, 4, 5], refit: 6 },
    ]);
    expect(await ws.state.getSweep(sweep.id)).toMatchObject({
      status: 'running',
      jobIds: ['job-1', 'job-2'],
      rung: 0,
      rungJobIds: [['job-2']],
    });
    expect(await getJson(ws.objects, rungKey(sweep.id, 0))).toMatchObject({ trials: [6] });
    expect((await ws.state.listTrials(sweep.id)).find((t) => t.trialIndex === 6)?.status).toBe(
      'pending',
    );

    // Act: the refit finishes
    await finish(plan, 6);
    const settled = await settleSweep(ws.deps, sweep.id);

    // Assess
    expect(settled).toMatchObject({ status: 'completed', champion: { trialIndex: 6 } });
    const metadata = await metadataOf(sweep.id);
    expect(metadata.lineage).toMatchObject({ trialIndex: 6, fold: 3 });
    expect(metadata.lineage.champion).toMatchObject({
      kind: 'refit',
      trialIndices: [6],
      trainingImages: plan.foldOf.filter((f) => f >= 0).length,
      refitEpochs: 10,
    });
    expect(metadata.lineage.champion?.epochRule).toMatch(
      /^training\.epochs: 10 epochs.*3, 7, 5.*falling linearly to zero/,
    );
    expect(metadata.metrics.holdout?.samples).toBe(plan.foldOf.filter((f) => f === -1).length);
    const report = new TextDecoder().decode(await ws.objects.get(`sweeps/${sweep.id}/report.md`));
    expect(report).toMatch(/Model: the refit of the winning variant on all \d+ non-holdout/);
  });

  it('keeps the best fold’s model, and says why, when the refit fails', async () => {
    // Prepare
    const { sweep, plan } = await createSweep(ws.deps, twoVariants());
    await finishFolds(plan);
    await settleSweep(ws.deps, sweep.id);
    await finish(plan, 6, false);

    // Act
    const settled = await settleSweep(ws.deps, sweep.id);

    // Assess
    expect(settled).toMatchObject({ status: 'completed' });
    const champion = await ws.state.getChampion(sweep.id);
    expect(plan.trials[champion?.trialIndex ?? -1]?.variantIndex).toBe(1);
    const { lineage } = await metadataOf(sweep.id);
    expect(lineage.champion).toMatchObject({ kind: 'best-fold' });
    expect(lineage.champion?.refitFailed).toMatch(/refit trial failed: out of memory/);
    expect(ws.logs.some((r) => /the refit failed/.test(String(r.msg)))).toBe(true);
  });

  it('resumes a sweep cancelled during its refit by running the refit alone again', async () => {
    // Prepare
    const { sweep, plan } = await createSweep(ws.deps, twoVariants());
    await finishFolds(plan);
    await settleSweep(ws.deps, sweep.id);
    await cancelSweep(ws.deps, sweep.id);

    // Act
    const resumed = await resumeSweep(ws.deps, sweep.id);

    // Assess
    expect(executor.cancelled).toEqual([['job-1', 'job-2']]);
    expect(resumed).toMatchObject({ status: 'running', unfinished: 1 });
    expect(executor.submissions.slice(2)).toEqual([
      { rung: 0, trials: [6], finished: [0, 1, 2, 3, 4, 5], refit: 6 },
    ]);
    expect(await ws.state.getSweep(sweep.id)).toMatchObject({
      status: 'running',
      jobIds: ['job-1', 'job-2', 'job-3'],
    });
  });

  it('does not refit when the spec asks for the best fold', async () => {
    for (const champion of ['best-fold'] as const) {
      // Prepare
      const { sweep, plan } = await createSweep(ws.deps, twoVariants({ champion }));
      await finishFolds(plan);

      // Act
      const settled = await settleSweep(ws.deps, sweep.id);

      // Assess
      expect(settled).toMatchObject({ status: 'completed' });
      expect((await metadataOf(sweep.id)).lineage.champion?.kind).toBe(champion);
      expect(await readRefit(ws.objects, sweep.id)).toBeUndefined();
      expect((await getSweep(ws.deps, sweep.id)).progress.trialsTotal).toBe(6);
    }
  });

  it('fails with aggregation’s reason, submitting nothing, when no variant completed its folds', async () => {
    // Prepare
    const { sweep, plan } = await createSweep(ws.deps, twoVariants());
    for (const t of plan.trials) await finish(plan, t.index, t.fold !== 0);

    // Act
    const settled = await settleSweep(ws.deps, sweep.id);

    // Assess
    expect(settled).toMatchObject({ status: 'failed' });
    expect(executor.submissions).toHaveLength(1);
  });
});
