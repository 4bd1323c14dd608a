import { describe, expect, it } from 'vitest';
import { describeVariant, expandVariants } from '../../../../shared/planner/variants.js';
import { fnv1a } from '../../../../shared/random.js';
import type { SweepSpecInput } from '../../../../shared/schemas/sweep-spec.js';
import { sweepSpecFactory } from '../../../helpers/factories.js';

const specWith = (
  searchSpace: SweepSpecInput['searchSpace'],
  training: SweepSpecInput['training'] = {},
) => sweepSpecFactory({ searchSpace, training });

/** [strategy, freezeDepth, lrMultiplier] of each variant, in order. */
const points = (spec: ReturnType<typeof specWith>) =>
  expandVariants(spec).map((v) => [v.strategy, v.freezeDepth, v.lrMultiplier]);

describe('expandVariants()', () => {
  it.each([
    { strategy: ['finetune'], freezeDepth: [0], lrMultiplier: [0.1], size: 1 },
    { strategy: ['finetune'], freezeDepth: [0, 2, 4], lrMultiplier: [1, 0.1], size: 6 },
    { strategy: ['finetune', 'scratch'], freezeDepth: [0, 2, 4], lrMultiplier: [1, 0.1], size: 7 },
    { strategy: ['scratch'], freezeDepth: [0, 2, 4], lrMultiplier: [1, 0.1], size: 1 },
    { strategy: ['finetune'], freezeDepth: [0, 1, 2, 3], lrMultiplier: [1, 0.5, 0.1], size: 12 },
  ] as const)(
    'makes $size variants for strategy=$strategy freezeDepth=$freezeDepth lrMultiplier=$lrMultiplier',
    ({ strategy, freezeDepth, lrMultiplier, size }) => {
      // Prepare
      const spec = specWith({
        strategy: [...strategy],
        freezeDepth: [...freezeDepth],
        lrMultiplier: [...lrMultiplier],
      });

      // Act
      const variants = expandVariants(spec);

      // Assess
      expect(variants).toHaveLength(size);
      expect(variants.map((v) => v.index)).toEqual(variants.map((_, i) => i));
    },
  );

  it('orders variants by strategy as listed, then freezeDepth, then lrMultiplier', () => {
    // Prepare
    const spec = specWith({
      strategy: ['scratch', 'finetune'],
      freezeDepth: [4, 0],
      lrMultiplier: [1, 0.1],
    });

    // Act
    const grid = points(spec);

    // Assess
    expect(grid).toEqual([
      ['scratch', 0, 1],
      ['finetune', 4, 1],
      ['finetune', 4, 0.1],
      ['finetune', 0, 1],
      ['finetune', 0, 0.1],
    ]);
  });

  it('adds scratch once, with freezeDepth 0, lrMultiplier 1 and the scratch learning rate', () => {
    // Prepare
    const spec = specWith(
      {
        strategy: ['finetune', 'scratch', 'scratch'],
        freezeDepth: [2, 3],
        lrMultiplier: [0.1, 0.5],
      },
      { learningRate: 0.002 },
    );

    // Act
    const scratch = expandVariants(spec).filter((v) => v.strategy === 'scratch');

    // Assess
    expect(scratch).toHaveLength(1);
    expect(scratch[0]).toMatchObject({
      index: 4,
      freezeDepth: 0,
      lrMultiplier: 1,
      learningRate: 0.002,
    });
  });

  it('collapses duplicate grid values into one variant, keeping first-seen order', () => {
    // Prepare
    const spec = specWith({
      strategy: ['finetune', 'finetune'],
      freezeDepth: [2, 0, 2],
      lrMultiplier: [0.1, 0.1, 1],
    });

    // Act
    const variants = expandVariants(spec);

    // Assess
    expect(variants.map((v) => [v.freezeDepth, v.lrMultiplier])).toEqual([
      [2, 0.1],
      [2, 1],
      [0, 0.1],
      [0, 1],
    ]);
    expect(variants.map((v) => v.index)).toEqual([0, 1, 2, 3]);
    expect(new Set(variants.map((v) => v.id)).size).toBe(4);
  });

  it.each([
    { learningRate: 0.001, lrMultiplier: 0.1 },
    { learningRate: 0.001, lrMultiplier: 1 },
    { learningRate: 0.01, lrMultiplier: 0.5 },
    { learningRate: 0.003, lrMultiplier: 100 },
  ])(
    'sets learningRate = $learningRate x $lrMultiplier for fine-tuning',
    ({ learningRate, lrMultiplier }) => {
      // Prepare
      const spec = specWith({ freezeDepth: [1], lrMultiplier: [lrMultiplier] }, { learningRate });

      // Act
      const [variant] = expandVariants(spec);

      // Assess
      expect(variant.learningRate).toBe(learningRate * lrMultiplier);
    },
  );

  it('gives the same parameters the same id across calls and grids', () => {
    // Prepare
    const small = specWith({ freezeDepth: [2], lrMultiplier: [0.1] });
    const large = specWith({
      strategy: ['scratch', 'finetune'],
      freezeDepth: [0, 2],
      lrMultiplier: [1, 0.1],
    });

    // Act
    const first = expandVariants(small)[0];
    const again = expandVariants(small)[0];
    const inLarge = expandVariants(large).find(
      (v) => v.strategy === 'finetune' && v.freezeDepth === 2 && v.lrMultiplier === 0.1,
    );

    // Assess
    expect(again.id).toBe(first.id);
    expect(inLarge?.id).toBe(first.id);
    expect(inLarge?.index).not.toBe(first.index);
  });

  it('gives different parameters different ids', () => {
    // Prepare
    const spec = specWith({
      strategy: ['finetune', 'scratch'],
      freezeDepth: [0, 1, 2, 3, 4, 5],
      lrMultiplier: [1, 0.5, 0.1, 0.05, 0.01],
    });

    // Act
    const variants = expandVariants(spec);

    // Assess
    expect(variants).toHaveLength(31);
    expect(new Set(variants.map((v) => v.id)).size).toBe(31);
    for (const v of variants) expect(v.id).toMatch(/^[0-9a-f]{8}$/);
  });

  it('tells finetune at freezeDepth 0, lrMultiplier 1 apart from scratch', () => {
    // Prepare
    const spec = specWith({
      strategy: ['finetune', 'scratch'],
      freezeDepth: [0],
      lrMultiplier: [1],
    });

    // Act
    const variants = expandVariants(spec);

    // Assess
    expect(variants.map((v) => v.strategy)).toEqual(['finetune', 'scratch']);
    expect(variants[0].id).not.toBe(variants[1].id);
  });

  it('keeps ids stable across releases (stored plans refer to them)', () => {
    // Prepare
    const spec = specWith({
      strategy: ['finetune', 'scratch'],
      freezeDepth: [0],
      lrMultiplier: [0.1],
    });

    // Act
    const ids = expandVariants(spec).map((v) => v.id);

    // Assess
    expect(ids).toEqual(['70d4c626', '2e4fda16']);
  });
});

describe('describeVariant()', () => {
  it.each([
    [{ strategy: 'finetune', freezeDepth: 2, lrMultiplier: 0.1 }, 'finetune freeze=2 lr×0.1'],
    [{ strategy: 'finetune', freezeDepth: 0, lrMultiplier: 1 }, 'finetune freeze=0 lr×1'],
    [{ strategy: 'scratch', freezeDepth: 0, lrMultiplier: 1 }, 'scratch'],
  ] as const)('describes %o as %s', (variant, text) => {
    // Prepare / Act
    const description = describeVariant(variant);

    // Assess
    expect(description).toBe(text);
  });
});

describe('fnv1a()', () => {
  it.each([
    ['', '811c9dc5'],
    ['a', 'e40c292c'],
    ['foobar', 'bf9cf968'],
  ])('hashes %j to the FNV-1a 32-bit test vector %s', (text, hash) => {
    // Prepare / Act
    const actual = fnv1a(text);

    // Assess
    expect(actual).toBe(hash);
  });
});
