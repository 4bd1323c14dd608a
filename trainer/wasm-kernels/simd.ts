/**
 * The SIMD helper module (simd.wat, assembled into simd-module.ts) instantiated on the wasm
 * backend's own linear memory, so its loops read and write tensors in place.
 *
 * It is only available when the backend's memory is a plain (non-shared) WebAssembly.Memory and
 * the engine validates SIMD: true in Node (threads off). In the multi-threaded browser build the
 * memory is shared and `simdFor` returns undefined; the kernels then fall back to wasm's own.
 */
import type { DataId, TensorInfo } from '@tensorflow/tfjs';
import type { WasmBackend } from './scope.js';
import { SIMD_WASM_BASE64 } from './simd-module.js';

/** Input H, W, C; output OH, OW; filter FH, FW; strides; top and left padding. */
/**
 * What simd.wat's convForward and convFilterGrad take after their three pointers: batch, the
 * padded input's height, width and channels (hp, wp, c), the output's (oh, ow, o), the filter's
 * height and width (fh, fw) and the strides (sh, sw).
 */
export type PaddedConvDims = [
  batch: number,
  hp: number,
  wp: number,
  c: number,
  oh: number,
  ow: number,
  o: number,
  fh: number,
  fw: number,
  sh: number,
  sw: number,
];

export type ConvGeometry = [
  h: number,
  w: number,
  c: number,
  oh: number,
  ow: number,
  fh: number,
  fw: number,
  sh: number,
  sw: number,
  top: number,
  left: number,
];

/** The exports of simd.wat. Pointers are byte offsets in the backend's memory. */
export interface SimdExports {
  maxPoolGrad(
    x: number,
    dy: number,
    dx: number,
    batch: number,
    h: number,
    w: number,
    c: number,
    oh: number,
    ow: number,
    sh: number,
    sw: number,
    fh: number,
    fw: number,
    top: number,
    left: number,
    tiled: number,
  ): void;
  im2colT(x: number, col: number, b0: number, nb: number, ...geometry: ConvGeometry): void;
  col2imAdd(dcol: number, dx: number, b0: number, nb: number, ...geometry: ConvGeometry): void;
  addInto(dst: number, src: number, n: number): void;
  padCopy(
    x: number,
    xp: number,
    batch: number,
    h: number,
    w: number,
    c: number,
    hp: number,
    wp: number,
    top: number,
    left: number,
  ): void;
  convForward(xp: number, w: number, y: number, ...dims: PaddedConvDims): void;
  convFilterGrad(xp: number, dy: number, dw: number, ...dims: PaddedConvDims): void;
  biasAdd(x: number, bias: number, out: number, rows: number, c: number): void;
  /** op: 0 add, 1 sub, 2 mul, 3 div; mode: 0 same shape, 1 b scalar, 2 a scalar */
  binary(op: number, a: number, b: number, out: number, n: number, mode: number): void;
  step(x: number, out: number, n: number, alpha: number): void;
  gather(
    x: number,
    idx: number,
    out: number,
    n: number,
    outer: number,
    dimBytes: number,
    slice: number,
  ): void;
  sumRows(x: number, acc: number, out: number, rows: number, c: number): void;
}

/** Minimal typing of the WebAssembly JS API (lib is ES2022 without DOM). */
interface WasmApi {
  Memory: new (...args: never[]) => { buffer: ArrayBufferLike };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

const instances = new WeakMap<object, SimdExports | null>();
let compiled: object | null | undefined;

function api(): WasmApi | undefined {
  return (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
}

/** The backend's WebAssembly.Memory, if it is a plain one this module can import. */
function memoryOf(backend: WasmBackend): object | undefined {
  const wa = api();
  const mod = (backend as { wasm?: { asm?: { memory?: unknown }; wasmMemory?: unknown } }).wasm;
  const memory = mod?.asm?.memory ?? mod?.wasmMemory;
  if (!wa || !(memory instanceof wa.Memory)) return undefined;
  const isShared =
    typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  return isShared ? undefined : memory;
}

/** The SIMD helpers bound to this backend's memory, or undefined where they cannot run. */
export function simdFor(backend: WasmBackend): SimdExports | undefined {
  const memory = memoryOf(backend);
  if (!memory) return undefined;
  let inst = instances.get(memory);
  if (inst === undefined) {
    inst = null;
    try {
      const wa = api() as WasmApi;
      if (compiled === undefined) {
        compiled = new wa.Module(Uint8Array.from(atob(SIMD_WASM_BASE64), (ch) => ch.charCodeAt(0)));
      }
      if (compiled) {
        inst = new wa.Instance(compiled, { env: { memory } }).exports as SimdExports;
      }
    } catch {
      compiled = null; // e.g. an engine without wasm SIMD: use the fallbacks from now on
    }
    instances.set(memory, inst);
  }
  return inst ?? undefined;
}

/** Byte offset of a tensor's data in the backend's memory. */
export function ptr(backend: WasmBackend, t: TensorInfo): number {
  return backend.getMemoryOffset(t.dataId as DataId);
}
