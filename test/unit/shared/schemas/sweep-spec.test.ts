import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ValidationError } from '../../../../shared/errors.js';
import { PreparedDatasetSchema } from '../../../../shared/schemas/dataset.js';
import { parseOrThrow, toFieldIssues } from '../../../../shared/schemas/issues.js';
import { BaseModelRefSchema } from '../../../../shared/schemas/plan.js';
import { SweepSpecSchema } from '../../../../shared/schemas/sweep-spec.js';
import {
  baseModelRefFactory,
  preparedDatasetFactory,
  sweepSpecFactory,
} from '../../../helpers/factories.js';

const minimal = () => ({
  baseModel: 'models/base/model.json',
  dataset: { uri: '/data/train-images-idx3-ubyte.gz', format: 'idx' },
});

/** The field issues of an input the schema must reject. */
function issuesOf(input: unknown) {
  const result = SweepSpecSchema.safeParse(input);
  if (result.success) throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
  return toFieldIssues(result.error);
}

describe('SweepSpecSchema', () => {
  it('fills every default for a spec giving only baseModel and dataset', () => {
    // Prepare
    const input = minimal();

    // Act
    const spec = SweepSpecSchema.parse(input);

    // Assess
    expect(spec).toEqual({
      baseModel: 'models/base/model.json',
      dataset: { uri: '/data/train-images-idx3-ubyte.gz', format: 'idx' },
      folds: 3,
      seed: 0,
      holdoutFraction: 0,
      champion: 'refit',
      searchSpace: { strategy: ['finetune'], freezeDepth: [0], lrMultiplier: [0.1] },
      training: {
        learningRate: 0.001,
        epochs: 10,
        batchSize: 32,
        patience: 3,
        patienceSteps: 200,
        objective: 'val_accuracy',
      },
    });
  });

  it('fills the missing keys of a partly given searchSpace and training', () => {
    // Prepare
    const input = {
      ...minimal(),
      searchSpace: { strategy: ['finetune', 'scratch'] },
      training: { epochs: 2, objective: 'val_loss' },
      dataset: { ...minimal().dataset, subset: { classes: [5, 6] } },
    };

    // Act
    const spec = SweepSpecSchema.parse(input);

    // Assess
    expect(spec.searchSpace).toEqual({
      strategy: ['finetune', 'scratch'],
      freezeDepth: [0],
      lrMultiplier: [0.1],
    });
    expect(spec.training).toEqual({
      learningRate: 0.001,
      epochs: 2,
      batchSize: 32,
      patience: 3,
      patienceSteps: 200,
      objective: 'val_loss',
    });
    expect(spec.dataset.subset).toEqual({ classes: [5, 6], seed: 0 });
  });

  it('keeps every value it is given', () => {
    // Prepare
    const input = {
      name: 'fashion-5_9.v1',
      ...minimal(),
      testSet: { uri: '/data/t10k-images-idx3-ubyte.gz', format: 'idx' },
      folds: 5,
      seed: 42,
      holdoutFraction: 0.5,
      champion: 'ensemble',
      searchSpace: {
        strategy: ['finetune', 'scratch'],
        freezeDepth: [1, 3],
        lrMultiplier: [1, 100],
      },
      training: {
        learningRate: 10,
        epochs: 1000,
        batchSize: 4096,
        patience: 0,
        patienceSteps: 0,
        objective: 'val_loss',
      },
    };

    // Act
    const spec = SweepSpecSchema.parse(input);

    // Assess
    expect(spec).toEqual(input);
  });

  it('says a missing required field is required, at its path', () => {
    // Prepare
    const { dataset: _dropped, ...input } = minimal();

    // Act
    const issues = issuesOf(input);

    // Assess
    expect(issues).toEqual([{ path: 'dataset', message: 'required: give an object' }]);
  });

  it('rejects an unknown top-level field at its own path', () => {
    // Prepare
    const input = { ...minimal(), foldz: 3 };

    // Act
    const issues = issuesOf(input);

    // Assess
    expect(issues).toHaveLength(1);
    expect(issues[0].path).toBe('foldz');
    expect(issues[0].message).toBe("unknown field 'foldz': remove it or check its spelling");
  });

  it.each([
    { where: 'training', input: { training: { lr: 0.01 } }, key: 'lr' },
    { where: 'searchSpace', input: { searchSpace: { freeze: [1] } }, key: 'freeze' },
    {
      where: 'dataset',
      input: { dataset: { ...minimal().dataset, label: 'x' } },
      key: 'label',
    },
    {
      where: 'dataset.subset',
      input: { dataset: { ...minimal().dataset, subset: { perclass: 5 } } },
      key: 'perclass',
    },
  ])('rejects an unknown field inside $where at the path of the field', ({ where, input, key }) => {
    // Prepare
    const spec = { ...minimal(), ...input };

    // Act
    const issues = issuesOf(spec);

    // Assess
    expect(issues).toHaveLength(1);
    expect(issues[0].path).toBe(`${where}.${key}`);
    expect(issues[0].message).toContain(`'${key}'`);
  });

  it.each([
    { patch: { folds: 1 }, path: 'folds', message: /at least 2/ },
    { patch: { folds: 21 }, path: 'folds' },
    { patch: { folds: 2.5 }, path: 'folds' },
    { patch: { seed: -1 }, path: 'seed' },
    { patch: { holdoutFraction: -0.1 }, path: 'holdoutFraction' },
    {
      patch: { champion: 'refit-later' },
      path: 'champion',
      message: /champion must be "refit", "best-fold" or "ensemble"/,
    },
    {
      patch: { selection: '1se' },
      path: 'selection',
      message: /selection must be "one-se" or "best-mean"/,
    },
    {
      patch: { holdoutFraction: 0.6 },
      path: 'holdoutFraction',
      message: /at most 0\.5/,
    },
    { patch: { name: 'my sweep' }, path: 'name', message: /letters, digits/ },
    { patch: { name: '' }, path: 'name' },
    { patch: { baseModel: undefined }, path: 'baseModel' },
    { patch: { baseModel: '' }, path: 'baseModel', message: /model\.json/ },
    { patch: { dataset: undefined }, path: 'dataset' },
    { patch: { dataset: { format: 'idx' } }, path: 'dataset.uri' },
    {
      patch: { dataset: { uri: '', format: 'idx' } },
      path: 'dataset.uri',
      message: /path of the dataset/,
    },
    { patch: { dataset: { uri: 'x', format: 'csv' } }, path: 'dataset.format' },
    {
      patch: { dataset: { uri: 'x', format: 'idx', subset: { classes: [3] } } },
      path: 'dataset.subset.classes',
    },
    {
      patch: { dataset: { uri: 'x', format: 'idx', subset: { perClass: 0 } } },
      path: 'dataset.subset.perClass',
    },
    {
      patch: { dataset: { uri: 'x', format: 'idx', classNames: ['only'] } },
      path: 'dataset.classNames',
    },
    { patch: { testSet: { format: 'idx' } }, path: 'testSet.uri' },
    { patch: { searchSpace: { strategy: [] } }, path: 'searchSpace.strategy' },
    {
      patch: { searchSpace: { strategy: ['finetune', 'distill'] } },
      path: 'searchSpace.strategy.1',
    },
    {
      patch: { searchSpace: { freezeDepth: [0, -1] } },
      path: 'searchSpace.freezeDepth.1',
      message: /freezeDepth must be a layer count \(integer >= 0\) or a layer name/,
    },
    {
      patch: { searchSpace: { freezeDepth: [1.5] } },
      path: 'searchSpace.freezeDepth.0',
    },
    {
      patch: { searchSpace: { lrMultiplier: [-1] } },
      path: 'searchSpace.lrMultiplier.0',
      message: /lrMultiplier must be greater than 0/,
    },
    {
      patch: { searchSpace: { lrMultiplier: [0.1, 0] } },
      path: 'searchSpace.lrMultiplier.1',
    },
    {
      patch: { searchSpace: { lrMultiplier: [101] } },
      path: 'searchSpace.lrMultiplier.0',
    },
    {
      patch: { searchSpace: { lrMultiplier: ['0.1'] } },
      path: 'searchSpace.lrMultiplier.0',
      message: /lrMultiplier must be a number/,
    },
    { patch: { training: { epochs: 0 } }, path: 'training.epochs' },
    { patch: { training: { epochs: 1001 } }, path: 'training.epochs' },
    {
      patch: { training: { learningRate: 0 } },
      path: 'training.learningRate',
      message: /learningRate must be greater than 0/,
    },
    { patch: { training: { batchSize: 0 } }, path: 'training.batchSize' },
    { patch: { training: { patience: -1 } }, path: 'training.patience' },
    { patch: { training: { patienceSteps: 1.5 } }, path: 'training.patienceSteps' },
    {
      patch: { training: { objective: 'accuracy' } },
      path: 'training.objective',
    },
  ])('rejects $patch with an issue on $path', ({ patch, path, message }) => {
    // Prepare
    const input = { ...minimal(), ...patch };

    // Act
    const issues = issuesOf(input);

    // Assess
    expect([...new Set(issues.map((i) => i.path))]).toEqual([path]);
    if (message) expect(issues[0].message).toMatch(message);
  });

  it('reports every bad field at once', () => {
    // Prepare
    const input = {
      dataset: { format: 'idx' },
      folds: 1,
      searchSpace: { lrMultiplier: [-1] },
      training: { epochs: 0 },
    };

    // Act
    const issues = issuesOf(input);

    // Assess
    expect(issues.map((i) => i.path).sort()).toEqual(
      ['baseModel', 'dataset.uri', 'folds', 'searchSpace.lrMultiplier.0', 'training.epochs'].sort(),
    );
  });

  it('rejects an input that is not an object on the root path', () => {
    // Prepare
    const inputs = [null, 'spec.json', [minimal()], 42];

    // Act
    const paths = inputs.map((input) => issuesOf(input).map((i) => i.path));

    // Assess
    for (const p of paths) expect(p).toEqual(['(root)']);
  });
});

describe('SweepSpecSchema: strategies, cut, head, augmentation', () => {
  const everything = () => ({
    ...minimal(),
    model: { cutLayer: 'fc1', head: { hiddenUnits: 32, dropout: 0.25 } },
    searchSpace: {
      strategy: ['finetune', 'bottleneck-linear', 'scratch'],
      freezeDepth: [0, 'conv2', 5],
      lrMultiplier: [1, 0.1],
      headLrMultiplier: [1, 10],
      augment: [false, true],
      svmC: [0.1, 1, 10],
      svmLoss: ['hinge', 'squared-hinge'],
    },
    augmentation: { flip: true, rotationDegrees: 15, translateFraction: 0.1, zoomFraction: 0.1 },
    training: {
      learningRate: 0.003,
      epochs: 20,
      batchSize: 16,
      patience: 4,
      patienceSteps: 50,
      objective: 'val_accuracy',
      bottleneckCache: false,
    },
  });

  it('keeps every strategy setting it is given', () => {
    // Prepare
    const input = everything();

    // Act
    const spec = SweepSpecSchema.parse(input);

    // Assess
    expect(spec).toEqual({
      ...input,
      folds: 3,
      seed: 0,
      holdoutFraction: 0,
      champion: 'refit',
    });
  });

  it('accepts a layer index as model.cutLayer and leaves the new settings out by default', () => {
    // Prepare
    const input = { ...minimal(), model: { cutLayer: 3 } };

    // Act
    const spec = SweepSpecSchema.parse(input);

    // Assess
    expect(spec.model).toEqual({ cutLayer: 3 });
    expect(spec.augmentation).toBeUndefined();
    expect(spec.searchSpace).toEqual({
      strategy: ['finetune'],
      freezeDepth: [0],
      lrMultiplier: [0.1],
    });
  });

  it('fills the transforms an augmentation leaves out as off', () => {
    // Prepare
    const input = {
      ...minimal(),
      searchSpace: { augment: [true] },
      augmentation: { rotationDegrees: 5 },
    };

    // Act
    const spec = SweepSpecSchema.parse(input);

    // Assess
    expect(spec.augmentation).toEqual({
      flip: false,
      rotationDegrees: 5,
      translateFraction: 0,
      zoomFraction: 0,
    });
  });

  it.each([
    { field: 'svmC', value: [1], strategy: ['finetune', 'scratch'], only: 'bottleneck-linear' },
    { field: 'svmLoss', value: ['hinge'], strategy: ['finetune'], only: 'bottleneck-linear' },
    { field: 'headLrMultiplier', value: [10], strategy: ['scratch'], only: 'finetune' },
    { field: 'freezeDepth', value: [2], strategy: ['bottleneck-linear'], only: 'finetune' },
    { field: 'lrMultiplier', value: [1], strategy: ['scratch'], only: 'finetune' },
    {
      field: 'augment',
      value: [true],
      strategy: ['bottleneck-linear'],
      only: 'finetune or scratch',
    },
  ])(
    'rejects searchSpace.$field when no listed strategy uses it',
    ({ field, value, strategy, only }) => {
      // Prepare
      const input = { ...minimal(), searchSpace: { strategy, [field]: value } };

      // Act
      const issues = issuesOf(input);

      // Assess
      expect(issues).toHaveLength(1);
      expect(issues[0].path).toBe(`searchSpace.${field}`);
      expect(issues[0].message).toContain(
        `applies only to ${only}, which searchSpace.strategy does not list`,
      );
      expect(issues[0].message).toMatch(/remove searchSpace\.\w+ or add/);
    },
  );

  it('accepts the old defaults of freezeDepth and lrMultiplier with any strategy', () => {
    // Prepare: what earlier versions stored for a scratch-only spec.
    const input = {
      ...minimal(),
      searchSpace: { strategy: ['scratch'], freezeDepth: [0], lrMultiplier: [0.1] },
    };

    // Act
    const parsed = SweepSpecSchema.safeParse(input);

    // Assess
    expect(parsed.success).toBe(true);
  });

  it.each([
    {
      patch: { searchSpace: { strategy: ['bottleneck-linear'], svmC: [0] } },
      path: 'searchSpace.svmC.0',
      message: /svmC must be greater than 0/,
    },
    {
      patch: { searchSpace: { strategy: ['bottleneck-linear'], svmC: [1, -2] } },
      path: 'searchSpace.svmC.1',
      message: /svmC must be greater than 0/,
    },
    {
      patch: { searchSpace: { strategy: ['bottleneck-linear'], svmLoss: ['l1'] } },
      path: 'searchSpace.svmLoss.0',
    },
    {
      patch: { searchSpace: { headLrMultiplier: [0] } },
      path: 'searchSpace.headLrMultiplier.0',
      message: /greater than 0/,
    },
    {
      patch: { searchSpace: { augment: ['yes'] } },
      path: 'searchSpace.augment.0',
      message: /true or false/,
    },
    { patch: { searchSpace: { freezeDepth: [''] } }, path: 'searchSpace.freezeDepth.0' },
    {
      patch: { searchSpace: { freezeDepth: [true] } },
      path: 'searchSpace.freezeDepth.0',
      message: /layer count .* or a layer name/,
    },
    {
      patch: { model: { cutLayer: -1 } },
      path: 'model.cutLayer',
      message: /layer name or an index/,
    },
    { patch: { model: { cutLayer: 1.5 } }, path: 'model.cutLayer' },
    { patch: { model: { cut: 'fc1' } }, path: 'model.cut', message: /unknown field/ },
    {
      patch: { model: { head: { dropout: 1 } } },
      path: 'model.head.dropout',
      message: /at most 0\.95/,
    },
    { patch: { model: { head: { dropout: -0.1 } } }, path: 'model.head.dropout' },
    { patch: { model: { head: { hiddenUnits: 0 } } }, path: 'model.head.hiddenUnits' },
    {
      patch: { searchSpace: { augment: [true] }, augmentation: { rotationDegrees: 200 } },
      path: 'augmentation.rotationDegrees',
      message: /rotationDegrees must be between 0 and 180/,
    },
    {
      patch: { searchSpace: { augment: [true] }, augmentation: { rotationDegrees: -5 } },
      path: 'augmentation.rotationDegrees',
    },
    {
      patch: { searchSpace: { augment: [true] }, augmentation: { translateFraction: 0.6 } },
      path: 'augmentation.translateFraction',
      message: /between 0 and 0\.5/,
    },
    {
      patch: { searchSpace: { augment: [true] }, augmentation: { zoomFraction: 0.9 } },
      path: 'augmentation.zoomFraction',
      message: /between 0 and 0\.5/,
    },
    {
      patch: { searchSpace: { augment: [true] }, augmentation: { flip: 'yes' } },
      path: 'augmentation.flip',
      message: /true or false/,
    },
    {
      patch: { searchSpace: { augment: [true] }, augmentation: { shear: 0.2 } },
      path: 'augmentation.shear',
      message: /unknown field/,
    },
    {
      patch: { searchSpace: { augment: [true] }, augmentation: { flip: false } },
      path: 'augmentation',
      message: /every transform is off/,
    },
    {
      patch: { augmentation: { flip: true } },
      path: 'augmentation',
      message: /no variant augments: add true to searchSpace\.augment/,
    },
    {
      patch: { searchSpace: { augment: [false] }, augmentation: { flip: true } },
      path: 'augmentation',
      message: /no variant augments/,
    },
    {
      patch: {
        searchSpace: { strategy: ['bottleneck-linear'] },
        model: { head: { dropout: 0.5 } },
      },
      path: 'model.head',
      message: /applies only to finetune or scratch/,
    },
    {
      patch: {
        searchSpace: { strategy: ['finetune', 'bottleneck-linear'] },
        training: { objective: 'val_loss' },
      },
      path: 'training.objective',
      message: /use val_accuracy/,
    },
    { patch: { training: { bottleneckCache: 'no' } }, path: 'training.bottleneckCache' },
  ])('rejects $patch with an issue on $path', ({ patch, path, message }) => {
    // Prepare
    const input = { ...minimal(), ...patch };

    // Act
    const issues = issuesOf(input);

    // Assess
    expect([...new Set(issues.map((i) => i.path))]).toEqual([path]);
    if (message) expect(issues[0].message).toMatch(message);
  });

  it('accepts val_loss for a sweep of bottleneck-linear alone', () => {
    // Prepare
    const input = {
      ...minimal(),
      searchSpace: { strategy: ['bottleneck-linear'], svmC: [1] },
      training: { objective: 'val_loss' },
    };

    // Act
    const parsed = SweepSpecSchema.safeParse(input);

    // Assess
    expect(parsed.success).toBe(true);
  });

  it('parses its own output again (plans store the parsed spec)', () => {
    // Prepare
    const once = SweepSpecSchema.parse(everything());

    // Act
    const twice = SweepSpecSchema.parse(JSON.parse(JSON.stringify(once)));

    // Assess
    expect(twice).toEqual(once);
  });
});

describe('parseOrThrow()', () => {
  it('returns the parsed spec with defaults filled', () => {
    // Prepare
    const input = { ...minimal(), folds: 4 };

    // Act
    const spec = parseOrThrow(SweepSpecSchema, input, 'sweep spec');

    // Assess
    expect(spec.folds).toBe(4);
    expect(spec.training.epochs).toBe(10);
  });

  it('throws a ValidationError with {path, message} issues and a message listing them', () => {
    // Prepare
    const input = { ...minimal(), folds: 1, training: { epochs: 0 } };

    // Act
    let caught: unknown;
    try {
      parseOrThrow(SweepSpecSchema, input, 'sweep spec');
    } catch (err) {
      caught = err;
    }

    // Assess
    expect(caught).toBeInstanceOf(ValidationError);
    const err = caught as ValidationError;
    expect(err.name).toBe('ValidationError');
    expect(err.issues).toEqual([
      { path: 'folds', message: 'folds must be at least 2' },
      { path: 'training.epochs', message: expect.any(String) },
    ]);
    expect(err.message).toBe(
      `invalid sweep spec: folds: folds must be at least 2; training.epochs: ${err.issues[1].message}`,
    );
    expect(err.cause).toBeInstanceOf(z.ZodError);
  });

  it("names the root as '(root)' when the whole input is wrong", () => {
    // Prepare
    const input = 'not a spec';

    // Act
    const act = () => parseOrThrow(SweepSpecSchema, input, 'sweep spec');

    // Assess
    expect(act).toThrow(/^invalid sweep spec: \(root\): /);
  });
});

describe('factories', () => {
  it('produce inputs that pass their schemas', () => {
    // Prepare
    const spec = sweepSpecFactory({ folds: 4 });
    const dataset = preparedDatasetFactory({ countsPerClass: [3, 4] });
    const baseModel = baseModelRefFactory();

    // Act
    const parsed = {
      spec: SweepSpecSchema.safeParse(spec),
      dataset: PreparedDatasetSchema.safeParse(dataset),
      baseModel: BaseModelRefSchema.safeParse(baseModel),
    };

    // Assess
    expect(parsed.spec.success).toBe(true);
    expect(parsed.dataset.success).toBe(true);
    expect(parsed.baseModel.success).toBe(true);
    expect(spec.folds).toBe(4);
    expect(dataset.count).toBe(7);
    expect(dataset.classes).toEqual(['class-0', 'class-1']);
  });
});
