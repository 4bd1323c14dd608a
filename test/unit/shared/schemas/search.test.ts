import { describe, expect, it } from 'vitest';
import { toFieldIssues } from '../../../../shared/schemas/issues.js';
import { variantUpperBound } from '../../../../shared/schemas/spec-limits.js';
import { type SweepSpecInput, SweepSpecSchema } from '../../../../shared/schemas/sweep-spec.js';

const base: SweepSpecInput = {
  baseModel: 'models/base/model.json',
  dataset: { uri: '/data/train-images-idx3-ubyte.gz', format: 'idx' },
};

/** The field issues of parsing `base` with `overrides`, or [] when it parses. */
function issuesOf(overrides: Partial<SweepSpecInput>) {
  const parsed = SweepSpecSchema.safeParse({ ...base, ...overrides });
  return parsed.success ? [] : toFieldIssues(parsed.error);
}

const random = { method: 'random', maxVariants: 10 } as const;

describe('SweepSpecSchema searchSpace ranges and search', () => {
  it('accepts ranges for lrMultiplier, headLrMultiplier, svmC and freezeDepth with random search', () => {
    // Prepare
    const spec = {
      ...base,
      searchSpace: {
        strategy: ['finetune', 'bottleneck-linear'],
        lrMultiplier: { min: 0.05, max: 2, scale: 'log' },
        headLrMultiplier: { min: 1, max: 10 },
        svmC: { min: 0.01, max: 100, scale: 'log' },
        freezeDepth: { min: 0, max: 3 },
      },
      search: random,
    };

    // Act
    const parsed = SweepSpecSchema.parse(spec);

    // Assess
    expect(parsed.searchSpace.lrMultiplier).toEqual({ min: 0.05, max: 2, scale: 'log' });
    expect(parsed.searchSpace.headLrMultiplier).toEqual({ min: 1, max: 10, scale: 'linear' });
    expect(parsed.search).toEqual({ method: 'random', maxVariants: 10 });
  });

  it('rejects a range with grid search, saying to use random search or a list', () => {
    // Act
    const issues = issuesOf({ searchSpace: { lrMultiplier: { min: 0.1, max: 1 } } });

    // Assess
    expect(issues).toEqual([
      {
        path: 'searchSpace.lrMultiplier',
        message: expect.stringMatching(
          /search\.method to 'random'.*or give lrMultiplier as a list/,
        ),
      },
    ]);
  });

  it.each([
    [{ min: 2, max: 0.05 }, 'searchSpace.lrMultiplier.min', /min 2 is greater than max 0\.05/],
    [{ min: 0, max: 1, scale: 'log' }, 'searchSpace.lrMultiplier.min', /greater than 0/],
    [{ min: 0.1, max: 500 }, 'searchSpace.lrMultiplier.max', /at most 100/],
    [{ min: 0.1, max: 1, scale: 'cubic' }, 'searchSpace.lrMultiplier.scale', /'linear' or 'log'/],
    [{ min: 0.1 }, 'searchSpace.lrMultiplier.max', /max must be a number/],
    [{ min: 0.1, max: 1, step: 2 }, 'searchSpace.lrMultiplier.step', /unknown field/],
  ])('names the field of a bad range %j', (range, path, message) => {
    // Act
    const issues = issuesOf({
      searchSpace: { lrMultiplier: range as never },
      search: random,
    });

    // Assess
    expect(issues).toContainEqual({ path, message: expect.stringMatching(message) });
  });

  it('names the field of a bad freezeDepth or svmC range', () => {
    // Act
    const issues = issuesOf({
      searchSpace: {
        strategy: ['finetune', 'bottleneck-linear'],
        freezeDepth: { min: 1.5, max: 0 } as never,
        svmC: { min: 10, max: 2e6 },
      },
      search: random,
    });

    // Assess
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: 'searchSpace.freezeDepth.min', message: expect.stringMatching(/integers >= 0/) },
        { path: 'searchSpace.svmC.max', message: 'svmC must be at most 1000000' },
      ]),
    );
  });

  it('still names a bad list entry (a list or a range: the list wins for arrays)', () => {
    // Act
    const issues = issuesOf({ searchSpace: { lrMultiplier: [1, -2] } });

    // Assess
    expect(issues).toEqual([
      { path: 'searchSpace.lrMultiplier.1', message: 'lrMultiplier must be greater than 0' },
    ]);
  });

  it('asks random search for maxVariants and rejects random-only fields with a grid', () => {
    // Act
    const missing = issuesOf({ search: { method: 'random' } });
    const gridExtras = issuesOf({ search: { maxVariants: 5, seed: 1 } });

    // Assess
    expect(missing).toEqual([
      { path: 'search.maxVariants', message: expect.stringMatching(/needs maxVariants/) },
    ]);
    expect(gridExtras.map((i) => i.path)).toEqual(['search.maxVariants', 'search.seed']);
  });

  it('takes a successive-halving scheduler with eta defaulting to 3, and names bad ones', () => {
    // Act
    const parsed = SweepSpecSchema.parse({
      ...base,
      search: { scheduler: { type: 'successive-halving' } },
    });
    const bad = issuesOf({ search: { scheduler: { type: 'hyperband' as never, eta: 1 } } });

    // Assess
    expect(parsed.search?.scheduler).toEqual({ type: 'successive-halving', eta: 3 });
    expect(bad).toEqual([
      { path: 'search.scheduler.type', message: "scheduler.type must be 'successive-halving'" },
      { path: 'search.scheduler.eta', message: 'eta must be at least 2' },
    ]);
  });

  it('counts maxVariants as the variants of a random search (ranges have no length)', () => {
    // Prepare
    const spec = SweepSpecSchema.parse({
      ...base,
      searchSpace: { lrMultiplier: { min: 0.1, max: 1 }, freezeDepth: [0, 1, 2] },
      search: { method: 'random', maxVariants: 40 },
    });

    // Act
    const bound = variantUpperBound(spec);

    // Assess
    expect(bound).toBe(40);
  });
});
