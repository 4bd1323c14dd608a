import { describe, expect, it } from 'vitest';
import {
  checkSpecLimits,
  DEFAULT_SPEC_LIMITS,
  specLimitsFromEnv,
  variantUpperBound,
} from '../../../../shared/schemas/spec-limits.js';
import { SweepSpecSchema } from '../../../../shared/schemas/sweep-spec.js';

const parse = (patch: Record<string, unknown> = {}) =>
  SweepSpecSchema.parse({
    baseModel: 'model.json',
    dataset: { uri: 'train-images-idx3-ubyte', format: 'idx' },
    ...patch,
  });

describe('checkSpecLimits()', () => {
  it('passes a spec within the default limits', () => {
    expect(checkSpecLimits(parse(), DEFAULT_SPEC_LIMITS)).toEqual([]);
  });

  it('counts the variants of every listed strategy times the folds', () => {
    const spec = parse({
      folds: 5,
      searchSpace: {
        strategy: ['finetune', 'bottleneck-linear', 'scratch'],
        freezeDepth: [0, 1, 2],
        lrMultiplier: [1, 0.1],
        augment: [false, true],
        svmC: [0.1, 1, 10],
      },
    });
    // finetune 3 x 2 x 1 x 2 = 12, bottleneck-linear 3 x 1 = 3, scratch 2: 17 variants.
    expect(variantUpperBound(spec)).toBe(17);
    expect(checkSpecLimits(spec, { ...DEFAULT_SPEC_LIMITS, maxTrials: 84 })).toEqual([
      {
        path: 'searchSpace',
        message:
          'the grid makes up to 85 trials (17 variants x 5 folds); the limit is 84 trials per sweep: ' +
          'remove values from the searchSpace lists or use fewer folds (or raise it with --max-trials N or FOLDSWEEP_MAX_TRIALS)',
      },
    ]);
    expect(checkSpecLimits(spec, { ...DEFAULT_SPEC_LIMITS, maxTrials: 85 })).toEqual([]);
  });

  it('names every string and list over its limit, with the bound and the variable', () => {
    const spec = parse({
      name: 'n'.repeat(11),
      dataset: { uri: 'x', format: 'idx', classNames: ['a', 'b', 'c'.repeat(6)] },
      model: { cutLayer: 'l'.repeat(6) },
    });
    const limits = { ...DEFAULT_SPEC_LIMITS, maxNameLength: 10, maxStringLength: 5, maxClasses: 2 };
    expect(checkSpecLimits(spec, limits).map((i) => i.path)).toEqual([
      'name',
      'dataset.classNames',
      'model.cutLayer',
    ]);
    expect(checkSpecLimits(spec, { ...limits, maxClasses: 3 })[1]).toEqual({
      path: 'dataset.classNames.2',
      message:
        'is 6 characters long; the limit is 5: shorten it (or raise it with FOLDSWEEP_MAX_STRING_LENGTH)',
    });
  });
});

describe('specLimitsFromEnv()', () => {
  it('raises limits from FOLDSWEEP_MAX_* and keeps the other defaults', () => {
    expect(specLimitsFromEnv({ FOLDSWEEP_MAX_TRIALS: '5000', FOLDSWEEP_MAX_CLASSES: '' })).toEqual({
      ...DEFAULT_SPEC_LIMITS,
      maxTrials: 5000,
    });
  });

  it.each(['0', '-3', '1e3', 'lots'])('refuses %j, naming the variable', (value) => {
    expect(() => specLimitsFromEnv({ FOLDSWEEP_MAX_LIST_LENGTH: value })).toThrow(
      `FOLDSWEEP_MAX_LIST_LENGTH: must be a positive integer, got '${value}'`,
    );
  });
});
