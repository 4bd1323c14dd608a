import { planCutLayer } from '../../shared/schemas/plan.js';
import { STRATEGY_DESCRIPTORS } from '../../shared/strategies/index.js';
import { bodyLayers, releaseModels } from '../model.js';
import { loadModelFromStore } from '../model-io.js';
import { crossEntropyLoss } from '../train.js';
import { trainOnFrozenBody } from './frozen-body.js';
import { trainFullModel } from './full-model.js';
import { headOptions, type TrainingStrategy } from './strategy.js';

/**
 * finetune: the base cut at the cut layer, a new softmax head (optional hidden layer and
 * dropout), the first freezeDepth layers frozen (in inference mode), the rest trained at
 * learningRate (= training.learningRate x lrMultiplier) and the new head at headLearningRate
 * (= learningRate x headLrMultiplier). When every layer up to the cut is frozen and the variant
 * does not augment, only the head trains: on cached bottleneck features (trainOnFrozenBody).
 */
export const finetune: TrainingStrategy<'finetune'> = {
  name: 'finetune',
  async train(context) {
    const { tf, plan, variant } = context;
    const base = await loadModelFromStore(tf, context.objects, plan.baseModel.prefix);
    let depth: number;
    try {
      depth = bodyLayers(base, planCutLayer(plan)).length;
    } catch (error) {
      releaseModels(base);
      throw error;
    }
    const headLearningRate = variant.headLearningRate ?? variant.learningRate;
    if (STRATEGY_DESCRIPTORS.finetune.servedByBottleneckCache(variant, depth)) {
      return trainOnFrozenBody(context, base, {
        head: headOptions(plan),
        learningRate: headLearningRate,
        loss: () => crossEntropyLoss(tf),
      });
    }
    return trainFullModel(context, base, {
      freezeDepth: variant.freezeDepth,
      learningRate: variant.learningRate,
      headLearningRate: headLearningRate === variant.learningRate ? undefined : headLearningRate,
    });
  },
};
