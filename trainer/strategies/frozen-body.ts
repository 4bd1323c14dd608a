import { preprocessingOf } from '../../shared/model/preprocessing.js';
import { planCutLayer } from '../../shared/schemas/plan.js';
import { getBottleneckFeatures } from '../bottleneck-cache.js';
import { oneHotTensor, rowsTensor } from '../data.js';
import {
  bodyLayers,
  buildFineTuneModel,
  buildHeadModel,
  copyHeadWeights,
  featureExtractor,
  type HeadOptions,
  releaseModels,
} from '../model.js';
import type { LayersModel } from '../tf.js';
import { type TrainingLoss, trainWithEarlyStopping } from '../train.js';
import { imageSplits, type StrategyResult, type TrialContext, trainOptions } from './strategy.js';

export interface FrozenBodyHead {
  head: HeadOptions;
  /** The head's (Adam) learning rate: nothing else trains. */
  learningRate: number;
  /** The loss of the head: given the model being trained, whose head is `foldsweep_head`. */
  loss(model: LayersModel): TrainingLoss;
}

/**
 * Trains only a new head on a base frozen up to the cut, fed un-augmented images: the shared path
 * of bottleneck-linear and of finetune with every layer up to the cut frozen. Takes ownership of
 * `base`.
 * - cache on (default): the head trains alone on bottleneck features from the cache (computed
 *   and stored on a miss), then is put on the frozen body for export;
 * - cache off (training.bottleneckCache false): the full model trains with the body frozen, so
 *   the frozen layers run on every batch of every epoch.
 * Both paths start from the same seeded head and see the same batches: they train the same head.
 */
export async function trainOnFrozenBody(
  context: TrialContext,
  base: LayersModel,
  spec: FrozenBodyHead,
): Promise<StrategyResult> {
  const { tf, plan } = context;
  const cutLayer = planCutLayer(plan);
  const options = trainOptions(context);
  const head = { ...spec.head, init: spec.head.init ?? options.seed };
  let freezeDepth: number;
  try {
    freezeDepth = bodyLayers(base, cutLayer).length;
  } catch (error) {
    releaseModels(base);
    throw error;
  }
  const surgery = {
    ...head,
    strategy: context.variant.strategy,
    freezeDepth,
    learningRate: spec.learningRate,
    cutLayer,
  };
  if (plan.spec.training.bottleneckCache === false) {
    let model: LayersModel | undefined;
    const data = imageSplits(context);
    try {
      model = buildFineTuneModel(tf, base, surgery);
      const outcome = await trainWithEarlyStopping(tf, model, data, {
        ...options,
        loss: spec.loss(model),
      });
      const trained = model;
      return {
        model: trained,
        outcome,
        bottleneckCache: 'off',
        release: () => releaseModels(trained, base),
      };
    } catch (error) {
      releaseModels(model, base);
      throw error;
    } finally {
      tf.dispose(Object.values(data));
    }
  }

  const started = performance.now();
  const extractor = featureExtractor(tf, base, cutLayer);
  let headModel: LayersModel | undefined;
  let model: LayersModel | undefined;
  const owned: import('@tensorflow/tfjs').Tensor[] = [];
  try {
    const features = await getBottleneckFeatures(
      tf,
      context.objects,
      { baseModelHash: plan.baseModel.hash, cutLayer, datasetHash: plan.dataset.hash },
      extractor,
      {
        pixels: context.pixels,
        shape: plan.dataset.shape,
        count: plan.dataset.count,
        scaling: preprocessingOf(plan.dataset),
      },
    );
    const featuresMs = Math.round(performance.now() - started);
    const { split, labels } = context;
    const numClasses = plan.dataset.classes.length;
    const data = {
      xTrain: rowsTensor(tf, features.table, features.featureShape, split.train),
      yTrain: oneHotTensor(tf, labels, numClasses, split.train),
      xVal: rowsTensor(tf, features.table, features.featureShape, split.validation),
      yVal: oneHotTensor(tf, labels, numClasses, split.validation),
    };
    owned.push(...Object.values(data));
    headModel = buildHeadModel(tf, features.featureShape, {
      ...head,
      learningRate: spec.learningRate,
    });
    const outcome = await trainWithEarlyStopping(tf, headModel, data, {
      ...options,
      loss: spec.loss(headModel),
    });
    model = buildFineTuneModel(tf, base, surgery);
    copyHeadWeights(headModel, model);
    const trained = model;
    return {
      model: trained,
      outcome,
      bottleneckCache: features.cache,
      featuresMs,
      release: () => releaseModels(trained, base),
    };
  } catch (error) {
    releaseModels(model, base);
    throw error;
  } finally {
    tf.dispose(owned);
    releaseModels(headModel);
  }
}
