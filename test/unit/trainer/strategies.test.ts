import { beforeAll, describe, expect, it } from 'vitest';
import { planRefit } from '../../../shared/planner/refit.js';
import { getJson } from '../../../shared/ports/object-store.js';
import type { Plan } from '../../../shared/schemas/plan.js';
import type { SweepSpecInput } from '../../../shared/schemas/sweep-spec.js';
import { TrialResultSchema } from '../../../shared/schemas/trial-result.js';
import { selectBackend } from '../../../trainer/backend.js';
import { bottleneckKey, bottleneckPrefix } from '../../../trainer/bottleneck-cache.js';
import { evaluateStoredModel } from '../../../trainer/evaluate.js';
import { outputKind } from '../../../trainer/model.js';
import { runTrial } from '../../../trainer/run-trial.js';
import type { Tf } from '../../../trainer/tf.js';
import { tinyBnCnn, tinyCnn } from '../../helpers/tiny-model.js';
import { type TrialFixture, trialFixture } from '../../helpers/trial-fixture.js';

let tf: Tf;
beforeAll(async () => {
  tf = (await selectBackend({ prefer: 'wasm' })).tf;
});

/** Runs every trial of `plan` in order and returns the results. */
async function runAll(fixture: TrialFixture, plan: Plan) {
  await fixture.objects.put(`sweeps/${plan.sweepId}/plan.json`, JSON.stringify(plan));
  const results = [];
  for (const trial of plan.trials) {
    results.push(
      await runTrial({ tf, backend: 'wasm', objects: fixture.objects }, plan, trial.index),
    );
  }
  return results;
}

/** Loads a stored model with nothing but stock tfjs (tf.loadLayersModel on its files). */
async function loadStock(fixture: TrialFixture, prefix: string) {
  const modelJson = (await getJson(fixture.objects, `${prefix}/model.json`)) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: never[] }[];
  };
  const weights = await fixture.objects.get(`${prefix}/weights.bin`);
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: modelJson.modelTopology,
      weightSpecs: modelJson.weightsManifest[0].weights,
      weightData: weights.slice().buffer,
    }),
  );
}

describe('runTrial() with each strategy', () => {
  it('trains finetune, bottleneck-linear and scratch; each model reloads with stock tfjs', async () => {
    // Prepare
    const fixture = await trialFixture(tf, tinyCnn(tf, 4));
    const plan = fixture.plan({
      searchSpace: {
        strategy: ['finetune', 'bottleneck-linear', 'scratch'],
        freezeDepth: [1],
        lrMultiplier: [1],
        svmC: [1],
      },
    });

    // Act
    const results = await runAll(fixture, plan);

    // Assess
    expect(plan.variants.map((v) => v.strategy)).toEqual([
      'finetune',
      'bottleneck-linear',
      'scratch',
    ]);
    for (const result of results) {
      expect(TrialResultSchema.parse(result).status).toBe('succeeded');
      const model = await loadStock(fixture, result.modelPrefix ?? '');
      expect(model.outputs[0].shape).toEqual([null, 3]);
      const strategy = plan.variants[plan.trials[result.trialIndex].variantIndex].strategy;
      expect(outputKind(model)).toBe(strategy === 'bottleneck-linear' ? 'scores' : 'probabilities');
      model.dispose();
    }
  });

  it('runs the refit trial on every non-holdout image for its fixed epochs, without validation', async () => {
    // Prepare
    const fixture = await trialFixture(tf, tinyCnn(tf, 4));
    const plan = fixture.plan({
      holdoutFraction: 0.2,
      searchSpace: {
        strategy: ['finetune', 'bottleneck-linear'],
        freezeDepth: [1],
        lrMultiplier: [1],
        svmC: [1],
      },
    });
    const nonHoldout = plan.foldOf.filter((f) => f >= 0).length;

    for (const variantIndex of [0, 1]) {
      const refit = planRefit(plan, variantIndex, [0, 1, 2], { rule: 'median' });
      const seen: number[] = [];

      // Act
      const result = await runTrial(
        { tf, backend: 'wasm', objects: fixture.objects, onEpoch: (m) => void seen.push(m.epoch) },
        plan,
        refit.trialIndex,
        1,
        refit,
      );

      // Assess
      expect(refit).toMatchObject({ trialIndex: plan.trials.length, epochs: 2 });
      expect(TrialResultSchema.parse(result)).toMatchObject({
        status: 'succeeded',
        refit: true,
        fold: plan.folds,
        trainSamples: nonHoldout,
        valSamples: 0,
        objective: null,
        bestEpoch: 1,
      });
      expect(seen).toEqual([0, 1]);
      expect(result.epochs.map((e) => e.valAccuracy)).toEqual([null, null]);
      const model = await loadStock(fixture, result.modelPrefix ?? '');
      expect(model.outputs[0].shape).toEqual([null, 3]);
      model.dispose();
    }
  });

  it('computes bottleneck features once and reuses them for every fold and C', async () => {
    // Prepare
    const fixture = await trialFixture(tf, tinyCnn(tf, 4));
    const plan = fixture.plan({
      searchSpace: {
        strategy: ['bottleneck-linear', 'finetune'],
        svmC: [0.1, 10],
        freezeDepth: [5],
      },
    });

    // Act
    const results = await runAll(fixture, plan);

    // Assess
    expect(results.map((r) => r.bottleneckCache)).toEqual([
      'miss',
      'hit',
      'hit',
      'hit',
      'hit',
      'hit',
    ]);
    const key = bottleneckKey({
      baseModelHash: plan.baseModel.hash,
      cutLayer: 'fc1',
      datasetHash: plan.dataset.hash,
    });
    expect(await fixture.objects.list('cache/')).toEqual([
      `${bottleneckPrefix(key)}/features.f32`,
      `${bottleneckPrefix(key)}/manifest.json`,
    ]);
    expect(fixture.objects.writes.filter((k) => k.startsWith('cache/'))).toHaveLength(2);
  });

  it('uses no cache for a finetune that trains layers below the cut or augments', async () => {
    // Prepare
    const fixture = await trialFixture(tf, tinyCnn(tf, 4));
    const plan = fixture.plan({
      searchSpace: {
        strategy: ['finetune'],
        freezeDepth: [2, 5],
        lrMultiplier: [1],
        augment: [true],
      },
    });

    // Act
    const results = await runAll(fixture, plan);

    // Assess
    expect(results.map((r) => r.bottleneckCache)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(await fixture.objects.list('cache/')).toEqual([]);
  });

  it('trains the same frozen-body head with the cache on and off', async () => {
    // Prepare: a base with BatchNormalization, frozen through fc1, no dropout.
    const fixture = await trialFixture(tf, tinyBnCnn(tf, 4));
    const spec = (bottleneckCache: boolean): Partial<SweepSpecInput> => ({
      searchSpace: { strategy: ['finetune', 'bottleneck-linear'], freezeDepth: ['fc1'] },
      training: { learningRate: 0.02, epochs: 3, batchSize: 8, patience: 5, bottleneckCache },
    });
    const on = fixture.plan(spec(true), 'sweep-on');
    const off = fixture.plan(spec(false), 'sweep-off');

    // Act
    const cached = await runAll(fixture, on);
    const uncached = await runAll(fixture, off);

    // Assess
    expect(uncached.map((r) => r.bottleneckCache)).toEqual(['off', 'off', 'off', 'off']);
    expect(cached.map((r) => r.bottleneckCache)).toEqual(['miss', 'hit', 'hit', 'hit']);
    cached.forEach((c, i) => {
      const u = uncached[i];
      expect(u.variantId).toBe(c.variantId);
      expect(u.epochs.map((e) => e.valAccuracy)).toEqual(c.epochs.map((e) => e.valAccuracy));
      u.epochs.forEach((e, j) => {
        expect(e.loss).toBeCloseTo(c.epochs[j].loss, 4);
        expect(e.valLoss).toBeCloseTo(c.epochs[j].valLoss as number, 4);
      });
    });
    // The exported models agree too.
    for (const i of [0, 2]) {
      const a = await evaluateStoredModel(
        tf,
        fixture.objects,
        cached[i].modelPrefix ?? '',
        fixture.dataset,
      );
      const b = await evaluateStoredModel(
        tf,
        fixture.objects,
        uncached[i].modelPrefix ?? '',
        fixture.dataset,
      );
      expect(b.accuracy).toBe(a.accuracy);
      expect(b.loss).toBeCloseTo(a.loss, 4);
    }
  });

  it('cuts the base at model.cutLayer and puts the hidden layer and dropout in the new head', async () => {
    // Prepare
    const fixture = await trialFixture(tf, tinyCnn(tf, 4));
    const plan = fixture.plan({
      model: { cutLayer: 'conv2', head: { hiddenUnits: 6, dropout: 0.25 } },
      searchSpace: { strategy: ['finetune', 'bottleneck-linear'], freezeDepth: [1, 'conv2'] },
    });

    // Act
    const results = await runAll(fixture, plan);

    // Assess
    expect(plan.cutLayer).toBe('conv2');
    expect(plan.variants.map((v) => [v.strategy, v.freezeDepth])).toEqual([
      ['finetune', 1],
      ['finetune', 3],
      ['bottleneck-linear', 3],
    ]);
    const names = async (i: number) => {
      const model = await loadStock(fixture, results[i].modelPrefix ?? '');
      const layers = model.layers.map((l) => l.name);
      model.dispose();
      return layers;
    };
    const finetuned = await names(0);
    expect(finetuned).not.toContain('gap');
    expect(finetuned.slice(-4)).toEqual([
      'foldsweep_head_flatten',
      'foldsweep_head_hidden',
      'foldsweep_head_dropout',
      'foldsweep_head',
    ]);
    expect(results[2].bottleneckCache).toBe('miss');
    expect(results[4].bottleneckCache).toBe('hit');
    expect((await names(4)).slice(-2)).toEqual(['foldsweep_head_flatten', 'foldsweep_head']);
  });

  it('keeps the tensor count flat from one trial to the next', async () => {
    // Prepare
    const fixture = await trialFixture(tf, tinyBnCnn(tf, 4));
    const plan = fixture.plan({
      searchSpace: {
        strategy: ['finetune', 'bottleneck-linear', 'scratch'],
        freezeDepth: [2, 6],
        lrMultiplier: [1],
        headLrMultiplier: [3],
        augment: [false, true],
      },
    });
    await fixture.objects.put(`sweeps/${plan.sweepId}/plan.json`, JSON.stringify(plan));
    const deps = { tf, backend: 'wasm' as const, objects: fixture.objects };
    for (const t of plan.trials.filter((t) => t.fold === 0)) await runTrial(deps, plan, t.index);
    const before = tf.memory().numTensors;

    // Act
    for (const t of plan.trials.filter((t) => t.fold === 1)) await runTrial(deps, plan, t.index);

    // Assess
    expect(tf.memory().numTensors).toBe(before);
  });
});
