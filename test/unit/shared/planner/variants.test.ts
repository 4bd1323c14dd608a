import { describe, expect, it } from 'vitest';
import {
  describeVariant,
  expandVariants,
  resolveFreezeDepth,
  SVM_LR_MULTIPLIER,
} from '../../../../shared/planner/variants.js';
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
    { strategy: ['scratch'], freezeDepth: [0], lrMultiplier: [0.1], size: 1 },
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

describe('expandVariants() with strategy-specific dimensions', () => {
  const BODY = ['conv1', 'pool1', 'conv2', 'gap', 'fc1'];

  it('multiplies each strategy by the dimensions that apply to it only', () => {
    // Prepare
    const spec = specWith({
      strategy: ['finetune', 'bottleneck-linear', 'scratch'],
      freezeDepth: [0, 2],
      lrMultiplier: [1],
      headLrMultiplier: [1, 10],
      augment: [false, true],
      svmC: [0.1, 1, 10],
      svmLoss: ['squared-hinge'],
    });

    // Act
    const variants = expandVariants(spec, BODY);

    // Assess: finetune 2 x 1 x 2 x 2, bottleneck-linear 3 x 1, scratch 2.
    const count = (s: string) => variants.filter((v) => v.strategy === s).length;
    expect([count('finetune'), count('bottleneck-linear'), count('scratch')]).toEqual([8, 3, 2]);
    expect(new Set(variants.map((v) => v.id)).size).toBe(13);
    expect(variants.map((v) => v.index)).toEqual(variants.map((_, i) => i));
  });

  it('orders finetune by freezeDepth, lrMultiplier, headLrMultiplier, then augment', () => {
    // Prepare
    const spec = specWith({
      freezeDepth: [3],
      lrMultiplier: [1, 0.1],
      headLrMultiplier: [1, 10],
      augment: [false, true],
    });

    // Act
    const grid = expandVariants(spec).map((v) => [v.lrMultiplier, v.headLrMultiplier, v.augment]);

    // Assess
    expect(grid).toEqual([
      [1, 1, false],
      [1, 1, true],
      [1, 10, false],
      [1, 10, true],
      [0.1, 1, false],
      [0.1, 1, true],
      [0.1, 10, false],
      [0.1, 10, true],
    ]);
  });

  it('sets the head rate to learningRate x lrMultiplier x headLrMultiplier', () => {
    // Prepare
    const spec = specWith(
      { freezeDepth: [1], lrMultiplier: [0.1], headLrMultiplier: [10] },
      { learningRate: 0.004 },
    );

    // Act
    const [variant] = expandVariants(spec);

    // Assess
    expect(variant.learningRate).toBeCloseTo(0.0004, 12);
    expect(variant.headLearningRate).toBeCloseTo(0.004, 12);
  });

  it('gives bottleneck-linear every layer up to the cut frozen and the SVM rate', () => {
    // Prepare
    const spec = specWith(
      { strategy: ['bottleneck-linear'], svmC: [0.5], svmLoss: ['hinge', 'squared-hinge'] },
      { learningRate: 0.002 },
    );

    // Act
    const variants = expandVariants(spec, BODY);

    // Assess
    expect(variants).toEqual([
      expect.objectContaining({ freezeDepth: 5, svmC: 0.5, svmLoss: 'hinge' }),
      expect.objectContaining({ freezeDepth: 5, svmC: 0.5, svmLoss: 'squared-hinge' }),
    ]);
    expect(variants[0].learningRate).toBeCloseTo(0.002 * SVM_LR_MULTIPLIER, 12);
    expect(variants[0].lrMultiplier).toBe(SVM_LR_MULTIPLIER);
    expect(variants[0].augment).toBeUndefined();
  });

  it('resolves a freezeDepth layer name to a count and collapses it with that count', () => {
    // Prepare
    const spec = specWith({ freezeDepth: ['pool1', 2, 'fc1'], lrMultiplier: [1] });

    // Act
    const variants = expandVariants(spec, BODY);

    // Assess
    expect(variants.map((v) => v.freezeDepth)).toEqual([2, 5]);
    expect(resolveFreezeDepth('conv1', BODY)).toBe(1);
    expect(resolveFreezeDepth('predictions', BODY)).toBe(-1);
  });

  it('needs the layers up to the cut for bottleneck-linear and layer names', () => {
    // Prepare
    const svm = specWith({ strategy: ['bottleneck-linear'] });
    const named = specWith({ freezeDepth: ['gap'] });

    // Act / Assess
    expect(() => expandVariants(svm)).toThrow(/needs the layers up to the cut/);
    expect(() => expandVariants(named)).toThrow(/needs the layers up to the cut/);
  });

  it('keeps the ids of finetune and scratch variants at default new parameters', () => {
    // Prepare: the same grid as 'keeps ids stable across releases', new dimensions at defaults.
    const spec = specWith({
      strategy: ['finetune', 'scratch'],
      freezeDepth: [0],
      lrMultiplier: [0.1],
      headLrMultiplier: [1],
      augment: [false],
    });

    // Act
    const ids = expandVariants(spec).map((v) => v.id);

    // Assess
    expect(ids).toEqual(['70d4c626', '2e4fda16']);
  });

  it('keeps the ids of the new variants stable (stored plans refer to them)', () => {
    // Prepare
    const spec = specWith({
      strategy: ['finetune', 'bottleneck-linear', 'scratch'],
      freezeDepth: [0],
      lrMultiplier: [0.1],
      headLrMultiplier: [10],
      augment: [true],
      svmC: [1],
    });

    // Act
    const ids = expandVariants(spec, BODY).map((v) => [describeVariant(v), v.id]);

    // Assess
    expect(ids).toEqual([
      ['finetune freeze=0 lr×0.1 head×10 aug', '29c644e7'],
      ['bottleneck-linear C=1', '86eb4a5d'],
      ['scratch aug', 'bcd3638f'],
    ]);
  });
});

describe('describeVariant()', () => {
  it.each([
    [{ strategy: 'finetune', freezeDepth: 2, lrMultiplier: 0.1 }, 'finetune freeze=2 lr×0.1'],
    [{ strategy: 'finetune', freezeDepth: 0, lrMultiplier: 1 }, 'finetune freeze=0 lr×1'],
    [{ strategy: 'scratch', freezeDepth: 0, lrMultiplier: 1 }, 'scratch'],
    [{ strategy: 'scratch', freezeDepth: 0, lrMultiplier: 1, augment: true }, 'scratch aug'],
    [
      {
        strategy: 'finetune',
        freezeDepth: 3,
        lrMultiplier: 0.1,
        headLrMultiplier: 10,
        augment: true,
      },
      'finetune freeze=3 lr×0.1 head×10 aug',
    ],
    [
      {
        strategy: 'finetune',
        freezeDepth: 3,
        lrMultiplier: 0.1,
        headLrMultiplier: 1,
        augment: false,
      },
      'finetune freeze=3 lr×0.1',
    ],
    [
      {
        strategy: 'bottleneck-linear',
        freezeDepth: 7,
        lrMultiplier: 10,
        svmC: 0.1,
        svmLoss: 'squared-hinge',
      },
      'bottleneck-linear C=0.1',
    ],
    [
      {
        strategy: 'bottleneck-linear',
        freezeDepth: 7,
        lrMultiplier: 10,
        svmC: 10,
        svmLoss: 'hinge',
      },
      'bottleneck-linear C=10 hinge',
    ],
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
