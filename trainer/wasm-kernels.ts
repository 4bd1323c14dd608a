/**
 * Gradient kernels for @tensorflow/tfjs-backend-wasm 4.22, registered with `tf.registerKernel`.
 *
 * The wasm backend ships forward convolutions (XNNPACK) and Conv2DBackpropInput, but not the
 * kernels that training needs for the filter gradients and for depthwise convolutions:
 *
 * - `Conv2DBackpropFilter`: dW = x ⋆ dy. Computed as a forward Conv2D of x transposed to
 *   [C, H, W, B] (batch becomes the reduction channel) with dy transposed to [OH, OW, B, O] as the
 *   filter, dilated by the forward strides; result [C, FH, FW, O] transposed back to [FH, FW, C, O].
 * - `DepthwiseConv2dNativeBackpropFilter`: same idea with a DepthwiseConv2dNative whose channels
 *   are batch×channel ([1, H, W, B·C] against [OH, OW, B·C, M]), then a Sum over the batch.
 * - `DepthwiseConv2dNativeBackpropInput`: dx = dy (zero-dilated by the strides, padded by
 *   filter-1-pad) ⋆ the filter rotated 180°, as a DepthwiseConv2dNative with multiplier 1 over the
 *   C·M channels, then a Sum over the multiplier.
 *
 * Optionally (on by default) `Conv2DBackpropInput` is replaced by the same construction on wasm's
 * forward Conv2D (filter rotated 180° with in/out channels swapped): the built-in one is a plain
 * loop and was ~45% of a training step of a small CNN; the XNNPACK path is several times faster.
 *
 * Every kernel is composed ONLY of wasm's own kernels called through
 * `getKernel(name, 'wasm').kernelFunc({inputs, backend, attrs})` (Transpose, Reshape, PadV2,
 * Reverse, Conv2D, DepthwiseConv2dNative, Slice, Sum); intermediates are freed with
 * `backend.disposeData`. Calling tf ops (tf.tidy, tf.add, ...) inside a kernelFunc re-enters the
 * engine and crashes, so none are used here.
 *
 * Supported: NHWC, any strides, padding 'valid' | 'same' | number | explicit, dimRoundingMode,
 * non-square kernels/inputs, any batch, channel multiplier >= 1. Not supported (clear Error):
 * dilations > 1 (tfjs-core's own gradients refuse them too) and NCHW (wasm's forward Conv2D
 * refuses it). Beware (a tfjs 4.22 bug, not ours): a NUMERIC pad with a non-square filter or
 * unequal strides makes tfjs size the output with the filter height/stride for both dimensions,
 * and wasm's forward Conv2D then writes past its output buffer, corrupting the wasm heap. The
 * layers API only uses 'same'/'valid'; the kernels here handle numeric pads like the cpu backend.
 *
 * Everything else a small CNN needs (Conv2D+Relu, MaxPool/MaxPoolGrad, AvgPool/AvgPoolGrad,
 * Dense/_FusedMatMul, Softmax, cross-entropy, Adam, Flatten, Dropout, BatchNormalization,
 * GlobalAveragePooling2D) exists in wasm 4.22 or is built by tfjs-core from existing kernels;
 * checked by training such models with `model.fit` in test/unit/trainer/wasm-kernels.test.ts.
 */
import {
  backend_util,
  type DataId,
  engine,
  getKernel,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  registerKernel,
  type TensorInfo,
  unregisterKernel,
} from '@tensorflow/tfjs';

type Shape4 = [number, number, number, number];
type Pad = 'valid' | 'same' | number | backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;
type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];

const BACKEND = 'wasm';

/** The kernels this module provides for backend 'wasm'. */
export const WASM_GRADIENT_KERNELS = [
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
] as const;

/** Runs wasm kernels and remembers their outputs so they can be freed in one go. */
class Scope {
  private readonly temps: TensorInfo[] = [];

  constructor(private readonly backend: KernelBackend) {}

  run(kernelName: string, inputs: Record<string, TensorInfo>, attrs: object): TensorInfo {
    const kernel = getKernel(kernelName, BACKEND);
    if (!kernel) throw new Error(`wasm-kernels: backend 'wasm' has no '${kernelName}' kernel`);
    const out = kernel.kernelFunc({
      inputs,
      backend: this.backend,
      attrs: attrs as NamedAttrMap,
    }) as TensorInfo;
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
function scoped(backend: KernelBackend, body: (s: Scope) => TensorInfo): TensorInfo {
  const scope = new Scope(backend);
  let result: TensorInfo | undefined;
  try {
    result = body(scope);
    return result;
  } finally {
    scope.finish(result);
  }
}

function explicitPad(top: number, bottom: number, left: number, right: number): ExplicitPad {
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

function assertNoDilation(kernel: string, dilations: unknown): void {
  if (dilations == null) return;
  const [dh, dw] = typeof dilations === 'number' ? [dilations, dilations] : (dilations as number[]);
  if (dh !== 1 || dw !== 1) {
    throw new Error(
      `wasm ${kernel}: dilations [${dh},${dw}] are not supported (only 1; tfjs-core's ` +
        'convolution gradients do not support dilations > 1 either)',
    );
  }
}

function assertNhwc(kernel: string, dataFormat: unknown): void {
  if (dataFormat != null && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(
      `wasm ${kernel}: dataFormat '${String(dataFormat)}' is not supported, only 'NHWC' ` +
        '(the wasm backend convolutions are channels-last only)',
    );
  }
}

function assertShape(kernel: string, what: string, got: number[], want: number[]): void {
  if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
    throw new Error(`wasm ${kernel}: ${what} has shape [${got}], expected [${want}]`);
  }
}

/**
 * Zero-dilates dy spatially by the strides: [B, OH, OW, K] -> [B, OH*SH, OW*SW, K], with dy[b,i,j]
 * at [b, i*SH, j*SW] (the trailing SH-1 / SW-1 rows/cols are zeros, harmless for a convolution).
 */
function dilate(s: Scope, dy: TensorInfo, sh: number, sw: number): TensorInfo {
  if (sh === 1 && sw === 1) return dy;
  const [b, oh, ow, k] = dy.shape as Shape4;
  const r = s.reshape(dy, [b, oh, 1, ow, 1, k]);
  const p = s.run(
    'PadV2',
    { x: r },
    {
      paddings: [
        [0, 0],
        [0, 0],
        [0, sh - 1],
        [0, 0],
        [0, sw - 1],
        [0, 0],
      ],
      constantValue: 0,
    },
  );
  return s.reshape(p, [b, oh * sh, ow * sw, k]);
}

/**
 * Geometry of an input gradient computed as a stride-1 correlation of the dilated dy with the
 * 180°-rotated filter: the explicit padding to give the convolution and the window to keep.
 */
function inputGradGeometry(info: backend_util.Conv2DInfo, dilatedH: number, dilatedW: number) {
  const { filterHeight: fh, filterWidth: fw, inHeight: h, inWidth: w } = info;
  const top = fh - 1 - info.padInfo.top;
  const left = fw - 1 - info.padInfo.left;
  const offH = Math.max(0, -top);
  const offW = Math.max(0, -left);
  const padTop = Math.max(0, top);
  const padLeft = Math.max(0, left);
  const padBottom = Math.max(0, offH + h + fh - 1 - padTop - dilatedH);
  const padRight = Math.max(0, offW + w + fw - 1 - padLeft - dilatedW);
  return { pad: explicitPad(padTop, padBottom, padLeft, padRight), offH, offW };
}

/**
 * Geometry of a filter gradient computed as a stride-1 convolution of x (padded) with dy dilated
 * by the strides: explicit padding for x; the result may have extra rows/cols to slice off.
 */
function filterGradPad(info: backend_util.Conv2DInfo): ExplicitPad {
  const { filterHeight: fh, filterWidth: fw, inHeight: h, inWidth: w } = info;
  const { top, left } = info.padInfo;
  const bottom = (info.outHeight - 1) * info.strideHeight + fh - top - h;
  const right = (info.outWidth - 1) * info.strideWidth + fw - left - w;
  return explicitPad(top, Math.max(0, bottom), left, Math.max(0, right));
}

const conv2DBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const name = 'Conv2DBackpropFilter';
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as {
    strides: number | [number, number];
    pad: Pad;
    dataFormat?: string;
    dimRoundingMode?: Rounding;
    filterShape: Shape4;
    dilations?: number | [number, number];
  };
  assertNhwc(name, a.dataFormat);
  assertNoDilation(name, a.dilations);
  const info = backend_util.computeConv2DInfo(
    x.shape as Shape4,
    a.filterShape,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    false,
    'channelsLast',
  );
  assertShape(name, 'dy', dy.shape, info.outShape);
  const { inChannels: c, outChannels: o, filterHeight: fh, filterWidth: fw } = info;
  return scoped(backend as KernelBackend, (s) => {
    const xT = s.transpose(x, [3, 1, 2, 0]); // [C, H, W, B]
    const dyT = s.transpose(dy, [1, 2, 0, 3]); // [OH, OW, B, O]
    const conv = s.run(
      'Conv2D',
      { x: xT, filter: dyT },
      {
        strides: [1, 1],
        dilations: [info.strideHeight, info.strideWidth],
        pad: filterGradPad(info),
        dataFormat: 'NHWC',
      },
    ); // [C, >=FH, >=FW, O]
    const cut = s.slice(conv, [0, 0, 0, 0], [c, fh, fw, o]);
    return s.transpose(cut, [1, 2, 0, 3]); // [FH, FW, C, O]
  });
};

const depthwiseBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const name = 'DepthwiseConv2dNativeBackpropFilter';
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as {
    strides: number | [number, number];
    pad: Pad;
    dilations?: number | [number, number];
    dimRoundingMode?: Rounding;
    filterShape: Shape4;
  };
  assertNoDilation(name, a.dilations);
  const info = backend_util.computeConv2DInfo(
    x.shape as Shape4,
    a.filterShape,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    true,
  );
  assertShape(name, 'dy', dy.shape, info.outShape);
  const { batchSize: b, inHeight: h, inWidth: w, inChannels: c } = info;
  const { outHeight: oh, outWidth: ow, filterHeight: fh, filterWidth: fw } = info;
  const m = info.outChannels / c;
  return scoped(backend as KernelBackend, (s) => {
    const xT = s.reshape(s.transpose(x, [1, 2, 0, 3]), [1, h, w, b * c]); // channels = (b, c)
    const dyT = s.reshape(s.transpose(dy, [1, 2, 0, 3]), [oh, ow, b * c, m]);
    const conv = s.run(
      'DepthwiseConv2dNative',
      { x: xT, filter: dyT },
      {
        strides: [1, 1],
        dilations: [info.strideHeight, info.strideWidth],
        pad: filterGradPad(info),
      },
    ); // [1, >=FH, >=FW, B*C*M]
    const cut = s.slice(conv, [0, 0, 0, 0], [1, fh, fw, b * c * m]);
    const perBatch = s.reshape(cut, [fh, fw, b, c * m]);
    const summed = b > 1 ? s.sum(perBatch, 2) : perBatch;
    return s.reshape(summed, [fh, fw, c, m]);
  });
};

const depthwiseBackpropInput: KernelFunc = ({ inputs, backend, attrs }) => {
  const name = 'DepthwiseConv2dNativeBackpropInput';
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as unknown as {
    strides: number | [number, number];
    pad: Pad;
    dilations?: number | [number, number];
    dimRoundingMode?: Rounding;
    inputShape: Shape4;
  };
  assertNoDilation(name, a.dilations);
  const info = backend_util.computeConv2DInfo(
    a.inputShape,
    filter.shape as Shape4,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    true,
  );
  assertShape(name, 'dy', dy.shape, info.outShape);
  const { batchSize: b, inHeight: h, inWidth: w, inChannels: c, filterHeight: fh } = info;
  const { filterWidth: fw } = info;
  const m = info.outChannels / c;
  return scoped(backend as KernelBackend, (s) => {
    const d = dilate(s, dy, info.strideHeight, info.strideWidth);
    const g = inputGradGeometry(info, d.shape[1], d.shape[2]);
    const rot = s.run('Reverse', { x: filter }, { dims: [0, 1] });
    const flt = m > 1 ? s.reshape(rot, [fh, fw, c * m, 1]) : rot;
    const conv = s.run(
      'DepthwiseConv2dNative',
      { x: d, filter: flt },
      { strides: [1, 1], dilations: [1, 1], pad: g.pad },
    ); // [B, >=H, >=W, C*M]
    const cut = s.slice(conv, [0, g.offH, g.offW, 0], [b, h, w, c * m]);
    if (m === 1) return cut;
    return s.sum(s.reshape(cut, [b, h, w, c, m]), 4);
  });
};

const conv2DBackpropInput: KernelFunc = ({ inputs, backend, attrs }) => {
  const name = 'Conv2DBackpropInput';
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as unknown as {
    strides: number | [number, number];
    pad: Pad;
    dataFormat?: string;
    dimRoundingMode?: Rounding;
    inputShape: Shape4;
    dilations?: number | [number, number];
  };
  assertNhwc(name, a.dataFormat);
  assertNoDilation(name, a.dilations);
  const info = backend_util.computeConv2DInfo(
    a.inputShape,
    filter.shape as Shape4,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    false,
    'channelsLast',
  );
  assertShape(name, 'dy', dy.shape, info.outShape);
  const { batchSize: b, inHeight: h, inWidth: w, inChannels: c } = info;
  return scoped(backend as KernelBackend, (s) => {
    const d = dilate(s, dy, info.strideHeight, info.strideWidth);
    const g = inputGradGeometry(info, d.shape[1], d.shape[2]);
    const rot = s.run('Reverse', { x: filter }, { dims: [0, 1] });
    const flt = s.transpose(rot, [0, 1, 3, 2]); // [FH, FW, O, C]
    const conv = s.run(
      'Conv2D',
      { x: d, filter: flt },
      { strides: [1, 1], dilations: [1, 1], pad: g.pad, dataFormat: 'NHWC' },
    ); // [B, >=H, >=W, C]
    return s.slice(conv, [0, g.offH, g.offW, 0], [b, h, w, c]);
  });
};

const ADDED: Record<(typeof WASM_GRADIENT_KERNELS)[number], KernelFunc> = {
  Conv2DBackpropFilter: conv2DBackpropFilter,
  DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilter,
  DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInput,
};

/** wasm's own Conv2DBackpropInput, kept so the replacement can be undone. */
let builtinConv2DBackpropInput: KernelConfig | undefined;

export interface RegisterWasmGradientKernelsOptions {
  /**
   * Replace wasm's built-in Conv2DBackpropInput (a plain loop) with one built on wasm's XNNPACK
   * Conv2D. Default true; pass false to (re)install the built-in kernel.
   */
  fastConv2DBackpropInput?: boolean;
}

/**
 * Registers the missing gradient kernels for backend 'wasm'. Idempotent; safe to call before or
 * after the wasm backend is initialised (none of these kernels needs a setup function).
 */
export function registerWasmGradientKernels(opts: RegisterWasmGradientKernelsOptions = {}): void {
  for (const [kernelName, kernelFunc] of Object.entries(ADDED)) {
    const existing = getKernel(kernelName, BACKEND);
    if (existing?.kernelFunc === kernelFunc) continue;
    if (existing) unregisterKernel(kernelName, BACKEND);
    registerKernel({ kernelName, backendName: BACKEND, kernelFunc });
  }
  const fast = opts.fastConv2DBackpropInput ?? true;
  const current = getKernel('Conv2DBackpropInput', BACKEND);
  const isOurs = current?.kernelFunc === conv2DBackpropInput;
  if (fast && !isOurs) {
    if (current) {
      builtinConv2DBackpropInput = current;
      unregisterKernel('Conv2DBackpropInput', BACKEND);
    }
    registerKernel({
      kernelName: 'Conv2DBackpropInput',
      backendName: BACKEND,
      kernelFunc: conv2DBackpropInput,
    });
  } else if (!fast && isOurs) {
    unregisterKernel('Conv2DBackpropInput', BACKEND);
    const builtin = builtinConv2DBackpropInput;
    if (builtin) {
      registerKernel(builtin);
      // Setup functions run on tf.setBackend; run it now if wasm is already initialised.
      const instance = engine().registry[BACKEND];
      if (instance && builtin.setupFunc) builtin.setupFunc(instance);
    }
  }
}

/** True when every kernel of {@link WASM_GRADIENT_KERNELS} is registered for 'wasm'. */
export function wasmGradientKernelsRegistered(): boolean {
  return WASM_GRADIENT_KERNELS.every((k) => getKernel(k, BACKEND) !== undefined);
}
