import { describe, expect, it } from 'vitest';
import {
  type AdviceInput,
  earlyLayerOf,
  probeSkill,
  recommendSweep,
} from '../../../shared/advice.js';
import { ValidationError } from '../../../shared/errors.js';
import { expandVariants } from '../../../shared/planner/variants.js';
import { SweepSpecSchema } from '../../../shared/schemas/sweep-spec.js';

const LAYERS = ['conv1', 'pool1', 'conv2', 'pool2', 'conv3', 'gap', 'fc1'];

/** A probe of `cutLayer` on 200 + 100 images of 5 classes. */
const probe = (cutLayer: string, accuracy: number) => ({
  cutLayer,
  accuracy,
  chance: 0.2,
  trainSamples: 200,
  valSamples: 100,
});

function input(overrides: Partial<AdviceInput> = {}): AdviceInput {
  return {
    dataset: { uri: '/data/train-images-idx3-ubyte.gz', format: 'idx' },
    baseModel: '/models/base/model.json',
    classes: ['a', 'b', 'c', 'd', 'e'],
    countsPerClass: [60, 60, 60, 60, 60],
    layers: LAYERS,
    earlyLayer: 'conv2',
    topProbe: probe('fc1', 0.9),
    earlyProbe: probe('conv2', 0.88),
    ...overrides,
  };
}

const counts = (perClass: number, classes = 5) => Array.from({ length: classes }, () => perClass);

describe('earlyLayerOf', () => {
  it('picks the last layer of the first half of the base: conv2 for the example CNN', () => {
    expect(earlyLayerOf(LAYERS)).toBe('conv2');
    expect(earlyLayerOf(['conv1', 'pool1', 'gap', 'fc1'])).toBe('pool1');
    expect(earlyLayerOf(['gap', 'fc1'])).toBeUndefined();
  });
});

describe('probeSkill', () => {
  it('rescales accuracy so chance is 0 and perfect is 1', () => {
    const p = { cutLayer: 'x', chance: 0.2, trainSamples: 1, valSamples: 1 };
    expect(probeSkill({ ...p, accuracy: 0.2 })).toBeCloseTo(0);
    expect(probeSkill({ ...p, accuracy: 1 })).toBeCloseTo(1);
    expect(probeSkill({ ...p, accuracy: 0.6 })).toBeCloseTo(0.5);
  });
});

describe('recommendSweep', () => {
  it('under ~1,000 images leads with bottleneck-linear and says so in the practice terms', () => {
    const advice = recommendSweep(input({ countsPerClass: [62, 62, 62, 63, 63] }));
    const text = advice.reasons.join('\n');
    expect(text).toContain('312 images: under ~1,000, start with bottleneck-linear');
    expect(advice.spec.searchSpace?.strategy).toEqual(['finetune', 'bottleneck-linear', 'scratch']);
    expect(advice.spec.searchSpace?.svmC).toEqual([0.1, 1, 10]);
    expect(advice.spec.searchSpace?.lrMultiplier).toEqual([0.1, 1]);
    expect(advice.spec.searchSpace?.augment).toEqual([false, true]);
    expect(advice.spec.folds).toBe(5);
    expect(advice.spec.holdoutFraction).toBe(0.15);
    expect(advice.spec.training).toMatchObject({ epochs: 40, batchSize: 16, patience: 6 });
  });

  it('under ~1,000 images with a moderate probe, fine-tuning leads beside bottleneck-linear', () => {
    const advice = recommendSweep(
      input({
        topProbe: probe('fc1', 0.8),
      }),
    );
    const text = advice.reasons.join('\n');
    expect(text).not.toContain('start with bottleneck-linear');
    expect(text).toContain('scores about what the probe does (80.0%)');
    expect(advice.spec.searchSpace?.strategy).toContain('bottleneck-linear');
  });

  it('over ~1,000 images fine-tunes first with 3 folds; over 10,000 drops augmentation', () => {
    const mid = recommendSweep(input({ countsPerClass: counts(600) }));
    expect(mid.reasons.join('\n')).toContain(
      '3,000 images: over ~1,000, fine-tuning is the main strategy',
    );
    expect(mid.spec.folds).toBe(3);
    expect(mid.spec.searchSpace?.augment).toEqual([false, true]);
    expect(mid.spec.training).toMatchObject({ epochs: 20, batchSize: 32 });
    const large = recommendSweep(input({ countsPerClass: counts(5000) }));
    expect(large.spec.searchSpace?.augment).toEqual([false]);
    expect(large.reasons.join('\n')).toContain('a network trained from scratch can compete');
  });

  it('a weak probe (far domain) fine-tunes every layer at the scratch rate, scratch as a contender', () => {
    const advice = recommendSweep(
      input({
        topProbe: probe('fc1', 0.3),
        earlyProbe: probe('conv2', 0.32),
      }),
    );
    expect(advice.spec.searchSpace?.freezeDepth).toEqual([0]);
    expect(advice.spec.searchSpace?.lrMultiplier).toEqual([1]);
    expect(advice.reasons.join('\n')).toMatch(/domains look far apart/);
    expect(advice.reasons.join('\n')).toMatch(/practice 6/);
  });

  it('freezes through the early layer, and says the probe favours it when that layer probes better', () => {
    const advice = recommendSweep(
      input({
        topProbe: probe('fc1', 0.8),
      }),
    );
    expect(advice.spec.searchSpace?.freezeDepth).toEqual([0, 'conv2']);
    expect(advice.reasons.join('\n')).toContain('the later layers are specific to the old task');
    const flat = recommendSweep(input());
    expect(flat.reasons.join('\n')).toContain("not better than 'fc1'");
  });

  it('returns a valid spec and counts its trials as the planner expands it', () => {
    const advice = recommendSweep(input({ testSet: { uri: '/data/t10k.gz', format: 'idx' } }));
    const spec = SweepSpecSchema.parse(advice.spec);
    const variants = expandVariants(spec, LAYERS).length;
    // finetune 2 freeze x 2 lr x 2 augment + 3 SVM C + scratch x 2 augment
    expect(variants).toBe(13);
    expect(advice.variants).toBe(13);
    expect(advice.trials).toBe(13 * (spec.folds ?? 0));
    expect(advice.warnings.join('\n')).not.toContain('no test set');
  });

  it('holds nothing out when a class is too small, with fewer folds than a class has images', () => {
    const advice = recommendSweep(input({ countsPerClass: [3, 30, 30, 30, 30] }));
    expect(advice.spec.holdoutFraction).toBe(0);
    expect(advice.spec.folds).toBe(3);
    expect(advice.reasons.join('\n')).toContain("smallest class ('a') has only 3 images");
    expect(advice.warnings.join('\n')).toContain('imbalanced');
  });

  it('refuses a class with fewer than 2 images, naming the dataset and the class', () => {
    expect(() => recommendSweep(input({ countsPerClass: [1, 30, 30, 30, 30] }))).toThrow(
      ValidationError,
    );
    expect(() => recommendSweep(input({ countsPerClass: [1, 30, 30, 30, 30] }))).toThrow(
      /dataset: class 'a' has 1 image/,
    );
  });
});
