import { HEAD_OUTPUT } from '../model.js';
import { loadModelFromStore } from '../model-io.js';
import type { LayersModel, Tensor, Tf } from '../tf.js';
import { ovrHingePerSample, type TrainingLoss } from '../train.js';
import { trainOnFrozenBody } from './frozen-body.js';
import type { TrainingStrategy } from './strategy.js';

type Scalar = import('@tensorflow/tfjs').Scalar;

/**
 * bottleneck-linear: the base frozen up to the cut produces bottleneck features (from the cache);
 * a multi-class one-vs-rest linear SVM is trained on them: scores s = xW + b, minimising
 *   mean over samples of sum over classes of L(y_k s_k)  +  |W|^2 / (2 C n)
 * with L the hinge max(0, 1 - m) or its square, y_k = +1 for the true class and -1 otherwise,
 * n the training samples (LinearSVC's 1/2 |W|^2 + C sum L, divided by C n; the bias is not
 * regularised). Adam at variant.learningRate (10 x training.learningRate, SVM_LR_MULTIPLIER),
 * mini-batches, early stopping as for the other strategies; weights start at 0. The exported
 * model is the frozen body + Dense(numClasses, linear): class scores, not probabilities; argmax
 * gives the class. Reported losses are the plain hinge loss without the L2 term, whichever loss
 * was trained.
 */
export const bottleneckLinear: TrainingStrategy<'bottleneck-linear'> = {
  name: 'bottleneck-linear',
  async train(context) {
    const { tf, plan, variant } = context;
    const C = variant.svmC ?? 1;
    const squared = (variant.svmLoss ?? 'squared-hinge') === 'squared-hinge';
    const trainSamples = context.split.train.length;
    const base = await loadModelFromStore(tf, context.objects, plan.baseModel.prefix);
    return trainOnFrozenBody(context, base, {
      head: { numClasses: plan.dataset.classes.length, output: 'linear', init: 'zeros' },
      learningRate: variant.learningRate,
      loss: (model) => svmLoss(tf, model, { C, squared, trainSamples }),
    });
  },
};

/**
 * The linear SVM's training loss on a model whose head output layer (`foldsweep_head`) is a
 * Dense(numClasses, linear): the mean one-vs-rest (squared) hinge plus |W|^2 / (2 C n); per
 * sample, the plain hinge (reported, never trained).
 */
export function svmLoss(
  tf: Tf,
  model: LayersModel,
  options: { C: number; squared: boolean; trainSamples: number },
): TrainingLoss {
  const { C, squared, trainSamples } = options;
  const kernel = model.getLayer(HEAD_OUTPUT).trainableWeights[0];
  if (!kernel) throw new Error('the SVM head has no kernel');
  return {
    minimise: (y: Tensor, scores: Tensor) =>
      tf.tidy(() =>
        ovrHingePerSample(tf, y, scores, squared)
          .mean()
          .add(
            kernel
              .read()
              .square()
              .sum()
              .div(2 * C * trainSamples),
          ),
      ) as Scalar,
    perSample: (y: Tensor, scores: Tensor) => ovrHingePerSample(tf, y, scores),
  };
}
