import { describe, expect, it } from 'vitest';
import {
  halvingProgress,
  plannedTrialCount,
  planRungs,
  promoteRung,
  type RungTrialOutcome,
  rungTrialIndices,
} from '../../../../shared/planner/rungs.js';
import { planFactory } from '../../../helpers/factories.js';

describe('planRungs()', () => {
  it('runs fold 0 of every variant, then one fold of the best ceil(n / eta) per rung', () => {
    // Act
    const rungs = planRungs(30, 3, 3);

    // Assess
    expect(rungs).toEqual([
      { rung: 0, folds: [0], variants: 30 },
      { rung: 1, folds: [1], variants: 10 },
      { rung: 2, folds: [2], variants: 4 },
    ]);
    expect(plannedTrialCount(rungs)).toBe(44);
  });

  it('gives the last rung every remaining fold once one variant is left', () => {
    // Act
    const rungs = planRungs(9, 5, 3);

    // Assess
    expect(rungs).toEqual([
      { rung: 0, folds: [0], variants: 9 },
      { rung: 1, folds: [1], variants: 3 },
      { rung: 2, folds: [2, 3, 4], variants: 1 },
    ]);
  });

  it('handles fewer variants than eta and a single variant', () => {
    // Assess
    expect(planRungs(2, 3, 3)).toEqual([
      { rung: 0, folds: [0], variants: 2 },
      { rung: 1, folds: [1, 2], variants: 1 },
    ]);
    expect(planRungs(1, 3, 3)).toEqual([{ rung: 0, folds: [0, 1, 2], variants: 1 }]);
  });
});

describe('rungTrialIndices()', () => {
  it('lists variant by variant, trial = variantIndex * folds + fold', () => {
    // Assess
    expect(rungTrialIndices({ rung: 0, folds: [0], variants: 3 }, [0, 1, 2], 3)).toEqual([0, 3, 6]);
    expect(rungTrialIndices({ rung: 2, folds: [2, 3, 4], variants: 2 }, [7, 2], 5)).toEqual([
      12, 13, 14, 37, 38, 39,
    ]);
  });
});

describe('promoteRung()', () => {
  it('keeps the best by score, ties broken by the lower variant index', () => {
    // Act
    const { ranked, promoted } = promoteRung(
      [
        { variantIndex: 3, score: 0.8 },
        { variantIndex: 1, score: 0.9 },
        { variantIndex: 2, score: 0.8 },
        { variantIndex: 0, score: 0.5 },
      ],
      2,
      true,
    );

    // Assess
    expect(ranked.map((s) => s.variantIndex)).toEqual([1, 2, 3, 0]);
    expect(promoted).toEqual([1, 2]);
  });

  it('counts a failed trial (null score) as worst, and lower is better for a loss', () => {
    // Act
    const loss = promoteRung(
      [
        { variantIndex: 0, score: null },
        { variantIndex: 1, score: 0.4 },
        { variantIndex: 2, score: 0.2 },
      ],
      2,
      false,
    );
    const allFailed = promoteRung(
      [
        { variantIndex: 4, score: null },
        { variantIndex: 2, score: null },
      ],
      1,
      true,
    );

    // Assess
    expect(loss.ranked.map((s) => s.variantIndex)).toEqual([2, 1, 0]);
    expect(loss.promoted).toEqual([1, 2]);
    expect(allFailed.promoted).toEqual([2]);
  });

  it('keeps at least one and at most all (fewer variants than eta)', () => {
    // Assess
    expect(promoteRung([{ variantIndex: 0, score: 0.1 }], 0, true).promoted).toEqual([0]);
    expect(
      promoteRung(
        [
          { variantIndex: 0, score: 0.1 },
          { variantIndex: 1, score: 0.2 },
        ],
        5,
        true,
      ).promoted,
    ).toEqual([0, 1]);
  });
});

describe('halvingProgress()', () => {
  const plan = { folds: 3, variants: [0, 1, 2, 3, 4], rungs: planRungs(5, 3, 2) };
  const ok = (trialIndex: number, objective: number): RungTrialOutcome => ({
    trialIndex,
    status: 'succeeded',
    objective,
  });

  it('waits in rung 0 until fold 0 of every variant finished', () => {
    // Act
    const progress = halvingProgress(plan, [ok(0, 0.5), ok(3, 0.6)], true);

    // Assess
    expect(progress.current).toBe(0);
    expect(progress.complete).toBe(false);
    expect(progress.rungs[0].trials).toEqual([0, 3, 6, 9, 12]);
  });

  it('promotes by the mean over the folds so far and lists the pruned with their score', () => {
    // Prepare: rungs 5 -> 3 -> 2 variants
    const rung0 = [ok(0, 0.5), ok(3, 0.9), ok(6, 0.7), ok(9, 0.6), ok(12, 0.8)];
    const rung1 = [ok(4, 0.5), ok(7, 0.9), ok(13, 0.8)];
    const failed: RungTrialOutcome = { trialIndex: 4, status: 'failed', objective: null };

    // Act
    const afterRung0 = halvingProgress(plan, rung0, true);
    const afterRung1 = halvingProgress(plan, [...rung0, ...rung1], true);
    const withFailure = halvingProgress(plan, [...rung0, failed, ok(7, 0.9), ok(13, 0.8)], true);
    const done = halvingProgress(plan, [...rung0, ...rung1, ok(8, 0.7), ok(14, 0.7)], true);

    // Assess
    expect(afterRung0.current).toBe(1);
    expect(afterRung0.rungs[0].promoted).toEqual([1, 2, 4]);
    expect(afterRung0.rungs[1].trials).toEqual([4, 7, 13]);
    expect([...afterRung0.pruned]).toEqual([
      [3, { rung: 0, score: 0.6 }],
      [0, { rung: 0, score: 0.5 }],
    ]);
    // means: v1 (0.9+0.5)/2 = 0.7, v2 0.8, v4 0.8: v2 and v4 go on, tie by index
    expect(afterRung1.rungs[1].promoted).toEqual([2, 4]);
    expect(afterRung1.rungs[2].trials).toEqual([8, 14]);
    expect(afterRung1.pruned.get(1)).toEqual({ rung: 1, score: 0.7 });
    expect(withFailure.pruned.get(1)).toEqual({ rung: 1, score: null });
    expect(done.complete).toBe(true);
    expect(done.current).toBe(2);
  });

  it('gives the same rung trials for the planner and a replay (a plan with rungs)', () => {
    // Act
    const planned = planFactory({
      spec: {
        folds: 3,
        searchSpace: { strategy: ['finetune'], freezeDepth: [0, 1, 2, 3], lrMultiplier: [1, 0.1] },
        search: { scheduler: { type: 'successive-halving', eta: 3 } },
      },
    });

    // Assess
    expect(planned.rungs).toEqual([
      { rung: 0, folds: [0], variants: 8 },
      { rung: 1, folds: [1], variants: 3 },
      { rung: 2, folds: [2], variants: 1 },
    ]);
    expect(
      halvingProgress({ ...planned, rungs: planned.rungs ?? [] }, [], true).rungs[0].trials,
    ).toEqual([0, 3, 6, 9, 12, 15, 18, 21]);
  });
});
