import { describe, expect, it } from 'vitest';
import { sampleRange } from '../../../../shared/planner/random-search.js';
import { expandVariants } from '../../../../shared/planner/variants.js';
import { mulberry32 } from '../../../../shared/random.js';
import type { SweepSpecInput } from '../../../../shared/schemas/sweep-spec.js';
import { planFactory, sweepSpecFactory } from '../../../helpers/factories.js';

const BODY = ['conv1', 'pool1', 'flatten', 'dense1'];

const randomSpec = (overrides: Partial<SweepSpecInput> = {}) =>
  sweepSpecFactory({
    searchSpace: {
      strategy: ['finetune'],
      lrMultiplier: { min: 0.05, max: 2, scale: 'log' },
      headLrMultiplier: [1, 10],
      freezeDepth: { min: 0, max: 4 },
    },
    search: { method: 'random', maxVariants: 30, seed: 11 },
    ...overrides,
  });

describe('random search (expandVariants with search.method random)', () => {
  it('samples maxVariants distinct variants, numbered in order, within the ranges', () => {
    // Act
    const variants = expandVariants(randomSpec(), BODY);

    // Assess
    expect(variants).toHaveLength(30);
    expect(variants.map((v) => v.index)).toEqual(variants.map((_, i) => i));
    expect(new Set(variants.map((v) => v.id)).size).toBe(30);
    for (const v of variants) {
      expect(v.lrMultiplier).toBeGreaterThanOrEqual(0.05);
      expect(v.lrMultiplier).toBeLessThanOrEqual(2);
      expect(Number(v.lrMultiplier.toPrecision(3))).toBe(v.lrMultiplier);
      expect(Number.isInteger(v.freezeDepth)).toBe(true);
      expect(v.freezeDepth).toBeGreaterThanOrEqual(0);
      expect(v.freezeDepth).toBeLessThanOrEqual(4);
      expect([1, 10]).toContain(v.headLrMultiplier);
      expect(v.learningRate).toBeCloseTo(0.001 * v.lrMultiplier, 12);
    }
  });

  it('is reproducible per seed and differs between seeds', () => {
    // Act
    const a = expandVariants(randomSpec(), BODY);
    const again = expandVariants(randomSpec(), BODY);
    const other = expandVariants(
      randomSpec({ search: { method: 'random', maxVariants: 30, seed: 12 } }),
      BODY,
    );

    // Assess
    expect(again).toEqual(a);
    expect(other.map((v) => v.id)).not.toEqual(a.map((v) => v.id));
  });

  it('uses the spec seed when search.seed is not given', () => {
    // Prepare
    const withoutSeed = (seed: number) =>
      randomSpec({ seed, search: { method: 'random', maxVariants: 5 } });

    // Act
    const a = expandVariants(withoutSeed(3), BODY);
    const b = expandVariants(withoutSeed(3), BODY);
    const c = expandVariants(withoutSeed(4), BODY);

    // Assess
    expect(b).toEqual(a);
    expect(c.map((v) => v.id)).not.toEqual(a.map((v) => v.id));
  });

  it('gives every point of a finite space smaller than maxVariants, each once', () => {
    // Prepare
    const spec = sweepSpecFactory({
      searchSpace: { strategy: ['finetune', 'scratch'], freezeDepth: [0, 2], lrMultiplier: [1] },
      search: { method: 'random', maxVariants: 20 },
    });

    // Act
    const variants = expandVariants(spec, BODY);

    // Assess: finetune freeze 0/2 at lr×1, and scratch
    expect(variants.map((v) => v.id).sort()).toEqual(
      expandVariants({ ...spec, search: undefined }, BODY)
        .map((v) => v.id)
        .sort(),
    );
  });

  it('gives a sampled point the id and description the grid gives the same point', () => {
    // Prepare
    const [sampled] = expandVariants(
      randomSpec({ search: { method: 'random', maxVariants: 1 } }),
      BODY,
    );
    const grid = expandVariants(
      sweepSpecFactory({
        searchSpace: {
          strategy: ['finetune'],
          lrMultiplier: [sampled.lrMultiplier],
          headLrMultiplier: [sampled.headLrMultiplier ?? 1],
          freezeDepth: [sampled.freezeDepth],
        },
      }),
      BODY,
    );

    // Assess
    expect(grid[0]).toEqual(sampled);
  });

  it('records the sampled values in the plan (variants) and plans their trials', () => {
    // Act
    const plan = planFactory({
      spec: {
        searchSpace: { strategy: ['finetune'], lrMultiplier: { min: 0.1, max: 1 } },
        search: { method: 'random', maxVariants: 4 },
      },
    });

    // Assess
    expect(plan.variants).toHaveLength(4);
    expect(plan.trials).toHaveLength(12);
    expect(plan.spec.searchSpace.lrMultiplier).toEqual({ min: 0.1, max: 1, scale: 'linear' });
  });

  it('rejects a freezeDepth range beyond the layers up to the cut on .max', () => {
    // Act
    const attempt = () =>
      planFactory({
        spec: {
          searchSpace: { strategy: ['finetune'], freezeDepth: { min: 0, max: 9 } },
          search: { method: 'random', maxVariants: 4 },
        },
      });

    // Assess
    expect(attempt).toThrow(/searchSpace\.freezeDepth\.max: freezeDepth 9 is beyond/);
  });
});

describe('sampleRange()', () => {
  it('draws log-uniformly: about as many values per decade', () => {
    // Prepare
    const random = mulberry32(1);

    // Act
    const values = Array.from({ length: 3000 }, () =>
      sampleRange({ min: 0.01, max: 10, scale: 'log' }, random, false),
    );

    // Assess
    const decades = [0.1, 1, 10].map(
      (top) => values.filter((v) => v < top && v >= top / 10).length,
    );
    for (const n of decades) expect(n).toBeGreaterThan(850);
  });

  it('draws integers covering both ends of an integer range', () => {
    // Prepare
    const random = mulberry32(2);

    // Act
    const values = new Set(
      Array.from({ length: 200 }, () => sampleRange({ min: 2, max: 5 }, random, true)),
    );

    // Assess
    expect([...values].sort()).toEqual([2, 3, 4, 5]);
  });
});
