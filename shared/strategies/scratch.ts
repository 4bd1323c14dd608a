import { SIMPLICITY_TIER, type StrategyDescriptor } from './descriptor.js';

/**
 * scratch: the finetune architecture with fresh weights, every layer trained at
 * training.learningRate (freezeDepth 0, lrMultiplier 1): the baseline. Grid: augment.
 */
export const scratch: StrategyDescriptor<'scratch'> = {
  name: 'scratch',
  dimensions: { augment: [false] },
  outputs: 'probabilities',
  head: 'new',
  *expand(grid) {
    for (const augment of grid.values('augment')) {
      yield {
        key: { freezeDepth: 0, lrMultiplier: 1, ...(augment ? { augment } : {}) },
        variant: { freezeDepth: 0, lrMultiplier: 1, learningRate: grid.learningRate, augment },
      };
    }
  },
  describe: (v) => `scratch${v.augment ? ' aug' : ''}`,
  servedByBottleneckCache: () => false,
  simplicity: () => [SIMPLICITY_TIER.fromScratch],
};
