/**
 * Adam's update of a variable as one wasm kernel (simd.wat `adam`) instead of tfjs-core's ~13
 * (Mul, Add, Square, RealDiv, Sqrt, ... per variable, each a dispatch through the engine and a
 * pass over the variable): on the small networks the trainer fine-tunes, the optimizer's
 * dispatches cost more than its arithmetic.
 *
 * The update is tfjs-core's AdamOptimizer.applyGradients, run on the optimizer's own state (its
 * moment variables, accBeta1 / accBeta2 and iteration count, created and named as tfjs-core does),
 * so getWeights / setWeights, checkpoints and a later plain applyGradients see the same optimizer.
 * The kernel does the same float32 operations in the same order: the results are bit-identical.
 *
 * It applies on backend 'wasm' with the 'fast' kernel set and the SIMD module; anywhere else (and
 * for any other optimizer) `applyGradients` is the optimizer's own.
 */
import {
  AdamOptimizer,
  engine,
  getBackend,
  type KernelFunc,
  mul,
  type NamedAttrMap,
  type Optimizer,
  registerKernel,
  type Tensor,
  type TensorInfo,
  tidy,
  type Variable,
  zerosLike,
} from '@tensorflow/tfjs';
import { BACKEND, heapF32, type WasmBackend } from './scope.js';
import { ptr, simdFor } from './simd.js';

export const FUSED_ADAM = 'FoldsweepAdam';

/** What the update reads of tfjs-core's AdamOptimizer (protected there; same names). */
interface AdamState {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: Variable;
  accBeta2: Variable;
  accumulatedFirstMoment: { originalName: string; variable: Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: Variable }[];
  incrementIterations(): void;
}

/**
 * [value', m', v'] of one variable: inputs value, m, v, gradient (same shape) and the optimizer's
 * accBeta1 / accBeta2 scalars (beta^t); attrs learningRate, beta1, beta2, epsilon.
 */
const fusedAdam: KernelFunc = ({ inputs, backend, attrs }) => {
  const { value, m, v, gradient, accBeta1, accBeta2 } = inputs as Record<string, TensorInfo>;
  const { learningRate, beta1, beta2, epsilon } = attrs as Record<string, number>;
  const b = backend as WasmBackend;
  const outs = [value, m, v].map((t) => b.makeOutput([...t.shape], 'float32'));
  const f = Math.fround;
  // tfjs-core: sub(1, accBeta) in float32; JavaScript numbers become float32 scalars.
  const d1 = f(1 - heapF32(b, accBeta1)[0]);
  const d2 = f(1 - heapF32(b, accBeta2)[0]);
  const n = value.shape.reduce((p, d) => p * d, 1);
  (simdFor(b) as NonNullable<ReturnType<typeof simdFor>>).adam(
    ptr(b, value),
    ptr(b, m),
    ptr(b, v),
    ptr(b, gradient),
    ptr(b, outs[0]),
    ptr(b, outs[1]),
    ptr(b, outs[2]),
    n,
    f(beta1),
    f(1 - beta1),
    f(beta2),
    f(1 - beta2),
    d1,
    d2,
    f(epsilon),
    f(-learningRate),
  );
  return outs;
};

let fastSetActive: (() => boolean) | undefined;

/**
 * Registers the kernel (backend 'wasm') once; `active` says whether the 'fast' set is installed
 * (asked at every update).
 */
export function installFusedAdam(active: () => boolean): void {
  if (!fastSetActive) {
    registerKernel({ kernelName: FUSED_ADAM, backendName: BACKEND, kernelFunc: fusedAdam });
  }
  fastSetActive = active;
}

function fusedAdamApplies(): boolean {
  return (
    fastSetActive !== undefined &&
    getBackend() === BACKEND &&
    fastSetActive() &&
    simdFor(engine().backend as unknown as WasmBackend) !== undefined
  );
}

/**
 * `optimizer.applyGradients(grads)`; for a tfjs AdamOptimizer on wasm with the 'fast' set, the
 * same update with one kernel per variable (see the file comment).
 */
export function applyGradients(optimizer: Optimizer, grads: Record<string, Tensor>): void {
  const names = Object.keys(grads);
  const fused =
    optimizer instanceof AdamOptimizer &&
    fusedAdamApplies() &&
    names.every((name) => grads[name] == null || grads[name].dtype === 'float32');
  if (!fused) {
    // tfjs-layers types gradients as variables; a map of gradient tensors is what it takes.
    optimizer.applyGradients(grads as never);
    return;
  }
  const adam = optimizer as unknown as AdamState;
  tidy(() => {
    names.forEach((name, i) => {
      const value = engine().registeredVariables[name];
      // Moment slots by position, created as tfjs-core creates them (names included).
      adam.accumulatedFirstMoment[i] ??= {
        originalName: `${name}/m`,
        variable: tidy(() => zerosLike(value).variable(false)),
      };
      adam.accumulatedSecondMoment[i] ??= {
        originalName: `${name}/v`,
        variable: tidy(() => zerosLike(value).variable(false)),
      };
      const gradient = grads[name];
      if (gradient == null) return;
      const m = adam.accumulatedFirstMoment[i].variable;
      const v = adam.accumulatedSecondMoment[i].variable;
      const [newValue, newM, newV] = engine().runKernel(
        FUSED_ADAM,
        { value, m, v, gradient, accBeta1: adam.accBeta1, accBeta2: adam.accBeta2 },
        {
          learningRate: adam.learningRate,
          beta1: adam.beta1,
          beta2: adam.beta2,
          epsilon: adam.epsilon,
        } as unknown as NamedAttrMap,
      ) as unknown as Tensor[];
      m.assign(newM);
      v.assign(newV);
      value.assign(newValue);
    });
    adam.accBeta1.assign(mul(adam.accBeta1, adam.beta1));
    adam.accBeta2.assign(mul(adam.accBeta2, adam.beta2));
  });
  adam.incrementIterations();
}
