import { SIMPLICITY_TIER, type StrategyDescriptor } from './descriptor.js';

/**
 * bottleneck-linear trains its SVM (Adam, weights from 0) at training.learningRate x this: a
 * linear model on fixed features is a convex problem that takes larger steps well, and needs
 * them to converge (so that C matters) within the epochs the other strategies get.
 */
export const SVM_LR_MULTIPLIER = 10;

/**
 * bottleneck-linear: the whole base up to the cut is frozen (freezeDepth = every layer up to it);
 * a one-vs-rest linear SVM is trained on its outputs, the bottleneck features, always from the
 * cache. Grid: svmC, then svmLoss. The model returns class scores, not probabilities.
 */
export const bottleneckLinear: StrategyDescriptor<'bottleneck-linear'> = {
  name: 'bottleneck-linear',
  dimensions: { svmC: [1], svmLoss: ['squared-hinge'] },
  outputs: 'scores',
  head: 'linear',
  *expand(grid) {
    const freezeDepth = grid.bodyLayers('for bottleneck-linear').length;
    for (const svmC of grid.values('svmC')) {
      for (const svmLoss of grid.values('svmLoss')) {
        yield {
          key: { svmC, svmLoss },
          variant: {
            freezeDepth,
            lrMultiplier: SVM_LR_MULTIPLIER,
            learningRate: grid.learningRate * SVM_LR_MULTIPLIER,
            svmC,
            svmLoss,
          },
        };
      }
    }
  },
  describe: (v) => `bottleneck-linear C=${v.svmC ?? 1}${v.svmLoss === 'hinge' ? ' hinge' : ''}`,
  servedByBottleneckCache: () => true,
  // A smaller C regularises more: the simpler of two SVMs on the same features.
  simplicity: (v) => [SIMPLICITY_TIER.linearProbe, v.svmC ?? 1],
};
