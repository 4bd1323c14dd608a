import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../../shared/errors.js';
import { assignFolds, foldSplit } from '../../../../shared/planner/folds.js';
import { mulberry32, shuffleInPlace } from '../../../../shared/random.js';
import { labelsForCounts } from '../../../helpers/factories.js';

/** Labels with `counts[c]` samples of class c, in a seeded random order. */
function shuffledLabels(counts: readonly number[], seed: number): number[] {
  return shuffleInPlace(Array.from(labelsForCounts(counts)), mulberry32(seed));
}

const spread = (xs: readonly number[]) => Math.max(...xs) - Math.min(...xs);

/** countsByFold[c][f]: samples of class c validated in fold f. */
function countsByClassAndFold(
  labels: ArrayLike<number>,
  foldOf: number[],
  classes: number,
  k: number,
) {
  const counts = Array.from({ length: classes }, () => new Array<number>(k).fill(0));
  foldOf.forEach((f, i) => {
    if (f >= 0) counts[labels[i]][f]++;
  });
  return counts;
}

function holdoutByClass(labels: ArrayLike<number>, foldOf: number[], classes: number) {
  const counts = new Array<number>(classes).fill(0);
  foldOf.forEach((f, i) => {
    if (f === -1) counts[labels[i]]++;
  });
  return counts;
}

/** 200 seeded random datasets that all satisfy assignFolds' precondition. */
function randomCases() {
  const random = mulberry32(20240101);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const fractions = [0, 0.1, 0.15, 0.25, 0.3, 0.5];
  return Array.from({ length: 200 }, (_, n) => {
    const classes = int(2, 6);
    const k = int(2, 8);
    const holdoutFraction = fractions[int(0, fractions.length - 1)];
    const counts = Array.from({ length: classes }, () => {
      let count = int(k, k + 40);
      while (count - Math.round(count * holdoutFraction) < k) count++;
      return count;
    });
    return {
      n,
      classes,
      k,
      holdoutFraction,
      counts,
      labels: shuffledLabels(counts, n),
      seed: n * 7,
    };
  });
}

describe('assignFolds()', () => {
  it('returns -1 (holdout) or a fold in [0, k) for every sample', () => {
    for (const c of randomCases()) {
      // Prepare / Act
      const foldOf = assignFolds(c.labels, c.classes, c.k, c.seed, c.holdoutFraction);

      // Assess
      expect(foldOf).toHaveLength(c.labels.length);
      for (const f of foldOf) {
        expect(Number.isInteger(f)).toBe(true);
        expect(f).toBeGreaterThanOrEqual(-1);
        expect(f).toBeLessThan(c.k);
      }
    }
  });

  it('stratifies: within each class, fold counts differ by at most 1', () => {
    for (const c of randomCases()) {
      // Prepare / Act
      const foldOf = assignFolds(c.labels, c.classes, c.k, c.seed, c.holdoutFraction);

      // Assess
      const counts = countsByClassAndFold(c.labels, foldOf, c.classes, c.k);
      for (const perFold of counts) expect(spread(perFold), `case ${c.n}`).toBeLessThanOrEqual(1);
    }
  });

  it('keeps the overall fold sizes within 1 of each other, across classes', () => {
    for (const c of randomCases()) {
      // Prepare / Act
      const foldOf = assignFolds(c.labels, c.classes, c.k, c.seed, c.holdoutFraction);

      // Assess
      const sizes = new Array<number>(c.k).fill(0);
      for (const f of foldOf) if (f >= 0) sizes[f]++;
      expect(spread(sizes), `case ${c.n}`).toBeLessThanOrEqual(1);
    }
  });

  it('keeps round(holdoutFraction x n_class) samples of each class out of all folds', () => {
    for (const c of randomCases()) {
      // Prepare / Act
      const foldOf = assignFolds(c.labels, c.classes, c.k, c.seed, c.holdoutFraction);

      // Assess
      expect(holdoutByClass(c.labels, foldOf, c.classes)).toEqual(
        c.counts.map((n) => Math.round(n * c.holdoutFraction)),
      );
    }
  });

  it.each([
    { n: 10, fraction: 0.15, holdout: 2 },
    { n: 7, fraction: 0.15, holdout: 1 },
    { n: 30, fraction: 0.15, holdout: 5 },
    { n: 7, fraction: 0.5, holdout: 4 },
    { n: 20, fraction: 0.1, holdout: 2 },
    { n: 3, fraction: 0.1, holdout: 0 },
    { n: 13, fraction: 0.3, holdout: 4 },
  ])(
    'holds out $holdout of $n samples at holdoutFraction $fraction',
    ({ n, fraction, holdout }) => {
      // Prepare
      const labels = labelsForCounts([n, 40]);

      // Act
      const foldOf = assignFolds(labels, 2, 2, 1, fraction);

      // Assess
      expect(holdoutByClass(labels, foldOf, 2)[0]).toBe(holdout);
    },
  );

  it('holds nothing out by default', () => {
    // Prepare
    const labels = labelsForCounts([9, 9, 9]);

    // Act
    const foldOf = assignFolds(labels, 3, 3, 0);

    // Assess
    expect(foldOf).not.toContain(-1);
  });

  it('gives the same assignment for the same seed', () => {
    // Prepare
    const labels = shuffledLabels([30, 25, 40], 3);

    // Act
    const a = assignFolds(labels, 3, 4, 11, 0.2);
    const b = assignFolds([...labels], 3, 4, 11, 0.2);

    // Assess
    expect(b).toEqual(a);
  });

  it('gives a different assignment (and holdout) for every different seed', () => {
    // Prepare
    const labels = shuffledLabels([30, 25, 40], 3);
    const seeds = [0, 1, 2, 3, 7, 42, 1000, 2 ** 31 - 1];

    // Act
    const assignments = seeds.map((seed) => assignFolds(labels, 3, 4, seed, 0.2));

    // Assess
    const distinct = new Set(assignments.map((a) => a.join(',')));
    expect(distinct.size).toBe(seeds.length);
    const holdouts = new Set(
      assignments.map((a) => a.flatMap((f, i) => (f === -1 ? [i] : [])).join(',')),
    );
    expect(holdouts.size).toBe(seeds.length);
  });

  it('does not deal samples in index order (it shuffles within each class)', () => {
    // Prepare
    const labels = new Array<number>(60).fill(0);

    // Act
    const foldOf = assignFolds(labels, 1, 3, 5);

    // Assess
    const roundRobin = labels.map((_, i) => i % 3);
    expect(foldOf).not.toEqual(roundRobin);
  });

  it('accepts labels as a Uint8Array', () => {
    // Prepare
    const labels = labelsForCounts([6, 6]);

    // Act
    const fromTyped = assignFolds(labels, 2, 3, 9);
    const fromArray = assignFolds(Array.from(labels), 2, 3, 9);

    // Assess
    expect(fromTyped).toEqual(fromArray);
  });

  it.each([
    { counts: [10, 2], k: 3, fraction: 0, cls: 1, rest: 2 },
    { counts: [1, 10], k: 2, fraction: 0, cls: 0, rest: 1 },
    { counts: [10, 4], k: 3, fraction: 0.5, cls: 1, rest: 2 },
    { counts: [10, 10, 5], k: 3, fraction: 0.5, cls: 2, rest: 2 },
  ])(
    'throws a ValidationError on folds when class $cls has $rest samples outside the holdout and k=$k',
    ({ counts, k, fraction, cls, rest }) => {
      // Prepare
      const labels = labelsForCounts(counts);

      // Act
      let caught: unknown;
      try {
        assignFolds(labels, counts.length, k, 0, fraction);
      } catch (err) {
        caught = err;
      }

      // Assess
      expect(caught).toBeInstanceOf(ValidationError);
      const err = caught as ValidationError;
      expect(err.issues).toHaveLength(1);
      expect(err.issues[0].path).toBe('folds');
      expect(err.issues[0].message).toContain(`class ${cls} has ${rest} samples`);
      expect(err.issues[0].message).toContain(`folds=${k}`);
    },
  );

  it('accepts a class with exactly k samples outside the holdout', () => {
    // Prepare
    const labels = labelsForCounts([10, 6]);

    // Act
    const foldOf = assignFolds(labels, 2, 3, 0, 0.5);

    // Assess
    const counts = countsByClassAndFold(labels, foldOf, 2, 3);
    expect(counts[1]).toEqual([1, 1, 1]);
  });
});

describe('foldSplit()', () => {
  it('splits a hand-made assignment into train, validation and holdout', () => {
    // Prepare
    const foldOf = [0, 1, -1, 2, 0, 1, -1];

    // Act
    const split = foldSplit(foldOf, 1);

    // Assess
    expect(split).toEqual({ train: [0, 3, 4], validation: [1, 5], holdout: [2, 6] });
  });

  it('partitions the samples for every fold, validating each non-holdout sample exactly once', () => {
    for (const c of randomCases().slice(0, 50)) {
      // Prepare
      const foldOf = assignFolds(c.labels, c.classes, c.k, c.seed, c.holdoutFraction);
      const validatedTimes = new Array<number>(foldOf.length).fill(0);

      for (let fold = 0; fold < c.k; fold++) {
        // Act
        const { train, validation, holdout } = foldSplit(foldOf, fold);

        // Assess
        const all = [...train, ...validation, ...holdout].sort((a, b) => a - b);
        expect(all).toEqual(foldOf.map((_, i) => i));
        expect(validation.every((i) => foldOf[i] === fold)).toBe(true);
        expect(train.every((i) => foldOf[i] !== fold && foldOf[i] !== -1)).toBe(true);
        expect(holdout.every((i) => foldOf[i] === -1)).toBe(true);
        for (const i of validation) validatedTimes[i]++;
      }
      expect(validatedTimes).toEqual(foldOf.map((f) => (f === -1 ? 0 : 1)));
    }
  });
});

describe('shuffleInPlace()', () => {
  it('returns a permutation of its input, the same for the same seed', () => {
    // Prepare
    const items = Array.from({ length: 50 }, (_, i) => i);

    // Act
    const a = shuffleInPlace([...items], mulberry32(3));
    const b = shuffleInPlace([...items], mulberry32(3));
    const c = shuffleInPlace([...items], mulberry32(4));

    // Assess
    expect([...a].sort((x, y) => x - y)).toEqual(items);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    expect(a).not.toEqual(items);
  });
});

describe('mulberry32()', () => {
  it('yields the same floats in [0, 1) for the same seed', () => {
    // Prepare
    const a = mulberry32(123);
    const b = mulberry32(123);

    // Act
    const xs = Array.from({ length: 1000 }, () => a());
    const ys = Array.from({ length: 1000 }, () => b());

    // Assess
    expect(ys).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new Set(xs).size).toBeGreaterThan(990);
  });
});
