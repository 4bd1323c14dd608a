import { describe, expect, it } from 'vitest';
import { buildLeaderboard } from '../../../../shared/aggregation/leaderboard.js';
import { describeVariant, expandVariants } from '../../../../shared/planner/variants.js';
import { VariantSchema } from '../../../../shared/schemas/plan.js';
import { planFactory, sweepSpecFactory } from '../../../helpers/factories.js';

const BODY = ['conv1', 'pool1', 'conv2', 'pool2', 'gap', 'fc1'];

describe('a freezeDepth given as a layer name', () => {
  it('is described by that name, with the same id as the count it stands for', () => {
    // Prepare
    const named = sweepSpecFactory({
      searchSpace: { freezeDepth: ['pool2', 'fc1'], lrMultiplier: [1] },
    });
    const counted = sweepSpecFactory({ searchSpace: { freezeDepth: [4, 6], lrMultiplier: [1] } });

    // Act
    const byName = expandVariants(named, BODY);
    const byCount = expandVariants(counted, BODY);

    // Assess
    expect(byName.map(describeVariant)).toEqual([
      'finetune freeze=pool2 lr×1',
      'finetune freeze=fc1 lr×1',
    ]);
    expect(byName.map((v) => [v.freezeDepth, v.freezeAt])).toEqual([
      [4, 'pool2'],
      [6, 'fc1'],
    ]);
    expect(byCount.map(describeVariant)).toEqual([
      'finetune freeze=4 lr×1',
      'finetune freeze=6 lr×1',
    ]);
    expect(byCount.every((v) => !('freezeAt' in v))).toBe(true);
    expect(byName.map((v) => v.id)).toEqual(byCount.map((v) => v.id));
  });

  it('collapses with its count, keeping whichever came first', () => {
    // Prepare
    const nameFirst = sweepSpecFactory({
      searchSpace: { freezeDepth: ['fc1', 6], lrMultiplier: [1] },
    });
    const countFirst = sweepSpecFactory({
      searchSpace: { freezeDepth: [6, 'fc1'], lrMultiplier: [1] },
    });

    // Act
    const a = expandVariants(nameFirst, BODY);
    const b = expandVariants(countFirst, BODY);

    // Assess
    expect(a.map(describeVariant)).toEqual(['finetune freeze=fc1 lr×1']);
    expect(b.map(describeVariant)).toEqual(['finetune freeze=6 lr×1']);
    expect(a[0].id).toBe(b[0].id);
  });

  it('freezing everything up to the cut trains the head alone at the from-scratch rate, whatever lrMultiplier', () => {
    // Prepare: lrMultiplier 0.1 would slow a fresh head that nothing else trains with
    const spec = sweepSpecFactory({
      searchSpace: { freezeDepth: [3, 'fc1'], lrMultiplier: [1, 0.1], headLrMultiplier: [1, 10] },
      training: { learningRate: 0.003 },
    });

    // Act
    const variants = expandVariants(spec, BODY);

    // Assess: freeze=3 keeps every multiplier; freeze=fc1 one per head multiplier
    expect(variants.map(describeVariant)).toEqual([
      'finetune freeze=3 lr×1',
      'finetune freeze=3 lr×1 head×10',
      'finetune freeze=3 lr×0.1',
      'finetune freeze=3 lr×0.1 head×10',
      'finetune freeze=fc1 lr×1',
      'finetune freeze=fc1 lr×1 head×10',
    ]);
    const probe = variants.filter((v) => v.freezeAt === 'fc1');
    expect(probe.map((v) => v.headLearningRate)).toEqual([0.003, 0.03]);
  });

  it('shows in the leaderboard, and plans without freezeAt still parse', () => {
    // Prepare: the factory base model's layers are conv1, pool1, flatten, dense1.
    const plan = planFactory({
      spec: { searchSpace: { freezeDepth: [0, 'pool1'], lrMultiplier: [1] } },
    });

    // Act
    const board = buildLeaderboard(plan, []);
    const { freezeAt: _, ...old } = plan.variants[1];

    // Assess
    expect(board.rows.map((r) => r.description)).toEqual([
      'finetune freeze=0 lr×1',
      'finetune freeze=pool1 lr×1',
    ]);
    expect(board.rows[1].freezeDepth).toBe(2);
    expect(VariantSchema.parse(old)).toEqual(old);
  });
});
