/** The tfjs namespace the trainer runs on: @tensorflow/tfjs, or tfjs-node(-gpu) which re-exports it. */
export type Tf = typeof import('@tensorflow/tfjs');
export type LayersModel = import('@tensorflow/tfjs').LayersModel;
export type Tensor = import('@tensorflow/tfjs').Tensor;
