/**
 * The SIMD helper module (simd.wat, assembled into simd-module.ts) instantiated on the wasm
 * backend's own linear memory, so its loops read and write tensors in place.
 *
 * It is only available when the backend's memory is a plain (non-shared) WebAssembly.Memory and
 * the engine validates SIMD: true in Node (threads off). In the multi-threaded browser build the
 * memory is shared and `simdFor` returns undefined; the kernels then fall back to wasm's own.
 *
 * Two builds of simd.wat (build-simd.ts): the plain one, and one whose convolution tiles use
 * relaxed SIMD's fused multiply-add (relaxed.ts). The second is used when the engine validates it:
 * on Node 20 only with `--experimental-wasm-relaxed-simd`, which the local pool passes to its
 * trainer processes (feature-detected here by compiling it; without the flag, the plain build).
 * FMA rounds once instead of twice, so results move within the gradient tests' tolerances.
 * $FOLDSWEEP_WASM_FMA=0 (or `setWasmFma(false)`) keeps the plain build.
 */
import type { DataId, TensorInfo } from '@tensorflow/tfjs';
import type { WasmBackend } from './scope.js';
import { SIMD_FMA_WASM_BASE64, SIMD_WASM_BASE64 } from './simd-module.js';

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
  /** max pool with 2x2 windows, stride 2, no padding; C % 4 === 0 */
  maxPool2x2(
    x: number,
    y: number,
    batch: number,
    h: number,
    w: number,
    oh: number,
    ow: number,
    c: number,
  ): void;
  /** maxPoolGrad for 2x2 windows, stride 2, tiling the input; C % 4 === 0 */
  maxPoolGrad2x2(
    x: number,
    dy: number,
    dx: number,
    batch: number,
    oh: number,
    ow: number,
    c: number,
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
  /** out = max(x, 0) as tfjs Relu (NaN and -0 kept); out may be x */
  relu(x: number, out: number, n: number): void;
  /** out [n, c] = relu(x + bias [c]) in one pass (biasAdd then relu); c % 8 == 0, out may be x */
  biasRelu(x: number, bias: number, out: number, n: number, c: number): void;
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
  /** out [rows, c] = x (op) v [c] per channel (vFirst 1: v (op) x); op as in `binary` */
  channelBinary(
    op: number,
    x: number,
    v: number,
    out: number,
    rows: number,
    c: number,
    vFirst: number,
  ): void;
  /** out [rows, c] = (x - m [c]) * a [c] + b [c] */
  channelAffine(
    x: number,
    m: number,
    a: number,
    b: number,
    out: number,
    rows: number,
    c: number,
  ): void;
  /** out bool bytes = x (op) s; op 0 >=, 1 <=, 2 >, 3 < */
  compareScalar(op: number, x: number, s: number, out: number, n: number): void;
  logicalAnd(a: number, b: number, out: number, n: number): void;
  select(cond: number, a: number, b: number, out: number, n: number): void;
  /** depthwise 3x3, multiplier 1: y = xp (*) w */
  dwForward3x3(xp: number, w: number, y: number, ...dims: DepthwiseDims): void;
  /** depthwise 3x3, multiplier 1: dw [3, 3, C] from xp and dy */
  dwFilterGrad3x3(xp: number, dy: number, dw: number, ...dims: DepthwiseDims): void;
  /** depthwise 3x3, multiplier 1: dxp (padded grid, zeroed here) from dy and w */
  dwInputGrad3x3(dxp: number, w: number, dy: number, ...dims: DepthwiseDims): void;
  reluGrad(x: number, dy: number, out: number, n: number): void;
  /** reluGrad on x, dy [n, c] and the sum of its output over the n rows into sums [c]; c % 8 == 0. */
  reluGradSum(x: number, dy: number, out: number, sums: number, n: number, c: number): void;
  squareGrad(x: number, dy: number, out: number, n: number): void;
  /** one Adam step: the new value, m and v of a variable (see simd.wat) */
  adam(
    value: number,
    m: number,
    v: number,
    g: number,
    outValue: number,
    outM: number,
    outV: number,
    n: number,
    ...coefficients: AdamCoefficients
  ): void;
  clipGrad(x: number, dy: number, out: number, n: number, lo: number, hi: number): void;
  /** acc [2C] float64 = per channel sum of dy, sum of dy * (x - mean) */
  bnGradSums(x: number, dy: number, mean: number, acc: number, rows: number, c: number): void;
  /** x = the [B, H, W, C] window of xp [B, Hp, Wp, C] at (top, left) */
  cropCopy(
    xp: number,
    x: number,
    batch: number,
    h: number,
    w: number,
    c: number,
    hp: number,
    wp: number,
    top: number,
    left: number,
  ): void;
}

/**
 * What simd.wat's `adam` takes after its pointers and length, all float32: beta1, 1 - beta1,
 * beta2, 1 - beta2, 1 - beta1^t, 1 - beta2^t, epsilon, -learning rate.
 */
export type AdamCoefficients = [
  b1: number,
  c1: number,
  b2: number,
  c2: number,
  d1: number,
  d2: number,
  eps: number,
  negLr: number,
];

/** What simd.wat's depthwise loops take after their pointers. */
export type DepthwiseDims = [
  batch: number,
  hp: number,
  wp: number,
  c: number,
  oh: number,
  ow: number,
  sh: number,
  sw: number,
];

/** Minimal typing of the WebAssembly JS API (lib is ES2022 without DOM). */
interface WasmApi {
  Memory: new (...args: never[]) => { buffer: ArrayBufferLike };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

/** The two builds of simd.wat: plain SIMD, and with fused multiply-adds (relaxed SIMD). */
type Variant = 'plain' | 'fma';

const instances = new WeakMap<object, Partial<Record<Variant, SimdExports | null>>>();
const compiled: Partial<Record<Variant, object | null>> = {};

/** Environment variable that turns the fused multiply-add build off ('0' / 'off'). */
export const WASM_FMA_ENV = 'FOLDSWEEP_WASM_FMA';

/** The V8 flag under which Node 20 validates relaxed SIMD (on by default from Node 22's V8). */
export const RELAXED_SIMD_FLAG = '--experimental-wasm-relaxed-simd';

let fmaWanted = !['0', 'off', 'false'].includes(process.env[WASM_FMA_ENV]?.trim() ?? '');

function api(): WasmApi | undefined {
  return (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
}

function compile(variant: Variant): object | null {
  let mod = compiled[variant];
  if (mod === undefined) {
    mod = null;
    try {
      const b64 = variant === 'fma' ? SIMD_FMA_WASM_BASE64 : SIMD_WASM_BASE64;
      mod = new (api() as WasmApi).Module(Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0)));
    } catch {
      // an engine without wasm SIMD (plain), or without relaxed SIMD (fma): fall back
    }
    compiled[variant] = mod;
  }
  return mod;
}

/**
 * Whether the engine runs the fused multiply-add build (relaxed SIMD: Node 20 needs
 * `--experimental-wasm-relaxed-simd`, which the local pool passes to its trainer processes).
 */
export function relaxedSimdSupported(): boolean {
  return api() !== undefined && compile('fma') !== null;
}

/**
 * Prefer the fused multiply-add build where the engine supports it (default: on unless
 * $FOLDSWEEP_WASM_FMA is '0' / 'off'); false = the plain SIMD build. For benchmarks and tests.
 */
export function setWasmFma(on: boolean): void {
  fmaWanted = on;
}

/** Which build the kernels run now: 'fma' (relaxed SIMD) or 'plain'. */
export function wasmSimdVariant(): Variant {
  return fmaWanted && relaxedSimdSupported() ? 'fma' : 'plain';
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

function instantiate(variant: Variant, memory: object): SimdExports | null {
  const mod = compile(variant);
  if (!mod) return null;
  try {
    return new (api() as WasmApi).Instance(mod, { env: { memory } }).exports as SimdExports;
  } catch {
    return null;
  }
}

/**
 * The SIMD helpers bound to this backend's memory, or undefined where they cannot run: the fused
 * multiply-add build when relaxed SIMD validates (and is not turned off), else the plain one.
 */
export function simdFor(backend: WasmBackend): SimdExports | undefined {
  const memory = memoryOf(backend);
  if (!memory) return undefined;
  let byVariant = instances.get(memory);
  if (!byVariant) {
    byVariant = {};
    instances.set(memory, byVariant);
  }
  if (fmaWanted) {
    let fma = byVariant.fma;
    if (fma === undefined) {
      fma = instantiate('fma', memory);
      byVariant.fma = fma;
    }
    if (fma) return fma;
  }
  let plain = byVariant.plain;
  if (plain === undefined) {
    plain = instantiate('plain', memory);
    byVariant.plain = plain;
  }
  return plain ?? undefined;
}

/** Byte offset of a tensor's data in the backend's memory. */
export function ptr(backend: WasmBackend, t: TensorInfo): number {
  return backend.getMemoryOffset(t.dataId as DataId);
}
