import { reinitialized, releaseModels } from '../model.js';
import { loadModelFromStore } from '../model-io.js';
import { trainFullModel } from './full-model.js';
import type { TrainingStrategy } from './strategy.js';

/**
 * scratch: the finetune architecture (cut, same new head) with every weight re-initialised and
 * every layer trained at training.learningRate: the baseline the other strategies must beat.
 */
export const scratch: TrainingStrategy<'scratch'> = {
  name: 'scratch',
  async train(context) {
    const { tf, plan, variant } = context;
    const pretrained = await loadModelFromStore(tf, context.objects, plan.baseModel.prefix);
    let fresh: Awaited<ReturnType<typeof reinitialized>>;
    try {
      fresh = await reinitialized(tf, pretrained);
    } finally {
      releaseModels(pretrained);
    }
    return trainFullModel(context, fresh, { freezeDepth: 0, learningRate: variant.learningRate });
  },
};
