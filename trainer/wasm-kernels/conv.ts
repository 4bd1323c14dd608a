/**
 * Convolutions and their gradients for the wasm backend.
 *
 * Two families, built on wasm's XNNPACK kernels (forward Conv2D / DepthwiseConv2dNative, and
 * BatchMatMul, which is XNNPACK-fast only without transposes) and on ./simd.wat:
 *
 * Composed from wasm kernels only (the first version; kept as the 'baseline' set and for depthwise):
 * - `conv2DBackpropFilterComposed`: dW = x ⋆ dy as a forward Conv2D of x transposed to [C, H, W, B]
 *   (batch becomes the reduction channel) with dy transposed to [OH, OW, B, O] as the filter,
 *   dilated by the forward strides; result [C, FH, FW, O] transposed back to [FH, FW, C, O].
 * - `depthwiseBackpropFilter`: same idea with a DepthwiseConv2dNative whose channels are
 *   batch×channel ([1, H, W, B·C] against [OH, OW, B·C, M]), then a Sum over the batch.
 * - `depthwiseBackpropInput`: dx = dy (zero-dilated by the strides, padded by filter-1-pad) ⋆ the
 *   filter rotated 180°, as a DepthwiseConv2dNative with multiplier 1 over the C·M channels, then a
 *   Sum over the multiplier.
 * - `conv2DBackpropInputConv`: the same construction on wasm's forward Conv2D (filter rotated 180°,
 *   in/out channels swapped). wasm's built-in Conv2DBackpropInput is a plain loop, several times
 *   slower.
 *
 * SIMD loops of ./simd.wat on the wasm heap (the 'fast' set):
 * - `makeConv2D`: y = x ⋆ w by simd.wat `convForward` on x zero-padded (`padCopy`): for a filter
 *   row kh the FW·C input values under a window are contiguous, and so are the matching rows of
 *   w [FH, FW, C, O], so an output position is a sum of FH products of length FW·C, accumulated for
 *   2 positions x 16 output channels at a time (O a multiple of 8; else XNNPACK's Conv2D).
 * - `makeConv2DBackpropFilter`: dW[kh] [FW·C, O] = Σ over output positions n of the FW·C input
 *   values under filter row kh (contiguous in NHWC once x is zero-padded) ⊗ dy[n, :], accumulated
 *   in registers by simd.wat `convFilterGrad` (tiles of 2 rows x 16 output channels, over blocks of
 *   ~128 output positions so that a block stays in cache across the tiles): no im2col,
 *   no transposes, no XNNPACK operator to create and pack per call. O must be a multiple of 8;
 *   otherwise colT [FH·FW·C, N] (the transposed im2col, simd.wat `im2colT`) x dy [N, O] on
 *   wasm's BatchMatMul, in chunks of images for large batches.
 * - `makeConv2DBackpropInput`: stride 1 is `convForward` of dy padded by (FH-1-top, FW-1-left) with
 *   the filter rotated 180° and in/out channels swapped (C a multiple of 8; else
 *   `conv2DBackpropInputConv`); larger strides (where the zero-dilated dy would waste 3/4 or more
 *   of a convolution) use col2im: dcol [N, FH·FW·C] = dy [N, O] x Wᵀ [O, FH·FW·C] on BatchMatMul,
 *   scattered-added into dx (simd.wat `col2imAdd`).
 *
 * Supported: NHWC, any strides, padding 'valid' | 'same' | number | explicit, dimRoundingMode,
 * non-square kernels/inputs, any batch, channel multiplier >= 1. Not supported (clear Error):
 * dilations > 1 (tfjs-core's own gradients refuse them too) and NCHW (wasm's forward Conv2D
 * refuses it). Beware (a tfjs 4.22 bug, not ours): a NUMERIC pad with a non-square filter or
 * unequal strides makes tfjs size the output with the filter height/stride for both dimensions,
 * and wasm's forward Conv2D then writes past its output buffer, corrupting the wasm heap. The
 * layers API only uses 'same'/'valid'; the kernels here handle numeric pads like the cpu backend.
 */
import { backend_util, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs';
import { heapF32, type Scope, type Shape4, scoped, type WasmBackend } from './scope.js';
import {
  type ConvGeometry,
  type DepthwiseDims,
  type PaddedConvDims,
  ptr,
  type SimdExports,
  simdFor,
} from './simd.js';

type Pad = 'valid' | 'same' | number | backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;
type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];

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

interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: string;
  dimRoundingMode?: Rounding;
  dilations?: number | [number, number];
}

/** Checks a Conv2DBackpropFilter call and returns its convolution geometry. */
function filterGradInfo(x: TensorInfo, dy: TensorInfo, attrs: unknown): backend_util.Conv2DInfo {
  const name = 'Conv2DBackpropFilter';
  const a = attrs as ConvAttrs & { filterShape: Shape4 };
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
  return info;
}

/** Checks a Conv2DBackpropInput call and returns its convolution geometry. */
function inputGradInfo(
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: unknown,
): backend_util.Conv2DInfo {
  const name = 'Conv2DBackpropInput';
  const a = attrs as ConvAttrs & { inputShape: Shape4 };
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
  return info;
}

export const conv2DBackpropFilterComposed: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const info = filterGradInfo(x, dy, attrs);
  const { inChannels: c, outChannels: o, filterHeight: fh, filterWidth: fw } = info;
  return scoped(backend, (s) => {
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

export const depthwiseBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
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
  return scoped(backend, (s) => {
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

export const depthwiseBackpropInput: KernelFunc = ({ inputs, backend, attrs }) => {
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
  return scoped(backend, (s) => {
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

export const conv2DBackpropInputConv: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const info = inputGradInfo(dy, filter, attrs);
  const { batchSize: b, inHeight: h, inWidth: w, inChannels: c } = info;
  return scoped(backend, (s) => {
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

/** Largest im2col/col2im buffer, in floats (default 2^24, 64 MiB): larger ones are chunked. */
export const columnBuffer = { maxFloats: 1 << 24 };

/** Images per chunk so that a [rowsPerImage·images, cols] buffer stays under the limit. */
function imagesPerChunk(batch: number, floatsPerImage: number): number {
  return Math.max(1, Math.min(batch, Math.floor(columnBuffer.maxFloats / floatsPerImage)));
}

/** Images [b0, b0+n) of an NHWC tensor as an [n·H·W, C] matrix (a copy unless it is all of it). */
function imageRows(s: Scope, t: TensorInfo, b0: number, n: number): TensorInfo {
  const [batch, h, w, c] = t.shape;
  if (b0 === 0 && n === batch) return s.reshape(t, [n * h * w, c]);
  return s.slice(s.reshape(t, [batch * h * w, c]), [b0 * h * w, 0], [n * h * w, c]);
}

/** The geometry arguments shared by simd.wat's im2colT and col2imAdd, after (b0, nb). */
function geometry(info: backend_util.Conv2DInfo): ConvGeometry {
  return [
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left,
  ];
}

/**
 * x [B, H, W, C] zero-padded by (top, left) into a new [B, hp, wp, C] tensor with 4 floats of
 * slack after it (simd.wat padCopy zeroes them; convFilterGrad's last row tile may read 1 float
 * past a window); the caller frees it.
 */
function padded(
  backend: WasmBackend,
  simd: SimdExports,
  x: TensorInfo,
  hp: number,
  wp: number,
  top: number,
  left: number,
): TensorInfo {
  const [b, h, w, c] = x.shape;
  const xp = backend.makeOutput([b * hp * wp * c + 4], 'float32');
  simd.padCopy(ptr(backend, x), ptr(backend, xp), b, h, w, c, hp, wp, top, left);
  return xp;
}

/** Where a convolution's windows lie on its input, which is zero-padded by (top, left). */
interface ConvWindows {
  top: number;
  left: number;
  fh: number;
  fw: number;
  sh: number;
  sw: number;
}

/**
 * x zero-padded so that every window of a convolution with output [B, oh, ow, o] fits, and the
 * dimensions simd.wat's convForward and convFilterGrad both take after their pointers (the
 * forward convolution and the filter gradient marshal the same geometry); the caller frees xp.
 */
function paddedForConv(
  backend: WasmBackend,
  simd: SimdExports,
  x: TensorInfo,
  out: { oh: number; ow: number; o: number },
  win: ConvWindows,
): { xp: TensorInfo; dims: PaddedConvDims } {
  const [b, h, w, c] = x.shape;
  const hp = Math.max(win.top + h, (out.oh - 1) * win.sh + win.fh);
  const wp = Math.max(win.left + w, (out.ow - 1) * win.sw + win.fw);
  const xp = padded(backend, simd, x, hp, wp, win.top, win.left);
  return { xp, dims: [b, hp, wp, c, out.oh, out.ow, out.o, win.fh, win.fw, win.sh, win.sw] };
}

/**
 * y = x (*) w by simd.wat `convForward` (w [FH, FW, C, O] at byte offset `w`, O % 8 === 0), x
 * zero-padded by (top, left) so that output (r, q) reads the window at (r*sh, q*sw).
 */
function convDirect(
  backend: WasmBackend,
  simd: SimdExports,
  x: TensorInfo,
  w: number,
  out: { shape: Shape4 } & ConvWindows,
): TensorInfo {
  const [, oh, ow, o] = out.shape;
  const { xp, dims } = paddedForConv(backend, simd, x, { oh, ow, o }, out);
  try {
    const y = backend.makeOutput([...out.shape], 'float32');
    simd.convForward(ptr(backend, xp), w, ptr(backend, y), ...dims);
    return y;
  } finally {
    backend.disposeData(xp.dataId);
  }
}

/**
 * Conv2D (forward) by simd.wat `convForward` for float32 NHWC without dilation and with O a
 * multiple of 8; `fallback` (wasm's XNNPACK Conv2D) otherwise. Same arithmetic as XNNPACK's
 * convolution, without creating an XNNPACK operator (packing the filter and building an
 * indirection buffer) for every new filter, i.e. every training step.
 */
export function makeConv2D(fallback: KernelFunc): KernelFunc {
  return (args) => convForwardOr(args) ?? fallback(args);
}

/**
 * FusedConv2D with a linear activation (what tfjs-core runs for a convolution layer without an
 * activation, e.g. before batch normalisation, even while training) or ReLU (a convolution layer
 * with activation 'relu' outside training: predict, evaluate): `convForward`, then the bias (if
 * any) added and the ReLU applied in place. Other activations go to `fallback` (wasm's XNNPACK
 * kernel, which creates an operator for every new filter: ~4 ms for the Fashion-MNIST CNN's
 * 7x7x32 -> 64 layer on 32 images).
 */
export function makeFusedConv2D(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { filter, bias, preluActivationWeights } = args.inputs as Record<
      string,
      TensorInfo | undefined
    >;
    const { activation } = args.attrs as { activation?: string };
    const o = (filter as TensorInfo).shape[3];
    const relu = activation === 'relu';
    if ((activation != null && activation !== 'linear' && !relu) || preluActivationWeights) {
      return fallback(args);
    }
    if (bias && (bias.dtype !== 'float32' || bias.shape.reduce((p, d) => p * d, 1) !== o)) {
      return fallback(args);
    }
    const y = convForwardOr(args);
    if (!y) return fallback(args);
    const backend = args.backend as WasmBackend;
    const simd = simdFor(backend) as SimdExports;
    const n = y.shape.reduce((p, d) => p * d, 1);
    if (bias && relu) {
      // one pass instead of two (0.29 -> 0.1 ms on [32,28,28,16]), the same values
      simd.biasRelu(ptr(backend, y), ptr(backend, bias), ptr(backend, y), n / o, o);
      return y;
    }
    if (bias) simd.biasAdd(ptr(backend, y), ptr(backend, bias), ptr(backend, y), n / o, o);
    if (relu) simd.relu(ptr(backend, y), ptr(backend, y), n);
    return y;
  };
}

/** y = x (*) filter by `convForward`, or undefined where it does not apply. */
function convForwardOr(args: Parameters<KernelFunc>[0]): TensorInfo | undefined {
  {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const a = args.attrs as unknown as ConvAttrs;
    const backend = args.backend as WasmBackend;
    const simd = simdFor(backend);
    const [dh, dw] =
      typeof a.dilations === 'number' ? [a.dilations, a.dilations] : (a.dilations ?? [1, 1]);
    const nhwc = a.dataFormat == null || a.dataFormat === 'NHWC' || a.dataFormat === 'channelsLast';
    const o = filter.shape[3];
    if (!simd || !nhwc || dh !== 1 || dw !== 1 || o % 8 !== 0) return undefined;
    if (x.dtype !== 'float32' || filter.dtype !== 'float32') return undefined;
    const info = backend_util.computeConv2DInfo(
      x.shape as Shape4,
      filter.shape as Shape4,
      a.strides,
      1,
      a.pad,
      a.dimRoundingMode,
      false,
      'channelsLast',
    );
    if (info.outHeight <= 0 || info.outWidth <= 0 || x.shape[0] === 0) return undefined;
    return convDirect(backend, simd, x, ptr(backend, filter), {
      shape: info.outShape as Shape4,
      top: info.padInfo.top,
      left: info.padInfo.left,
      fh: info.filterHeight,
      fw: info.filterWidth,
      sh: info.strideHeight,
      sw: info.strideWidth,
    });
  }
}

/**
 * dx for stride 1 as a forward convolution of dy, zero-padded by (FH-1-top, FW-1-left), with the
 * filter rotated 180° and its in/out channels swapped (written into a small temporary).
 */
function inputGradDirect(
  backend: WasmBackend,
  simd: SimdExports,
  dy: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const { filterHeight: fh, filterWidth: fw, inChannels: c, outChannels: o } = info;
  const rot = backend.makeOutput([fh, fw, o, c], 'float32');
  try {
    const src = heapF32(backend, filter); // [FH, FW, C, O]
    const dst = heapF32(backend, rot); // [FH, FW, O, C]
    for (let kh = 0; kh < fh; kh++) {
      for (let kw = 0; kw < fw; kw++) {
        const from = ((fh - 1 - kh) * fw + (fw - 1 - kw)) * c * o;
        const to = (kh * fw + kw) * o * c;
        for (let ci = 0; ci < c; ci++) {
          for (let oi = 0; oi < o; oi++) dst[to + oi * c + ci] = src[from + ci * o + oi];
        }
      }
    }
    return convDirect(backend, simd, dy, ptr(backend, rot), {
      shape: info.inShape as Shape4,
      top: fh - 1 - info.padInfo.top,
      left: fw - 1 - info.padInfo.left,
      fh,
      fw,
      sh: 1,
      sw: 1,
    });
  } finally {
    backend.disposeData(rot.dataId);
  }
}

/**
 * Strided dx by col2im with the product on simd.wat `convForward`: dcol [N, K] = dy [N, O] x
 * Wᵀ [O, K] is a 1x1 convolution of dy (one row of N positions, O channels) with Wᵀ as its
 * [1, 1, O, K] filter (K = FH·FW·C a multiple of 8), then `col2imAdd`; images in chunks of
 * `chunk`. wasm's BatchMatMul (XNNPACK, packing Wᵀ per call) ran it at ~15-20 GFLOP/s.
 */
function col2imDirect(
  backend: WasmBackend,
  simd: SimdExports,
  dy: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
  chunk: number,
): TensorInfo {
  const { batchSize: batch, outHeight: oh, outWidth: ow, outChannels: o } = info;
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  const rows = chunk * oh * ow;
  const dx = backend.makeOutput([...info.inShape], 'float32');
  const temps: TensorInfo[] = [];
  try {
    const dcol = backend.makeOutput([rows * k], 'float32');
    temps.push(dcol);
    const wt = backend.makeOutput([o * k], 'float32');
    temps.push(wt);
    const src = heapF32(backend, filter); // [K, O]
    const dst = heapF32(backend, wt); // [O, K]
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < o; j++) dst[j * k + i] = src[i * o + j];
    }
    heapF32(backend, dx).fill(0);
    for (let b0 = 0; b0 < batch; b0 += chunk) {
      const nb = Math.min(chunk, batch - b0);
      const n = nb * oh * ow;
      simd.convForward(
        ptr(backend, dy) + b0 * oh * ow * o * 4,
        ptr(backend, wt),
        ptr(backend, dcol),
        1,
        1,
        n,
        o,
        1,
        n,
        k,
        1,
        1,
        1,
        1,
      );
      simd.col2imAdd(ptr(backend, dcol), ptr(backend, dx), b0, nb, ...geometry(info));
    }
  } catch (err) {
    backend.disposeData(dx.dataId);
    throw err;
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
  return dx;
}

/** dW by simd.wat `convFilterGrad` on a zero-padded copy of x (needs O % 8 === 0). */
function filterGradDirect(
  backend: WasmBackend,
  simd: SimdExports,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const { xp, dims } = paddedForConv(
    backend,
    simd,
    x,
    { oh: info.outHeight, ow: info.outWidth, o: info.outChannels },
    {
      top: info.padInfo.top,
      left: info.padInfo.left,
      fh: info.filterHeight,
      fw: info.filterWidth,
      sh: info.strideHeight,
      sw: info.strideWidth,
    },
  );
  try {
    const dw = backend.makeOutput([...info.filterShape], 'float32');
    simd.convFilterGrad(ptr(backend, xp), ptr(backend, dy), ptr(backend, dw), ...dims);
    return dw;
  } finally {
    backend.disposeData(xp.dataId);
  }
}

/**
 * Conv2DBackpropFilter straight from the padded input (O % 8 === 0), else colT [FH·FW·C, N] x
 * dy [N, O] (see the file comment); `fallback` runs where the SIMD module is unavailable.
 */
export function makeConv2DBackpropFilter(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const info = filterGradInfo(x, dy, args.attrs);
    const simd = simdFor(args.backend as WasmBackend);
    if (!simd || x.dtype !== 'float32' || dy.dtype !== 'float32') return fallback(args);
    const { batchSize: batch, outHeight: oh, outWidth: ow, outChannels: o } = info;
    if (o % 8 === 0) return filterGradDirect(args.backend as WasmBackend, simd, x, dy, info);
    const k = info.filterHeight * info.filterWidth * info.inChannels;
    const chunk = imagesPerChunk(batch, k * oh * ow);
    const geo = geometry(info);
    return scoped(args.backend, (s) => {
      let total: TensorInfo | undefined;
      for (let b0 = 0; b0 < batch; b0 += chunk) {
        const nb = Math.min(chunk, batch - b0);
        const col = s.alloc([k, nb * oh * ow]);
        simd.im2colT(ptr(s.backend, x), ptr(s.backend, col), b0, nb, ...geo);
        const part = s.matMul(col, imageRows(s, dy, b0, nb)); // [K, O]
        if (total) simd.addInto(ptr(s.backend, total), ptr(s.backend, part), k * o);
        else total = part;
      }
      return s.reshape(total as TensorInfo, [...info.filterShape]);
    });
  };
}

/**
 * Conv2DBackpropInput: for stride 1 a forward convolution of the padded dy with the rotated filter
 * (simd.wat `convForward`; needs C % 8 === 0, else `conv2DBackpropInputConv` on XNNPACK); for
 * larger strides col2im, dcol [N, FH·FW·C] = dy [N, O] x Wᵀ [O, FH·FW·C] scattered-added into dx
 * (a convolution would spend 3/4 or more of its work on the zeros of the dilated dy).
 */
export function makeConv2DBackpropInput(): KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const info = inputGradInfo(dy, filter, args.attrs);
    const backend = args.backend as WasmBackend;
    const simd = simdFor(backend);
    if (!simd || dy.dtype !== 'float32' || filter.dtype !== 'float32') {
      return conv2DBackpropInputConv(args);
    }
    if (info.strideHeight === 1 && info.strideWidth === 1) {
      const direct =
        info.inChannels % 8 === 0 &&
        info.padInfo.top <= info.filterHeight - 1 &&
        info.padInfo.left <= info.filterWidth - 1;
      return direct
        ? inputGradDirect(backend, simd, dy, filter, info)
        : conv2DBackpropInputConv(args);
    }
    const { batchSize: batch, outHeight: oh, outWidth: ow, outChannels: o } = info;
    const k = info.filterHeight * info.filterWidth * info.inChannels;
    const chunk = imagesPerChunk(batch, k * oh * ow);
    const geo = geometry(info);
    if (k % 8 === 0) return col2imDirect(backend, simd, dy, filter, info, chunk);
    const dx = backend.makeOutput([...info.inShape], 'float32');
    try {
      scoped(backend, (s) => {
        const wt = s.transpose(s.reshape(filter, [k, o]), [1, 0]); // [O, K]
        heapF32(backend, dx).fill(0);
        for (let b0 = 0; b0 < batch; b0 += chunk) {
          const nb = Math.min(chunk, batch - b0);
          const dcol = s.matMul(imageRows(s, dy, b0, nb), wt); // [N, K]
          simd.col2imAdd(ptr(backend, dcol), ptr(backend, dx), b0, nb, ...geo);
        }
        return dx;
      });
    } catch (err) {
      backend.disposeData(dx.dataId);
      throw err;
    }
    return dx;
  };
}

interface DepthwiseAttrs {
  strides: number | [number, number];
  pad: Pad;
  dilations?: number | [number, number];
  dimRoundingMode?: Rounding;
  dataFormat?: string;
}

/**
 * The geometry of a depthwise convolution simd.wat's 3x3 loops take (multiplier 1, C % 4 === 0,
 * float32, NHWC, no dilation), or undefined where they do not apply.
 */
function depthwise3x3(
  xShape: number[],
  filterShape: number[],
  attrs: unknown,
  dtypes: string[],
): backend_util.Conv2DInfo | undefined {
  const a = attrs as DepthwiseAttrs;
  const [dh, dw] =
    typeof a.dilations === 'number' ? [a.dilations, a.dilations] : (a.dilations ?? [1, 1]);
  const nhwc = a.dataFormat == null || a.dataFormat === 'NHWC' || a.dataFormat === 'channelsLast';
  const [fh, fw, c, m] = filterShape;
  if (!nhwc || dh !== 1 || dw !== 1 || fh !== 3 || fw !== 3 || m !== 1 || c % 4 !== 0) {
    return undefined;
  }
  if (dtypes.some((d) => d !== 'float32') || xShape[0] === 0) return undefined;
  const info = backend_util.computeConv2DInfo(
    xShape as Shape4,
    filterShape as Shape4,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    true,
  );
  return info.outHeight > 0 && info.outWidth > 0 ? info : undefined;
}

/** The padded grid of a depthwise convolution: every window fits. */
function depthwiseGrid(info: backend_util.Conv2DInfo) {
  const { top, left } = info.padInfo;
  const hp = Math.max(top + info.inHeight, (info.outHeight - 1) * info.strideHeight + 3);
  const wp = Math.max(left + info.inWidth, (info.outWidth - 1) * info.strideWidth + 3);
  const dims: DepthwiseDims = [
    info.batchSize,
    hp,
    wp,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.strideHeight,
    info.strideWidth,
  ];
  return { hp, wp, top, left, dims };
}

/**
 * DepthwiseConv2dNative with a 3x3 filter and multiplier 1 (MobileNet's) by simd.wat
 * `dwForward3x3` on the zero-padded input; `fallback` (wasm's XNNPACK kernel, an operator created
 * per call) otherwise.
 */
export function makeDepthwiseConv2D(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const backend = args.backend as WasmBackend;
    const simd = simdFor(backend);
    const info = simd && depthwise3x3(x.shape, filter.shape, args.attrs, [x.dtype, filter.dtype]);
    if (!simd || !info) return fallback(args);
    const g = depthwiseGrid(info);
    const xp = padded(backend, simd, x, g.hp, g.wp, g.top, g.left);
    try {
      const y = backend.makeOutput([...info.outShape], 'float32');
      simd.dwForward3x3(ptr(backend, xp), ptr(backend, filter), ptr(backend, y), ...g.dims);
      return y;
    } finally {
      backend.disposeData(xp.dataId);
    }
  };
}

/** DepthwiseConv2dNativeBackpropFilter by simd.wat `dwFilterGrad3x3` where it applies. */
export function makeDepthwiseBackpropFilter(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const { filterShape } = args.attrs as unknown as { filterShape: Shape4 };
    const backend = args.backend as WasmBackend;
    const simd = simdFor(backend);
    const info = simd && depthwise3x3(x.shape, filterShape, args.attrs, [x.dtype, dy.dtype]);
    if (!simd || !info) return fallback(args);
    assertShape('DepthwiseConv2dNativeBackpropFilter', 'dy', dy.shape, info.outShape);
    const g = depthwiseGrid(info);
    const xp = padded(backend, simd, x, g.hp, g.wp, g.top, g.left);
    try {
      const dw = backend.makeOutput([...filterShape], 'float32');
      simd.dwFilterGrad3x3(ptr(backend, xp), ptr(backend, dy), ptr(backend, dw), ...g.dims);
      return dw;
    } finally {
      backend.disposeData(xp.dataId);
    }
  };
}

/**
 * DepthwiseConv2dNativeBackpropInput by simd.wat `dwInputGrad3x3` (each dy position scattered
 * into its window on the padded grid, any stride) and `cropCopy` where it applies.
 */
export function makeDepthwiseBackpropInput(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const { inputShape } = args.attrs as unknown as { inputShape: Shape4 };
    const backend = args.backend as WasmBackend;
    const simd = simdFor(backend);
    const info =
      simd && depthwise3x3(inputShape, filter.shape, args.attrs, [dy.dtype, filter.dtype]);
    if (!simd || !info) return fallback(args);
    assertShape('DepthwiseConv2dNativeBackpropInput', 'dy', dy.shape, info.outShape);
    const [b, h, w, c] = inputShape;
    if (info.strideHeight === 1 && info.strideWidth === 1) {
      // a gather instead: the forward loop over dy padded by (2 - top, 2 - left) with the filter
      // rotated 180° (half the memory traffic of the scatter)
      const rot = backend.makeOutput([3, 3, c, 1], 'float32');
      try {
        const src = heapF32(backend, filter);
        const dst = heapF32(backend, rot);
        for (let t = 0; t < 9; t++) dst.set(src.subarray((8 - t) * c, (9 - t) * c), t * c);
        const top = 2 - info.padInfo.top;
        const left = 2 - info.padInfo.left;
        const hp = Math.max(top + info.outHeight, h + 2);
        const wp = Math.max(left + info.outWidth, w + 2);
        if (top >= 0 && left >= 0) {
          const dyp = padded(backend, simd, dy, hp, wp, top, left);
          try {
            const dx = backend.makeOutput([...inputShape], 'float32');
            simd.dwForward3x3(
              ptr(backend, dyp),
              ptr(backend, rot),
              ptr(backend, dx),
              b,
              hp,
              wp,
              c,
              h,
              w,
              1,
              1,
            );
            return dx;
          } finally {
            backend.disposeData(dyp.dataId);
          }
        }
      } finally {
        backend.disposeData(rot.dataId);
      }
    }
    const g = depthwiseGrid(info);
    const dxp = backend.makeOutput([b * g.hp * g.wp * c], 'float32');
    try {
      const dx = backend.makeOutput([...inputShape], 'float32');
      simd.dwInputGrad3x3(ptr(backend, dxp), ptr(backend, filter), ptr(backend, dy), ...g.dims);
      simd.cropCopy(ptr(backend, dxp), ptr(backend, dx), b, h, w, c, g.hp, g.wp, g.top, g.left);
      return dx;
    } finally {
      backend.disposeData(dxp.dataId);
    }
  };
}
