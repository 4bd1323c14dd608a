import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../../shared/errors.js';
import { assignFolds } from '../../../../shared/planner/folds.js';
import { checkSpecAgainstArtifacts, planSweep } from '../../../../shared/planner/plan-sweep.js';
import { expandVariants } from '../../../../shared/planner/variants.js';
import { PlanSchema } from '../../../../shared/schemas/plan.js';
import {
  baseModelRefFactory,
  labelsForCounts,
  type PlanFactoryOptions,
  planFactory,
  preparedDatasetFactory,
  sweepSpecFactory,
  TEST_CREATED_AT,
  TEST_SWEEP_ID,
} from '../../../helpers/factories.js';

/** The ValidationError planFactory(options) throws. */
function planError(options: PlanFactoryOptions): ValidationError {
  try {
    planFactory(options);
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected planSweep to throw');
}

const grid = {
  strategy: ['finetune', 'scratch'] as ('finetune' | 'scratch')[],
  freezeDepth: [0, 2],
  lrMultiplier: [1, 0.1],
};

describe('planSweep()', () => {
  it('numbers trials variantIndex * k + fold, one per (variant, fold), in order', () => {
    for (const folds of [2, 3, 5]) {
      // Prepare
      const options = { spec: { folds, searchSpace: grid } };

      // Act
      const plan = planFactory(options);

      // Assess
      expect(plan.variants).toHaveLength(5);
      expect(plan.trials).toHaveLength(5 * folds);
      plan.trials.forEach((t, i) => {
        expect(t.index).toBe(i);
        expect(t.index).toBe(t.variantIndex * folds + t.fold);
        expect(t.fold).toBeGreaterThanOrEqual(0);
        expect(t.fold).toBeLessThan(folds);
        expect(t.variantId).toBe(plan.variants[t.variantIndex].id);
      });
      const pairs = new Set(plan.trials.map((t) => `${t.variantIndex}/${t.fold}`));
      expect(pairs.size).toBe(5 * folds);
    }
  });

  it('carries the inputs, the variants and the seeded fold assignment', () => {
    // Prepare
    const spec = sweepSpecFactory({ folds: 3, seed: 11, holdoutFraction: 0.25, searchSpace: grid });
    const dataset = preparedDatasetFactory({ countsPerClass: [12, 16, 20] });
    const labels = labelsForCounts(dataset.countsPerClass);
    const baseModel = baseModelRefFactory();

    // Act
    const plan = planSweep({
      sweepId: 'sweep-42',
      createdAt: TEST_CREATED_AT,
      spec,
      dataset,
      labels,
      baseModel,
    });

    // Assess
    expect(plan).toMatchObject({
      version: 1,
      sweepId: 'sweep-42',
      createdAt: TEST_CREATED_AT,
      spec,
      dataset,
      baseModel,
      folds: 3,
      testSet: undefined,
    });
    expect(plan.variants).toEqual(expandVariants(spec));
    expect(plan.foldOf).toEqual(assignFolds(labels, 3, 3, 11, 0.25));
    expect(plan.foldOf.filter((f) => f === -1)).toHaveLength(3 + 4 + 5);
  });

  it('produces a plan that passes PlanSchema (what is stored as plan.json)', () => {
    // Prepare
    const options = {
      spec: { searchSpace: grid, holdoutFraction: 0.1 },
      testSet: preparedDatasetFactory({ countsPerClass: [5, 5, 5] }),
    };

    // Act
    const plan = planFactory(options);

    // Assess
    const parsed = PlanSchema.safeParse(JSON.parse(JSON.stringify(plan)));
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    expect(plan.testSet).toEqual(options.testSet);
  });

  it('accepts a freezeDepth equal to the number of base layers (everything frozen)', () => {
    // Prepare
    const options = { spec: { searchSpace: { freezeDepth: [0, 4] } } };

    // Act
    const plan = planFactory(options);

    // Assess
    expect(plan.variants.map((v) => v.freezeDepth)).toEqual([0, 4]);
  });

  it('rejects a freezeDepth beyond the base layers on searchSpace.freezeDepth.<i>', () => {
    // Prepare
    const options = { spec: { searchSpace: { freezeDepth: [0, 5] } } };

    // Act
    const err = planError(options);

    // Assess
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0].path).toBe('searchSpace.freezeDepth.1');
    expect(err.issues[0].message).toContain('freezeDepth 5');
    expect(err.issues[0].message).toContain('conv1, pool1, flatten, dense1');
    expect(err.issues[0].message).toContain('0..4');
  });

  it('reports every freezeDepth that is too deep, one issue each', () => {
    // Prepare
    const options = { spec: { searchSpace: { freezeDepth: [7, 1, 9] } } };

    // Act
    const err = planError(options);

    // Assess
    expect(err.issues.map((i) => i.path)).toEqual([
      'searchSpace.freezeDepth.0',
      'searchSpace.freezeDepth.2',
    ]);
    expect(err.message).toContain('searchSpace.freezeDepth.0: freezeDepth 7');
    expect(err.message).toContain('searchSpace.freezeDepth.2: freezeDepth 9');
  });

  it('rejects folds larger than the smallest class on folds, naming that class', () => {
    // Prepare
    const options = {
      spec: { folds: 5 },
      dataset: { countsPerClass: [12, 4, 9], classes: ['shirt', 'sneaker', 'bag'] },
    };

    // Act
    const err = planError(options);

    // Assess
    expect(err.issues.map((i) => i.path)).toEqual(['folds']);
    expect(err.issues[0].message).toContain("'sneaker': 4 samples");
  });

  it('counts only the samples outside the holdout against folds', () => {
    // Prepare
    const fits = {
      spec: { folds: 5, holdoutFraction: 0.5 },
      dataset: { countsPerClass: [10, 10] },
    };
    const tooFew = {
      spec: { folds: 6, holdoutFraction: 0.5 },
      dataset: { countsPerClass: [10, 10] },
    };

    // Act
    const plan = planFactory(fits);
    const err = planError(tooFew);

    // Assess
    expect(plan.foldOf.filter((f) => f === -1)).toHaveLength(10);
    expect(err.issues.map((i) => i.path)).toEqual(['folds']);
    expect(err.issues[0].message).toContain('5 samples outside the holdout');
  });

  it.each([
    { shape: [9, 8, 1] as [number, number, 1] },
    { shape: [8, 9, 1] as [number, number, 1] },
    { shape: [8, 8, 3] as [number, number, 3] },
  ])('rejects prepared images of shape $shape for an 8x8x1 model on dataset', ({ shape }) => {
    // Prepare
    const options = { dataset: { shape } };

    // Act
    const err = planError(options);

    // Assess
    expect(err.issues.map((i) => i.path)).toEqual(['dataset']);
    expect(err.issues[0].message).toContain(`prepared images are ${shape.join('x')}`);
    expect(err.issues[0].message).toContain('8x8x1');
  });

  it.each([
    { classes: ['class-0', 'class-1'] },
    { classes: ['class-0', 'class-2', 'class-1'] },
    { classes: ['class-0', 'class-1', 'other'] },
  ])('rejects a testSet with classes $classes on testSet', ({ classes }) => {
    // Prepare
    const options = {
      testSet: preparedDatasetFactory({ classes, countsPerClass: classes.map(() => 5) }),
    };

    // Act
    const err = planError(options);

    // Assess
    expect(err.issues.map((i) => i.path)).toEqual(['testSet']);
  });

  it('reports every mismatch with the model and data at once', () => {
    // Prepare
    const options = {
      spec: { folds: 6, searchSpace: { freezeDepth: [5, 6] } },
      dataset: { shape: [16, 16, 1] as [number, number, 1], countsPerClass: [12, 5, 12] },
      testSet: preparedDatasetFactory({ classes: ['a', 'b', 'c'] }),
    };

    // Act
    const err = planError(options);

    // Assess
    expect(err.issues.map((i) => i.path)).toEqual([
      'searchSpace.freezeDepth.0',
      'searchSpace.freezeDepth.1',
      'dataset',
      'testSet',
      'folds',
    ]);
    for (const issue of err.issues)
      expect(err.message).toContain(`${issue.path}: ${issue.message}`);
  });

  it('rejects labels that do not match the dataset count on dataset', () => {
    // Prepare
    const options = { labels: labelsForCounts([12, 12, 11]) };

    // Act
    const err = planError(options);

    // Assess
    expect(err.issues).toEqual([{ path: 'dataset', message: '35 labels for 36 samples' }]);
  });
});

describe('planSweep() with cut points and strategies', () => {
  it('cuts just below the softmax head by default', () => {
    // Prepare / Act
    const plan = planFactory();

    // Assess
    expect(plan.cutLayer).toBe('dense1');
  });

  it.each([
    { cutLayer: 'pool1', name: 'pool1' },
    { cutLayer: 1, name: 'pool1' },
    { cutLayer: 0, name: 'conv1' },
    { cutLayer: 'dense1', name: 'dense1' },
  ])('resolves model.cutLayer $cutLayer to $name', ({ cutLayer, name }) => {
    // Prepare
    const options = { spec: { model: { cutLayer } } };

    // Act
    const plan = planFactory(options);

    // Assess
    expect(plan.cutLayer).toBe(name);
  });

  it.each([
    { cutLayer: 'dense9', message: "'dense9' names no layer below the base model's softmax head" },
    { cutLayer: 4, message: 'index 4 is out of range: the base model has 4 layers' },
    { cutLayer: 'predictions', message: "'predictions' names no layer" },
  ])('rejects model.cutLayer $cutLayer, listing the layers to use', ({ cutLayer, message }) => {
    // Prepare
    const options = { spec: { model: { cutLayer } } };

    // Act
    const err = planError(options);

    // Assess
    expect(err.issues.map((i) => i.path)).toEqual(['model.cutLayer']);
    expect(err.issues[0].message).toContain(message);
    expect(err.issues[0].message).toContain(
      'use one of conv1, pool1, flatten, dense1 (or an index 0..3)',
    );
  });

  it('counts freezeDepth up to the cut layer', () => {
    // Prepare
    const fits = { spec: { model: { cutLayer: 'pool1' }, searchSpace: { freezeDepth: [0, 2] } } };
    const tooDeep = { spec: { model: { cutLayer: 'pool1' }, searchSpace: { freezeDepth: [3] } } };

    // Act
    const plan = planFactory(fits);
    const err = planError(tooDeep);

    // Assess
    expect(plan.variants.map((v) => v.freezeDepth)).toEqual([0, 2]);
    expect(err.issues.map((i) => i.path)).toEqual(['searchSpace.freezeDepth.0']);
    expect(err.issues[0].message).toContain(
      "freezeDepth 3 is beyond the base model's 2 layers up to the cut layer 'pool1' (conv1, pool1): use 0..2",
    );
  });

  it('resolves freezeDepth layer names and rejects names not up to the cut', () => {
    // Prepare
    const named = { spec: { searchSpace: { freezeDepth: ['pool1', 'dense1'] } } };
    const unknown = {
      spec: {
        model: { cutLayer: 'flatten' },
        searchSpace: { freezeDepth: [1, 'dense1', 'conv9'] },
      },
    };

    // Act
    const plan = planFactory(named);
    const err = planError(unknown);

    // Assess
    expect(plan.variants.map((v) => v.freezeDepth)).toEqual([2, 4]);
    expect(err.issues.map((i) => i.path)).toEqual([
      'searchSpace.freezeDepth.1',
      'searchSpace.freezeDepth.2',
    ]);
    expect(err.issues[0].message).toContain(
      "freezeDepth 'dense1' names none of the base model's 3 layers up to the cut layer 'flatten'",
    );
  });

  it('plans every strategy, bottleneck-linear with every layer up to the cut frozen', () => {
    // Prepare
    const options: PlanFactoryOptions = {
      spec: {
        model: { cutLayer: 'flatten' },
        searchSpace: {
          strategy: ['finetune', 'bottleneck-linear', 'scratch'],
          freezeDepth: [1],
          svmC: [0.1, 1],
        },
      },
    };

    // Act
    const plan = planFactory(options);

    // Assess
    expect(plan.variants.map((v) => [v.strategy, v.freezeDepth, v.svmC])).toEqual([
      ['finetune', 1, undefined],
      ['bottleneck-linear', 3, 0.1],
      ['bottleneck-linear', 3, 1],
      ['scratch', 0, undefined],
    ]);
    expect(plan.trials).toHaveLength(12);
    const parsed = PlanSchema.safeParse(JSON.parse(JSON.stringify(plan)));
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
  });

  it('ignores freezeDepth when no variant fine-tunes', () => {
    // Prepare
    const options: PlanFactoryOptions = {
      spec: { searchSpace: { strategy: ['bottleneck-linear'] } },
    };

    // Act
    const plan = planFactory(options);

    // Assess
    expect(plan.variants).toHaveLength(1);
  });
});

describe('checkSpecAgainstArtifacts()', () => {
  it('returns no issues for a spec that fits its model and data', () => {
    // Prepare
    const spec = sweepSpecFactory({ searchSpace: grid, holdoutFraction: 0.25, folds: 9 });

    // Act
    const issues = checkSpecAgainstArtifacts(
      spec,
      baseModelRefFactory(),
      preparedDatasetFactory(),
      preparedDatasetFactory({ countsPerClass: [2, 2, 2] }),
    );

    // Assess
    expect(issues).toEqual([]);
  });
});

describe('planFactory()', () => {
  it('builds a valid default plan for TEST_SWEEP_ID', () => {
    // Prepare / Act
    const plan = planFactory();

    // Assess
    expect(plan.sweepId).toBe(TEST_SWEEP_ID);
    expect(plan.foldOf).toHaveLength(36);
    expect(plan.trials).toHaveLength(3);
  });
});
