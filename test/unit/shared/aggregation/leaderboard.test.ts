import { describe, expect, it } from 'vitest';
import {
  buildLeaderboard,
  formatLeaderboard,
  rowMark,
} from '../../../../shared/aggregation/leaderboard.js';
import type { Plan } from '../../../../shared/schemas/plan.js';
import type { TrialResult } from '../../../../shared/schemas/trial-result.js';
import { planFactory, trialResultFactory, trialResultFor } from '../../../helpers/factories.js';

/** k = 3 folds, variants 0..n-1 = finetune at freezeDepth 0..n-1, lr×1. */
function planWith(variants: number, objective: 'val_accuracy' | 'val_loss' = 'val_accuracy'): Plan {
  return planFactory({
    spec: {
      folds: 3,
      searchSpace: {
        freezeDepth: Array.from({ length: variants }, (_, i) => i),
        lrMultiplier: [1],
      },
      training: { objective },
    },
  });
}

/** A fold outcome: an objective value, 'failed', or undefined for no result yet. */
type Outcome = number | 'failed' | undefined;

/** One result per given outcome; table[v][f] is the outcome of variant v, fold f. */
function resultsFor(plan: Plan, table: Outcome[][]): TrialResult[] {
  return table.flatMap((folds, v) =>
    folds.flatMap((outcome, f) =>
      outcome === undefined
        ? []
        : [
            outcome === 'failed'
              ? trialResultFor(plan, v, f, { status: 'failed', reason: 'OOM', objective: null })
              : trialResultFor(plan, v, f, { objective: outcome }),
          ],
    ),
  );
}

const rowOf = (board: ReturnType<typeof buildLeaderboard>, plan: Plan, variantIndex: number) => {
  const row = board.rows.find((r) => r.variantId === plan.variants[variantIndex].id);
  if (!row) throw new Error(`no row for variant ${variantIndex}`);
  return row;
};

describe('buildLeaderboard()', () => {
  it('computes mean, sample std, min and max over the folds', () => {
    // Prepare
    const plan = planWith(2);
    const results = resultsFor(plan, [
      [0.6, 0.7, 0.8],
      [0.5, 0.5, 0.5],
    ]);

    // Act
    const board = buildLeaderboard(plan, results);

    // Assess
    const row = rowOf(board, plan, 0);
    expect(row.mean).toBeCloseTo(0.7, 12);
    // Sample std: sqrt((0.01 + 0 + 0.01) / (3 - 1)) = 0.1 (the population std would be 0.0816).
    expect(row.std).toBeCloseTo(0.1, 12);
    expect(row.min).toBe(0.6);
    expect(row.max).toBe(0.8);
    expect(row).toMatchObject({
      foldsCompleted: 3,
      foldsFailed: 0,
      foldsPending: 0,
      complete: true,
    });
    expect(rowOf(board, plan, 1)).toMatchObject({ mean: 0.5, std: 0 });
  });

  it('gives std 0 for one succeeded fold and null statistics for none', () => {
    // Prepare
    const plan = planWith(2);
    const results = resultsFor(plan, [[0.9], ['failed', 'failed']]);

    // Act
    const board = buildLeaderboard(plan, results);

    // Assess
    expect(rowOf(board, plan, 0)).toMatchObject({
      mean: 0.9,
      std: 0,
      foldsCompleted: 1,
      foldsPending: 2,
    });
    expect(rowOf(board, plan, 1)).toMatchObject({
      mean: null,
      std: null,
      min: null,
      max: null,
      foldsFailed: 2,
      foldsPending: 1,
      bestTrialIndex: null,
    });
  });

  it('ranks val_accuracy descending and picks the highest mean as best', () => {
    // Prepare
    const plan = planWith(3);
    const results = resultsFor(plan, [
      [0.7, 0.7, 0.7],
      [0.9, 0.9, 0.9],
      [0.8, 0.8, 0.8],
    ]);

    // Act
    const board = buildLeaderboard(plan, results);

    // Assess
    expect(board.rows.map((r) => r.variantId)).toEqual([1, 2, 0].map((v) => plan.variants[v].id));
    expect(board.rows.map((r) => r.rank)).toEqual([1, 2, 3]);
    expect(board.bestVariantId).toBe(plan.variants[1].id);
    expect(board).toMatchObject({ sweepId: plan.sweepId, objective: 'val_accuracy', folds: 3 });
  });

  it('ranks val_loss ascending and takes the lowest-loss fold as bestTrialIndex', () => {
    // Prepare
    const plan = planWith(3, 'val_loss');
    const results = resultsFor(plan, [
      [0.5, 0.4, 0.6],
      [0.3, 0.2, 0.4],
      [0.9, 0.8, 0.7],
    ]);

    // Act
    const board = buildLeaderboard(plan, results);

    // Assess
    expect(board.objective).toBe('val_loss');
    expect(board.rows.map((r) => r.variantId)).toEqual([1, 0, 2].map((v) => plan.variants[v].id));
    expect(board.bestVariantId).toBe(plan.variants[1].id);
    expect(board.rows[0].bestTrialIndex).toBe(1 * 3 + 1);
    expect(rowOf(board, plan, 2).bestTrialIndex).toBe(2 * 3 + 2);
  });

  it('takes the highest-accuracy fold as bestTrialIndex', () => {
    // Prepare
    const plan = planWith(2);
    const results = resultsFor(plan, [
      [0.9, 0.6, 0.7],
      [0.6, 0.7, 0.95],
    ]);

    // Act
    const board = buildLeaderboard(plan, results);

    // Assess
    expect(rowOf(board, plan, 0).bestTrialIndex).toBe(0);
    expect(rowOf(board, plan, 1).bestTrialIndex).toBe(5);
  });

  it('ranks a variant with a failed fold after complete ones, even with a higher mean, and never picks it', () => {
    // Prepare
    const plan = planWith(3);
    const results = resultsFor(plan, [
      [0.99, 0.98, 'failed'],
      [0.6, 0.6, 0.6],
      [0.7, 0.7, 0.7],
    ]);

    // Act
    const board = buildLeaderboard(plan, results);

    // Assess
    const incomplete = rowOf(board, plan, 0);
    expect(incomplete).toMatchObject({
      complete: false,
      foldsCompleted: 2,
      foldsFailed: 1,
      foldsPending: 0,
      rank: 3,
    });
    expect(incomplete.mean).toBeCloseTo(0.985, 12);
    expect(board.rows.map((r) => r.variantId)).toEqual([2, 1, 0].map((v) => plan.variants[v].id));
    expect(board.bestVariantId).toBe(plan.variants[2].id);
  });

  it('counts a succeeded result without a finite objective as a failed fold', () => {
    // Prepare
    const plan = planWith(2);
    const results = [
      ...resultsFor(plan, [
        [0.9, 0.9],
        [0.5, 0.5, 0.5],
      ]),
      trialResultFor(plan, 0, 2, { objective: Number.NaN }),
    ];
    const withNull = [...results.slice(0, -1), trialResultFor(plan, 0, 2, { objective: null })];

    // Act
    const boards = [buildLeaderboard(plan, results), buildLeaderboard(plan, withNull)];

    // Assess
    for (const board of boards) {
      expect(rowOf(board, plan, 0)).toMatchObject({ complete: false, foldsFailed: 1, rank: 2 });
      expect(board.bestVariantId).toBe(plan.variants[1].id);
    }
  });

  it('treats a missing fold as pending: the variant is incomplete', () => {
    // Prepare
    const plan = planWith(2);
    const results = resultsFor(plan, [
      [0.9, undefined, 0.9],
      [0.5, 0.5, 0.5],
    ]);

    // Act
    const board = buildLeaderboard(plan, results);

    // Assess
    expect(rowOf(board, plan, 0)).toMatchObject({
      complete: false,
      foldsPending: 1,
      foldsFailed: 0,
      rank: 2,
    });
    expect(board.bestVariantId).toBe(plan.variants[1].id);
  });

  it('has no best variant when no variant completed every fold', () => {
    // Prepare
    const plan = planWith(3);
    const results = resultsFor(plan, [[0.9, 0.9, 'failed'], [0.8, 'failed', 0.8], [0.7]]);

    // Act
    const board = buildLeaderboard(plan, results);

    // Assess
    expect(board.bestVariantId).toBeNull();
    expect(board.rows.every((r) => !r.complete)).toBe(true);
    // Incomplete variants still rank among themselves by mean.
    expect(board.rows.map((r) => r.variantId)).toEqual([0, 1, 2].map((v) => plan.variants[v].id));
  });

  it('has no best variant before any result arrives', () => {
    // Prepare
    const plan = planWith(2);

    // Act
    const board = buildLeaderboard(plan, []);

    // Assess
    expect(board.bestVariantId).toBeNull();
    expect(board.rows.map((r) => r.foldsPending)).toEqual([3, 3]);
  });

  it('ranks incomplete variants without any succeeded fold last', () => {
    // Prepare
    const plan = planWith(3, 'val_loss');
    const results = resultsFor(plan, [['failed'], [5, 'failed'], [0.1, 0.1, 0.1]]);

    // Act
    const board = buildLeaderboard(plan, results);

    // Assess
    expect(board.rows.map((r) => r.variantId)).toEqual([2, 1, 0].map((v) => plan.variants[v].id));
  });

  it('counts a retried trial once, with its latest attempt, whatever the delivery order', () => {
    // Prepare
    const plan = planWith(2);
    const base = resultsFor(plan, [
      [0.8, 0.8],
      [0.7, 0.7, 0.7],
    ]);
    const failedFirst = trialResultFor(plan, 0, 2, {
      status: 'failed',
      reason: 'spot interruption',
      objective: null,
      attempt: 1,
    });
    const retried = trialResultFor(plan, 0, 2, { objective: 0.8, attempt: 2 });

    for (const results of [
      [...base, failedFirst, retried],
      [...base, retried, failedFirst],
    ]) {
      // Act
      const board = buildLeaderboard(plan, results);

      // Assess
      expect(rowOf(board, plan, 0)).toMatchObject({
        complete: true,
        foldsCompleted: 3,
        foldsFailed: 0,
        rank: 1,
      });
      expect(board.bestVariantId).toBe(plan.variants[0].id);
    }
  });

  it('lets a failed later attempt replace an earlier success', () => {
    // Prepare
    const plan = planWith(2);
    const results = [
      ...resultsFor(plan, [
        [0.9, 0.9, 0.9],
        [0.5, 0.5, 0.5],
      ]),
      trialResultFor(plan, 0, 1, { status: 'failed', objective: null, attempt: 2 }),
    ];

    // Act
    const board = buildLeaderboard(plan, results);

    // Assess
    expect(rowOf(board, plan, 0)).toMatchObject({
      complete: false,
      foldsCompleted: 2,
      foldsFailed: 1,
    });
    expect(board.bestVariantId).toBe(plan.variants[1].id);
  });

  it('does not count a duplicate delivery of one result twice', () => {
    // Prepare
    const plan = planWith(1);
    const results = resultsFor(plan, [[0.6, 0.7, 0.8]]);
    const duplicated = [...results, { ...results[0] }, { ...results[0] }];

    // Act
    const board = buildLeaderboard(plan, duplicated);

    // Assess
    expect(board.rows[0].foldsCompleted).toBe(3);
    expect(board.rows[0].mean).toBeCloseTo(0.7, 12);
  });

  it('ignores results from another sweep and for trial indices not in the plan', () => {
    // Prepare
    const plan = planWith(2);
    const results = [
      ...resultsFor(plan, [
        [0.5, 0.5, 0.5],
        [0.6, 0.6],
      ]),
      trialResultFor(plan, 1, 2, { sweepId: 'another-sweep', objective: 1 }),
      trialResultFor(plan, 0, 0, { sweepId: 'another-sweep', objective: 1, attempt: 5 }),
      trialResultFactory({ sweepId: plan.sweepId, trialIndex: 6, objective: 1 }),
      trialResultFactory({ sweepId: plan.sweepId, trialIndex: 99, objective: 1 }),
    ];

    // Act
    const board = buildLeaderboard(plan, results);

    // Assess
    expect(rowOf(board, plan, 0)).toMatchObject({ mean: 0.5, foldsCompleted: 3 });
    expect(rowOf(board, plan, 1)).toMatchObject({ mean: 0.6, foldsCompleted: 2, complete: false });
    expect(board.rows).toHaveLength(2);
    expect(board.bestVariantId).toBe(plan.variants[0].id);
  });

  it('breaks a tie on the mean by lower std', () => {
    // Prepare
    const plan = planWith(2);
    const results = resultsFor(plan, [
      [0.25, 0.5, 0.75],
      [0.5, 0.5, 0.5],
    ]);

    // Act
    const board = buildLeaderboard(plan, results);

    // Assess
    expect(board.rows[0].mean).toBe(board.rows[1].mean);
    expect(board.rows.map((r) => r.variantId)).toEqual([1, 0].map((v) => plan.variants[v].id));
    expect(board.bestVariantId).toBe(plan.variants[1].id);
  });

  it('breaks a tie on mean and std by variant order', () => {
    // Prepare
    const plan = planWith(3, 'val_loss');
    const results = resultsFor(plan, [
      [0.75, 0.5, 0.25],
      [0.5, 0.5, 0.5],
      [0.25, 0.5, 0.75],
    ]);

    // Act
    const board = buildLeaderboard(plan, results);

    // Assess
    expect(board.rows.map((r) => r.variantId)).toEqual([1, 0, 2].map((v) => plan.variants[v].id));
  });

  it('copies the variant parameters into each row', () => {
    // Prepare
    const plan = planFactory({
      spec: {
        searchSpace: { strategy: ['finetune', 'scratch'], freezeDepth: [2], lrMultiplier: [0.5] },
        training: { learningRate: 0.002 },
      },
    });

    // Act
    const board = buildLeaderboard(plan, []);

    // Assess
    expect(
      board.rows.map(({ description, strategy, freezeDepth, lrMultiplier, learningRate }) => ({
        description,
        strategy,
        freezeDepth,
        lrMultiplier,
        learningRate,
      })),
    ).toEqual([
      {
        description: 'finetune freeze=2 lr×0.5',
        strategy: 'finetune',
        freezeDepth: 2,
        lrMultiplier: 0.5,
        learningRate: 0.001,
      },
      {
        description: 'scratch',
        strategy: 'scratch',
        freezeDepth: 0,
        lrMultiplier: 1,
        learningRate: 0.002,
      },
    ]);
  });
});

describe('formatLeaderboard()', () => {
  it('marks the best row, and only it, as champion', () => {
    // Prepare
    const plan = planWith(3);
    const board = buildLeaderboard(
      plan,
      resultsFor(plan, [
        [0.7, 0.7, 0.7],
        [0.9, 0.8, 0.85],
        [0.6, 0.6, 0.6],
      ]),
    );

    // Act
    const text = formatLeaderboard(board);

    // Assess
    const lines = text.split('\n');
    const champions = lines.filter((l) => l.includes('champion'));
    expect(champions).toHaveLength(1);
    expect(champions[0]).toContain(plan.variants[1].id);
    expect(champions[0]).toMatch(/^1\s+finetune freeze=1 lr×1\s/);
    expect(champions[0]).toContain('0.8500');
    expect(champions[0]).toContain('0.0500');
    expect(champions[0]).toContain('3/3');
    expect(lines[0]).toContain('val_accuracy mean');
    expect(lines.filter((l) => /\sok$/.test(l))).toHaveLength(2);
  });

  it('shows running and failed variants, and no champion when none is complete', () => {
    // Prepare
    const plan = planWith(3);
    const board = buildLeaderboard(plan, resultsFor(plan, [[0.9], [0.8, 'failed', 'failed'], []]));

    // Act
    const text = formatLeaderboard(board);

    // Assess
    expect(text).not.toContain('champion');
    const lineOf = (v: number) => text.split('\n').find((l) => l.includes(plan.variants[v].id));
    expect(lineOf(0)).toMatch(/1\/3\s+running$/);
    expect(lineOf(1)).toMatch(/1\/3\s+incomplete \(2 failed\)$/);
    expect(lineOf(2)).toMatch(/\s-\s+-\s+0\/3\s+running$/);
  });

  it('aligns every row to the header columns', () => {
    // Prepare
    const plan = planWith(2);
    const board = buildLeaderboard(plan, resultsFor(plan, [[0.5, 0.5, 0.5], [0.25]]));

    // Act
    const lines = formatLeaderboard(board).split('\n');

    // Assess
    // Header, rule, 2 rows, then a blank line and the ranking verdict.
    expect(lines).toHaveLength(2 + 2 + 2);
    expect(lines[1]).toMatch(/^[- ]+$/);
    expect(lines[5]).toBe(board.verdict?.text);
    const idColumn = lines[0].indexOf('id');
    for (const line of lines.slice(2, 4)) {
      expect(line.slice(idColumn, idColumn + 8)).toMatch(/^[0-9a-f]{8}$/);
    }
  });
});

describe('the ranking verdict', () => {
  it('separates first from second when it wins every fold by a steady margin', () => {
    const plan = planWith(2);
    const board = buildLeaderboard(
      plan,
      resultsFor(plan, [
        [0.9, 0.91, 0.92],
        [0.8, 0.8, 0.8],
      ]),
    );
    // diffs 0.10, 0.11, 0.12: mean 0.11, sd 0.01; corrected t = 0.11 / sqrt(1e-4 x (1/3 + 1/2))
    // = 12.05 > 4.303 (2 degrees of freedom).
    expect(board.verdict?.separated).toBe(true);
    expect(board.verdict?.meanDifference).toBeCloseTo(0.11, 12);
    expect(board.verdict?.t).toBeCloseTo(0.11 / Math.sqrt(1e-4 * (1 / 3 + 1 / 2)), 6);
    expect(board.verdict?.text).toMatch(/beyond noise/);
    expect(board.verdict?.text).toMatch(/by 11\.0 points over the same 3 folds/);
    expect(formatLeaderboard(board)).toContain(board.verdict?.text);
  });

  it('calls a lead within the folds’ noise a tie, although its mean is higher', () => {
    const plan = planWith(2);
    const board = buildLeaderboard(
      plan,
      resultsFor(plan, [
        [0.9, 0.7, 0.95],
        [0.8, 0.8, 0.8],
      ]),
    );
    // diffs 0.1, -0.1, 0.15: mean 0.05, a plain paired t of 0.66 and a corrected one of 0.47.
    expect(board.rows[0].variantId).toBe(plan.variants[0].id);
    expect(board.verdict?.separated).toBe(false);
    expect(board.verdict?.text).toMatch(/within noise .*treat them as tied/);
  });

  it('pairs only folds both completed, and on val_loss the lower loss leads', () => {
    const plan = planWith(2, 'val_loss');
    const board = buildLeaderboard(
      plan,
      resultsFor(plan, [
        [0.2, 0.21, 0.22],
        [0.5, 0.5, 'failed'],
      ]),
    );
    // The second variant is incomplete but listed second: the pair is over folds 0 and 1 only.
    expect(board.verdict?.meanDifference).toBeCloseTo(0.295, 12);
    expect(board.verdict?.text).toMatch(/by 0\.2950 in loss over the same 2 folds/);
  });

  it('says plainly when scratch wins', () => {
    const plan = planFactory({
      spec: { folds: 3, searchSpace: { strategy: ['finetune', 'scratch'], freezeDepth: [0] } },
    });
    const scratch = plan.variants.findIndex((v) => v.strategy === 'scratch');
    const table: Outcome[][] = plan.variants.map((_, v) =>
      v === scratch ? [0.9, 0.9, 0.9] : [0.6, 0.6, 0.6],
    );
    const board = buildLeaderboard(plan, resultsFor(plan, table));
    expect(board.verdict?.scratchWon).toBe(true);
    expect(board.verdict?.text).toMatch(/the base model did not help on this data/);

    // Within noise of second place, it says so instead.
    const close: Outcome[][] = plan.variants.map((_, v) =>
      v === scratch ? [0.9, 0.7, 0.95] : [0.8, 0.8, 0.8],
    );
    const tied = buildLeaderboard(plan, resultsFor(plan, close));
    expect(tied.verdict?.scratchWon).toBe(true);
    expect(tied.verdict?.text).toMatch(/within noise of second place: .*did not clearly help/);
  });

  it('treats means equal but for float rounding as a tie, broken by the lower std', () => {
    const plan = planWith(2);
    // The same sum but for 3e-12: without the tolerance the first variant would rank first.
    const a = [0.9225, 0.8521, 0.9362];
    const b = [0.9362, 0.9225, 0.8521].map((x) => x - 1e-12);
    const board = buildLeaderboard(
      plan,
      resultsFor(plan, [a, b.map((x, i) => (i === 0 ? x - 0.03 : x + 0.015))]),
    );
    expect(rowOf(board, plan, 0).mean).not.toBe(rowOf(board, plan, 1).mean);
    expect(
      Math.abs((rowOf(board, plan, 0).mean ?? 0) - (rowOf(board, plan, 1).mean ?? 0)),
    ).toBeLessThan(1e-9);
    // Variant 1's folds are closer together: it ranks first.
    expect(board.rows[0].variantId).toBe(plan.variants[1].id);
  });

  it('has no verdict without a complete variant', () => {
    const plan = planWith(2);
    const board = buildLeaderboard(
      plan,
      resultsFor(plan, [
        [0.9, 'failed', 0.9],
        [0.8, undefined, 0.8],
      ]),
    );
    expect(board.verdict).toBeNull();
  });
});

describe('choosing the champion (selection)', () => {
  /** finetune freeze 0 and 3, scratch and bottleneck-linear C 0.1 and 1: 5 variants. */
  const mixedPlan = (selection?: 'one-se' | 'best-mean') =>
    planFactory({
      // 100 images: folds of unequal sizes, as in the practice task.
      dataset: { countsPerClass: [34, 33, 33] },
      spec: {
        folds: 3,
        ...(selection ? { selection } : {}),
        searchSpace: {
          strategy: ['scratch', 'finetune', 'bottleneck-linear'],
          freezeDepth: [0, 3],
          lrMultiplier: [1],
          svmC: [0.1, 1],
        },
      },
    });
  const indexOf = (plan: Plan, description: string) => {
    const i = plan.variants.findIndex((v) => rowDescription(plan, v.index) === description);
    if (i < 0) throw new Error(`no variant ${description}`);
    return i;
  };
  const rowDescription = (plan: Plan, i: number) =>
    buildLeaderboard(plan, []).rows.find((r) => r.variantId === plan.variants[i].id)?.description;
  /** The outcomes by description; every variant not named scores 0.5 on every fold. */
  const outcomes = (plan: Plan, byDescription: Record<string, Outcome[]>) =>
    resultsFor(
      plan,
      plan.variants.map(
        (v) => byDescription[rowDescription(plan, v.index) ?? ''] ?? [0.5, 0.5, 0.5],
      ),
    );
  const rowMarkOf = (board: ReturnType<typeof buildLeaderboard>, plan: Plan, i: number) =>
    rowMark(rowOf(board, plan, i), board);
  const championOf = (plan: Plan, board: ReturnType<typeof buildLeaderboard>) =>
    rowDescription(
      plan,
      plan.variants.findIndex((v) => v.id === board.bestVariantId),
    );

  /** Validation images per fold of the plan (the factory's folds are of unequal sizes). */
  const foldSizes = (plan: Plan) =>
    Array.from({ length: plan.folds }, (_, f) => plan.foldOf.filter((x) => x === f).length);

  it('defaults to best-mean, where the same number of correct validation images is a tie that goes to the simpler variant', () => {
    const plan = mixedPlan();
    expect(plan.selection).toBe('best-mean');
    expect(plan.spec.selection).toBeUndefined();
    const sizes = foldSizes(plan);
    expect(new Set(sizes).size).toBeGreaterThan(1);
    const [big, small] = [sizes.indexOf(Math.max(...sizes)), sizes.indexOf(Math.min(...sizes))];
    // Both get 20 images of each fold right but one; scratch misses its one in the biggest fold,
    // freeze=3 in the smallest, so scratch's mean is a little higher: the same count, a tie.
    const accuracies = (miss: number) => sizes.map((m, f) => (f === miss ? 19 : 20) / m);
    const results = outcomes(plan, {
      scratch: accuracies(big),
      'finetune freeze=3 lr×1': accuracies(small),
    });
    const board = buildLeaderboard(plan, results);
    expect(board.rows[0].description).toBe('scratch');
    expect(board.rows[1].description).toBe('finetune freeze=3 lr×1');
    expect(championOf(plan, board)).toBe('finetune freeze=3 lr×1');
    expect(rowMarkOf(board, plan, indexOf(plan, 'finetune freeze=3 lr×1'))).toBe('champion');
    expect(rowMarkOf(board, plan, indexOf(plan, 'scratch'))).toBe('ok');
    expect(board.selection).toMatchObject({
      rule: 'best-mean',
      bestMean: board.rows[0].variantId,
      bound: null,
    });
    const total = sizes.reduce((x, y) => x + y, 0);
    expect(board.selection?.text).toContain(
      `the simplest of the variants tied with first place: it classified as many validation images right as scratch (${3 * 20 - 1} of ${total};`,
    );
    expect(formatLeaderboard(board)).toContain(board.selection?.text);

    // One image more for scratch: no longer a tie, first place wins.
    const ahead = buildLeaderboard(
      plan,
      outcomes(plan, {
        scratch: sizes.map((m) => 20 / m),
        'finetune freeze=3 lr×1': accuracies(small),
      }),
    );
    expect(championOf(plan, ahead)).toBe('scratch');
    expect(ahead.selection?.text).toBe('');

    // A plan written before selection rules: first place, ties broken by the lower std.
    const { selection: _, ...older } = plan;
    const old = buildLeaderboard(older, results);
    expect(championOf(plan, old)).toBe('scratch');
    expect(old.selection).toMatchObject({ rule: 'best-mean-lower-std', bound: null, text: '' });
    const exact = outcomes(plan, {
      scratch: [0.9, 0.8, 0.85],
      'finetune freeze=3 lr×1': [0.95, 0.75, 0.85],
    });
    expect(championOf(plan, buildLeaderboard(older, exact))).toBe('scratch');
    expect(championOf(plan, buildLeaderboard(plan, exact))).toBe('finetune freeze=3 lr×1');
  });

  it('one-se: the simplest variant within one standard error of first place, which it keeps when none is', () => {
    const plan = mixedPlan('one-se');
    // Scratch leads finetune freeze=3 by 0.7 points (about one image), within one standard error.
    const results = outcomes(plan, {
      scratch: [0.88, 0.82, 0.85],
      'finetune freeze=3 lr×1': [0.85, 0.82, 0.86],
    });
    const board = buildLeaderboard(plan, results);
    expect(board.rows[0].description).toBe('scratch');
    expect(championOf(plan, board)).toBe('finetune freeze=3 lr×1');
    // bound = mean 0.85 - std 0.03 / sqrt(3)
    expect(board.selection?.rule).toBe('one-se');
    expect(board.selection?.bound).toBeCloseTo(0.85 - 0.03 / Math.sqrt(3), 9);
    expect(board.selection?.text).toMatch(
      /^Champion: finetune freeze=3 lr×1 \(0\.8433\), the simplest of the variants tied with first place: its mean is within one standard error of scratch's \(0\.8500 − 0\.0173\)/,
    );
    // The same folds under best-mean: not the same number of correct images, scratch wins.
    const bestMean = mixedPlan('best-mean');
    const strict = buildLeaderboard(
      bestMean,
      outcomes(bestMean, {
        scratch: [0.88, 0.82, 0.85],
        'finetune freeze=3 lr×1': [0.85, 0.82, 0.86],
      }),
    );
    expect(championOf(bestMean, strict)).toBe('scratch');

    // finetune freeze=0 leads with steady folds: its standard error is small, freeze=3 is 1
    // point behind, outside it.
    const steady = buildLeaderboard(
      plan,
      outcomes(plan, {
        'finetune freeze=0 lr×1': [0.92, 0.93, 0.92],
        'finetune freeze=3 lr×1': [0.91, 0.92, 0.91],
      }),
    );
    expect(championOf(plan, steady)).toBe('finetune freeze=0 lr×1');
    expect(steady.selection?.text).toBe('');
  });

  it('orders by simplicity: a linear probe, then the deeper freeze, then scratch; the better mean breaks a tie in simplicity', () => {
    const plan = mixedPlan('one-se');
    // Every variant within the leader's (noisy) standard error.
    const noisy: Outcome[] = [0.95, 0.75, 0.85];
    const all = (probe: Outcome[]) =>
      outcomes(plan, {
        scratch: noisy,
        'finetune freeze=0 lr×1': [0.94, 0.74, 0.84],
        'finetune freeze=3 lr×1': [0.93, 0.73, 0.83],
        'bottleneck-linear C=1': probe,
        'bottleneck-linear C=0.1': [0.6, 0.6, 0.6],
      });
    expect(championOf(plan, buildLeaderboard(plan, all([0.92, 0.72, 0.82])))).toBe(
      'bottleneck-linear C=1',
    );
    // With the probe out of reach, the deeper freeze.
    expect(championOf(plan, buildLeaderboard(plan, all([0.6, 0.6, 0.6])))).toBe(
      'finetune freeze=3 lr×1',
    );
    // Two probes tied in reach: the smaller C.
    const probes = outcomes(plan, {
      scratch: noisy,
      'bottleneck-linear C=1': [0.93, 0.73, 0.83],
      'bottleneck-linear C=0.1': [0.92, 0.72, 0.82],
    });
    expect(championOf(plan, buildLeaderboard(plan, probes))).toBe('bottleneck-linear C=0.1');
    // Within one strategy and freeze: the smaller lrMultiplier, nearer the base, although behind.
    const lr = planFactory({
      spec: {
        folds: 3,
        selection: 'one-se',
        searchSpace: { freezeDepth: [3], lrMultiplier: [1, 2] },
      },
    });
    const rates = buildLeaderboard(
      lr,
      resultsFor(lr, [
        [0.95, 0.75, 0.85],
        [0.96, 0.76, 0.86],
      ]),
    );
    expect(rates.rows[0].variantId).toBe(lr.variants[1].id);
    expect(rates.bestVariantId).toBe(lr.variants[0].id);
    // Equal keys (augmentation is not ordered): the better mean, first place, stays.
    const aug = planFactory({
      spec: {
        folds: 3,
        selection: 'one-se',
        searchSpace: { freezeDepth: [3], augment: [false, true] },
      },
    });
    const augmented = buildLeaderboard(
      aug,
      resultsFor(aug, [
        [0.95, 0.75, 0.85],
        [0.96, 0.76, 0.86],
      ]),
    );
    expect(augmented.bestVariantId).toBe(aug.variants[1].id);
    expect(augmented.selection?.text).toBe('');
  });

  it('never picks an incomplete variant, and on val_loss the bound lies above the best loss', () => {
    const plan = mixedPlan('one-se');
    const board = buildLeaderboard(
      plan,
      outcomes(plan, {
        scratch: [0.95, 0.75, 0.85],
        'bottleneck-linear C=0.1': [0.9, 0.8, 'failed'],
      }),
    );
    expect(championOf(plan, board)).toBe('scratch');

    const losses = planFactory({
      spec: {
        folds: 3,
        selection: 'one-se',
        searchSpace: { freezeDepth: [0, 3] },
        training: { objective: 'val_loss' },
      },
    });
    const lossBoard = buildLeaderboard(
      losses,
      resultsFor(losses, [
        [0.3, 0.5, 0.4],
        [0.35, 0.55, 0.45],
      ]),
    );
    // freeze=0 has the lower loss 0.40 (std 0.1, bound 0.4577); freeze=3's 0.45 is within it.
    expect(lossBoard.rows[0].variantId).toBe(losses.variants[0].id);
    expect(lossBoard.selection?.bound).toBeCloseTo(0.4 + 0.1 / Math.sqrt(3), 9);
    expect(lossBoard.bestVariantId).toBe(losses.variants[1].id);
    expect(lossBoard.selection?.text).toMatch(/\(0\.4000 \+ 0\.0577\)/);
  });
});
