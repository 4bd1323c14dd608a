/**
 * Plumbing shared by the wasm kernels of ../wasm-kernels.ts: calling wasm's own kernels from
 * inside a kernel, freeing their intermediates, and reading/writing tensors in the wasm heap.
 *
 * Two ways to compute inside a kernelFunc, both without re-entering the tfjs engine (calling tf
 * ops such as tf.tidy or tf.add inside a kernelFunc crashes):
 * - `Scope.run` calls another wasm kernel's kernelFunc directly (`getKernel(name, 'wasm')`);
 * - `heapF32` views a float32 tensor's bytes in the wasm heap as a Float32Array, for plain loops
 *   over memory (the way tfjs-backend-wasm's own JS kernels such as Identity and Cast work).
 *
 * Heap views: allocating (makeOutput, or running a kernel that allocates) may grow the wasm memory,
 * which detaches every earlier view. Allocate all outputs first, then take the views, and take them
 * again after running any kernel.
 */
import type { DataId, DataType, KernelBackend, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs';
import { getKernel } from '@tensorflow/tfjs';

export const BACKEND = 'wasm';

/** What the kernels use of tfjs-backend-wasm's BackendWasm (typed here, not imported). */
export interface WasmBackend extends KernelBackend {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
  incRef(dataId: DataId): void;
  getMemoryOffset(dataId: DataId): number;
}

export type Shape4 = [number, number, number, number];

/** A float32 tensor's data as a view of the wasm heap (re-take it after any allocation). */
export function heapF32(backend: WasmBackend, t: TensorInfo): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`wasm-kernels: expected float32, got ${t.dtype}`);
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/** A kernel of backend 'wasm', or a clear error if it is missing. */
export function wasmKernel(kernelName: string) {
  const kernel = getKernel(kernelName, BACKEND);
  if (!kernel) throw new Error(`wasm-kernels: backend 'wasm' has no '${kernelName}' kernel`);
  return kernel;
}

/** Runs wasm kernels and remembers their outputs so they can be freed in one go. */
export class Scope {
  private readonly temps: TensorInfo[] = [];

  constructor(readonly backend: WasmBackend) {}

  run(kernelName: string, inputs: Record<string, TensorInfo>, attrs: object): TensorInfo {
    const out = wasmKernel(kernelName).kernelFunc({
      inputs,
      backend: this.backend,
      attrs: attrs as NamedAttrMap,
    }) as TensorInfo;
    this.temps.push(out);
    return out;
  }

  /** A new uninitialised float32 tensor in the wasm heap, freed with the scope. */
  alloc(shape: number[]): TensorInfo {
    const out = this.backend.makeOutput(shape, 'float32');
    this.temps.push(out);
    return out;
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    const same = x.shape.every((d, i) => begin[i] === 0 && size[i] === d);
    return same ? x : this.run('Slice', { x }, { begin, size });
  }

  sum(x: TensorInfo, axis: number): TensorInfo {
    return this.run('Sum', { x }, { axis: [axis], keepDims: false });
  }

  /** [M, K] x [K, N] -> [M, N] (wasm's BatchMatMul; fast only without transposes). */
  matMul(a: TensorInfo, b: TensorInfo): TensorInfo {
    return this.run('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
  }

  /** Frees every intermediate except `keep` (reshapes share data and are ref-counted). */
  finish(keep?: TensorInfo): void {
    const seen = new Set<TensorInfo>();
    for (const t of this.temps) {
      if (t === keep || seen.has(t)) continue;
      seen.add(t);
      this.backend.disposeData(t.dataId as DataId);
    }
    this.temps.length = 0;
  }
}

/** Runs `body` in a Scope, keeping only its result (and freeing everything on error). */
export function scoped(backend: unknown, body: (s: Scope) => TensorInfo): TensorInfo {
  const scope = new Scope(backend as WasmBackend);
  let result: TensorInfo | undefined;
  try {
    result = body(scope);
    return result;
  } finally {
    scope.finish(result);
  }
}
