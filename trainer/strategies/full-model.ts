import { planCutLayer } from '../../shared/schemas/plan.js';
import { DEFAULT_AUGMENTATION } from '../../shared/schemas/sweep-spec.js';
import { augmentBatch } from '../augment.js';
import { buildFineTuneModel, releaseModels } from '../model.js';
import type { LayersModel } from '../tf.js';
import { trainWithEarlyStopping } from '../train.js';
import {
  headOptions,
  imageSplits,
  type StrategyResult,
  type TrialContext,
  trainOptions,
} from './strategy.js';

/**
 * Surgery on `base` (cut, new head, freeze the first `freezeDepth` layers), then training of
 * the whole model on the fold's images, augmented when the variant says so: the path of
 * finetune (with layers to train below the cut, or augmentation) and of scratch.
 * Takes ownership of `base`.
 */
export async function trainFullModel(
  context: TrialContext,
  base: LayersModel,
  rates: { freezeDepth: number; learningRate: number; headLearningRate?: number },
): Promise<StrategyResult> {
  const { tf, plan, variant } = context;
  const options = trainOptions(context);
  const augmentation = plan.spec.augmentation ?? DEFAULT_AUGMENTATION;
  let model: LayersModel | undefined;
  const data = imageSplits(context);
  try {
    model = buildFineTuneModel(tf, base, {
      ...headOptions(plan),
      init: options.seed,
      strategy: variant.strategy,
      freezeDepth: rates.freezeDepth,
      learningRate: rates.learningRate,
      cutLayer: planCutLayer(plan),
    });
    const outcome = await trainWithEarlyStopping(tf, model, data, {
      ...options,
      headLearningRate: rates.headLearningRate,
      augment: variant.augment
        ? (xs, random) => augmentBatch(tf, xs, augmentation, random)
        : undefined,
    });
    const trained = model;
    return { model: trained, outcome, release: () => releaseModels(trained, base) };
  } catch (error) {
    releaseModels(model, base);
    throw error;
  } finally {
    tf.dispose(Object.values(data));
  }
}
