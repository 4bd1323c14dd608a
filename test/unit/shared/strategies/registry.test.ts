import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../../shared/errors.js';
import {
  describeVariant,
  describeVariantWith,
  expandGrid,
  expandVariants,
} from '../../../../shared/planner/variants.js';
import { fnv1a } from '../../../../shared/random.js';
import { parseOrThrow } from '../../../../shared/schemas/issues.js';
import {
  APPLIES_TO,
  SEARCH_SPACE_DEFAULTS,
  SweepSpecSchema,
  searchSpaceSchemaFor,
} from '../../../../shared/schemas/sweep-spec.js';
import { SIMPLICITY_TIER } from '../../../../shared/strategies/descriptor.js';
import {
  defineRegistry,
  STRATEGIES,
  STRATEGY_DESCRIPTORS,
  type StrategyDescriptor,
  strategyOf,
} from '../../../../shared/strategies/index.js';
import { sweepSpecFactory } from '../../../helpers/factories.js';

const BODY = ['conv1', 'pool1', 'conv2', 'gap', 'fc1'];

/**
 * A fourth strategy that exists only in this test: k-nearest-neighbours on the frozen features,
 * with its own key field `k` and the shared `augment` dimension.
 */
const knn: StrategyDescriptor<'knn'> = {
  name: 'knn',
  dimensions: { augment: [false] },
  outputs: 'scores',
  head: 'linear',
  *expand(grid) {
    const freezeDepth = grid.bodyLayers('for knn').length;
    for (const augment of grid.values('augment')) {
      yield {
        key: { k: 3, ...(augment ? { augment } : {}) },
        variant: { freezeDepth, lrMultiplier: 1, learningRate: grid.learningRate, augment },
      };
    }
  },
  describe: (v) => `knn k=3${v.augment ? ' aug' : ''}`,
  servedByBottleneckCache: (v) => !v.augment,
  simplicity: () => [SIMPLICITY_TIER.linearProbe],
};
const WITH_KNN = defineRegistry({ ...STRATEGY_DESCRIPTORS, knn });

describe('the strategy registry', () => {
  it('registers finetune, bottleneck-linear and scratch, in that order, each under its name', () => {
    // Prepare / Act
    const names = Object.values(STRATEGY_DESCRIPTORS).map((d) => d.name);

    // Assess
    expect(STRATEGIES).toEqual(['finetune', 'bottleneck-linear', 'scratch']);
    expect(names).toEqual(STRATEGIES);
  });

  it('gives the output kind the champion metadata records', () => {
    // Prepare / Act
    const outputs = STRATEGIES.map((s) => [s, strategyOf(s).outputs]);

    // Assess
    expect(outputs).toEqual([
      ['finetune', 'probabilities'],
      ['bottleneck-linear', 'scores'],
      ['scratch', 'probabilities'],
    ]);
  });

  it('derives which strategies each dimension applies to from the descriptors', () => {
    // Prepare / Act / Assess
    expect(APPLIES_TO).toEqual({
      freezeDepth: ['finetune'],
      lrMultiplier: ['finetune'],
      headLrMultiplier: ['finetune'],
      augment: ['finetune', 'scratch'],
      svmC: ['bottleneck-linear'],
      svmLoss: ['bottleneck-linear'],
    });
  });

  it("gives each dimension the same default in every descriptor as the spec schema's", () => {
    // Prepare
    const pairs = Object.values(STRATEGY_DESCRIPTORS).flatMap((d) =>
      Object.entries(d.dimensions).map(([dimension, values]) => ({ dimension, values })),
    );

    // Act / Assess
    expect(pairs.length).toBeGreaterThan(0);
    for (const { dimension, values } of pairs) {
      expect(values).toEqual(
        SEARCH_SPACE_DEFAULTS[dimension as keyof typeof SEARCH_SPACE_DEFAULTS],
      );
    }
  });

  it('says which variants the bottleneck cache can serve', () => {
    // Prepare
    const frozen = { freezeDepth: 5, augment: false };

    // Act / Assess
    expect(strategyOf('finetune').servedByBottleneckCache(frozen, 5)).toBe(true);
    expect(strategyOf('finetune').servedByBottleneckCache({ ...frozen, augment: true }, 5)).toBe(
      false,
    );
    expect(strategyOf('finetune').servedByBottleneckCache({ freezeDepth: 4 }, 5)).toBe(false);
    expect(strategyOf('bottleneck-linear').servedByBottleneckCache(frozen, 5)).toBe(true);
    expect(strategyOf('scratch').servedByBottleneckCache({ freezeDepth: 0 }, 5)).toBe(false);
  });

  it('refuses an unknown strategy at compile time and at run time, naming it', () => {
    // Prepare
    const unknown = () =>
      // @ts-expect-error: 'distill' is not a registered strategy
      strategyOf('distill');

    // Act / Assess
    expect(unknown).toThrow(
      "unknown strategy 'distill': registered are finetune, bottleneck-linear, scratch",
    );
  });

  it('refuses a registry whose key is not its descriptor name', () => {
    // Prepare
    const misnamed = () =>
      // @ts-expect-error: the key 'svm' holds the descriptor named 'bottleneck-linear'
      defineRegistry({ svm: STRATEGY_DESCRIPTORS['bottleneck-linear'] });

    // Act / Assess
    expect(misnamed).toThrow("key 'svm' holds the descriptor of 'bottleneck-linear'");
  });
});

describe('an unknown strategy in a spec', () => {
  it('is a validation error on searchSpace.strategy.N naming it and the registered ones', () => {
    // Prepare
    const input = {
      baseModel: 'm/model.json',
      dataset: { uri: 'x', format: 'idx' },
      searchSpace: { strategy: ['finetune', 'scratch', 'distill'] },
    };

    // Act
    let error: unknown;
    try {
      parseOrThrow(SweepSpecSchema, input, 'sweep spec');
    } catch (e) {
      error = e;
    }

    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      {
        path: 'searchSpace.strategy.2',
        message: 'unknown strategy "distill": use one of finetune, bottleneck-linear, scratch',
      },
    ]);
  });

  it('is never planned as finetune: the planner and describeVariant throw, naming it', () => {
    // Prepare: a value that escaped validation.
    const spec = sweepSpecFactory();
    const escaped = { ...spec, searchSpace: { ...spec.searchSpace, strategy: ['distill'] } };

    // Act / Assess
    expect(() => expandVariants(escaped as typeof spec, BODY)).toThrow(
      "unknown strategy 'distill'",
    );
    expect(() =>
      describeVariant({ strategy: 'distill' as 'finetune', freezeDepth: 0, lrMultiplier: 1 }),
    ).toThrow("unknown strategy 'distill'");
  });
});

describe('a fourth strategy added to a registry', () => {
  const schema = searchSpaceSchemaFor(WITH_KNN);

  it('is planned without changes to the planner: ids, order and descriptions', () => {
    // Prepare
    const space = schema.parse({
      strategy: ['finetune', 'knn', 'scratch'],
      freezeDepth: [0],
      lrMultiplier: [1],
      augment: [false, true],
    });

    // Act
    const variants = expandGrid(WITH_KNN, space.strategy, space, {
      learningRate: 0.01,
      bodyLayers: BODY,
    });

    // Assess
    expect(variants.map((v) => [v.index, describeVariantWith(WITH_KNN, v)])).toEqual([
      [0, 'finetune freeze=0 lr×1'],
      [1, 'finetune freeze=0 lr×1 aug'],
      [2, 'knn k=3'],
      [3, 'knn k=3 aug'],
      [4, 'scratch'],
      [5, 'scratch aug'],
    ]);
    expect(variants[2]).toEqual({
      id: fnv1a(JSON.stringify({ strategy: 'knn', k: 3 })),
      index: 2,
      strategy: 'knn',
      freezeDepth: 5,
      lrMultiplier: 1,
      learningRate: 0.01,
      augment: false,
    });
    expect(variants[3].id).toBe(fnv1a(JSON.stringify({ strategy: 'knn', k: 3, augment: true })));
    // The registered strategies keep the ids they get without the fourth one.
    const builtIn = expandVariants(
      sweepSpecFactory({
        searchSpace: {
          strategy: ['finetune', 'scratch'],
          freezeDepth: [0],
          lrMultiplier: [1],
          augment: [false, true],
        },
      }),
      BODY,
    );
    expect(variants.filter((v) => v.strategy !== 'knn').map((v) => v.id)).toEqual(
      builtIn.map((v) => v.id),
    );
  });

  it('takes part in the strategy enum and the "applies only to" check', () => {
    // Prepare
    const svmWithKnnOnly = { strategy: ['knn'], svmC: [1] };
    const augmentWithSvmOnly = { strategy: ['bottleneck-linear'], augment: [true] };

    // Act
    const knnOnly = schema.safeParse({ strategy: ['knn'] });
    const svm = schema.safeParse(svmWithKnnOnly);
    const augment = schema.safeParse(augmentWithSvmOnly);
    const unknown = schema.safeParse({ strategy: ['distill'] });

    // Assess
    expect(knnOnly.success).toBe(true);
    expect(svm.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      [
        'svmC',
        'applies only to bottleneck-linear, which searchSpace.strategy does not list: ' +
          'remove searchSpace.svmC or add bottleneck-linear to searchSpace.strategy',
      ],
    ]);
    expect(augment.error?.issues[0].message).toMatch(/^applies only to finetune, scratch or knn,/);
    expect(unknown.error?.issues[0].message).toBe(
      'unknown strategy "distill": use one of finetune, bottleneck-linear, scratch, knn',
    );
  });

  it('may read only the dimensions it declares', () => {
    // Prepare
    const greedy: StrategyDescriptor<'greedy'> = {
      ...knn,
      name: 'greedy',
      *expand(grid) {
        for (const svmC of grid.values('svmC')) {
          yield { key: { svmC }, variant: { freezeDepth: 0, lrMultiplier: 1, learningRate: 1 } };
        }
      },
    };
    const registry = defineRegistry({ greedy });

    // Act
    const expand = () =>
      expandGrid(
        registry,
        ['greedy'],
        { freezeDepth: [0], lrMultiplier: [0.1] },
        { learningRate: 1 },
      );

    // Assess
    expect(expand).toThrow(
      "strategy 'greedy' reads searchSpace.svmC, which its descriptor does not declare in dimensions",
    );
  });
});
