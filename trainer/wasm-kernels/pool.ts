/**
 * MaxPool (2x2, stride 2) and MaxPoolGrad for the wasm backend: one pass over the pooling windows
 * (simd.wat `maxPool2x2`, `maxPoolGrad`).
 *
 * wasm's built-in MaxPoolGrad loops over every input position and re-scans every window that
 * covers it (it was ~25% of a small CNN's training step). Here each window is scanned once, four
 * channels per SIMD vector (contiguous in NHWC), and its dy is added at the window's arg-max.
 *
 * Semantics are the cpu backend's exactly: the arg-max is the FIRST position in row-major window
 * order whose value is strictly greater than everything before it (starting from -Infinity), so a
 * tie (e.g. a window of ReLU zeros) sends the whole gradient to the first of the tied positions; a
 * window of only NaN/-Infinity passes no gradient; padded positions never win; overlapping windows
 * add up. 2x2 windows with stride 2 that tile the input (the usual pooling layer) have a
 * straight-line loop of their own (simd.wat `maxPoolGrad2x2`).
 */
import { backend_util, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs';
import type { Shape4, WasmBackend } from './scope.js';
import { ptr, simdFor } from './simd.js';

type Pad = 'valid' | 'same' | number | backend_util.ExplicitPadding;

/** The pooling geometry of a MaxPool / MaxPoolGrad call from its attrs (no dilation). */
function poolInfo(shape: Shape4, attrs: unknown): backend_util.Conv2DInfo {
  const a = attrs as {
    filterSize: number | [number, number];
    strides: number | [number, number];
    pad: Pad;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  return backend_util.computePool2DInfo(
    shape,
    a.filterSize,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  );
}

/** MaxPoolGrad; `fallback` (wasm's own) runs where the SIMD module is unavailable. */
export function makeMaxPoolGrad(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
    const backend = args.backend as WasmBackend;
    const simd = simdFor(backend);
    if (!simd || input.dtype !== 'float32' || dy.dtype !== 'float32') return fallback(args);
    const info = poolInfo(input.shape as Shape4, args.attrs);
    const fh = info.effectiveFilterHeight;
    const fw = info.effectiveFilterWidth;
    // Windows that tile the input exactly (e.g. 2x2 stride 2 on even sizes): no zeroing, no adds.
    const tiled =
      fh === info.strideHeight &&
      fw === info.strideWidth &&
      info.padInfo.top === 0 &&
      info.padInfo.left === 0 &&
      info.outHeight * fh === info.inHeight &&
      info.outWidth * fw === info.inWidth;
    const dx = backend.makeOutput([...input.shape], 'float32');
    if (tiled && fh === 2 && fw === 2 && info.inChannels % 4 === 0) {
      simd.maxPoolGrad2x2(
        ptr(backend, input),
        ptr(backend, dy),
        ptr(backend, dx),
        info.batchSize,
        info.outHeight,
        info.outWidth,
        info.inChannels,
      );
      return dx;
    }
    simd.maxPoolGrad(
      ptr(backend, input),
      ptr(backend, dy),
      ptr(backend, dx),
      info.batchSize,
      info.inHeight,
      info.inWidth,
      info.inChannels,
      info.outHeight,
      info.outWidth,
      info.strideHeight,
      info.strideWidth,
      fh,
      fw,
      info.padInfo.top,
      info.padInfo.left,
      tiled ? 1 : 0,
    );
    return dx;
  };
}

/**
 * MaxPool with 2x2 windows, stride 2 and no padding (the usual pooling layer; C % 4 === 0) in one
 * SIMD pass (simd.wat `maxPool2x2`), with the cpu backend's semantics (the largest value that is
 * not NaN; -Infinity for a window of NaN). wasm's own (XNNPACK) took 2-3x as long on the
 * trainer's CNN sizes ([32, 28, 28, 16]: ~0.25 ms). Anything else goes to `fallback`.
 */
export function makeMaxPool(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const backend = args.backend as WasmBackend;
    const simd = simdFor(backend);
    if (!simd || x.dtype !== 'float32' || x.shape.length !== 4) return fallback(args);
    const info = poolInfo(x.shape as Shape4, args.attrs);
    const applies =
      info.filterHeight === 2 &&
      info.filterWidth === 2 &&
      info.strideHeight === 2 &&
      info.strideWidth === 2 &&
      info.padInfo.top === 0 &&
      info.padInfo.left === 0 &&
      2 * info.outHeight <= info.inHeight &&
      2 * info.outWidth <= info.inWidth &&
      info.inChannels % 4 === 0 &&
      info.batchSize * info.outHeight * info.outWidth * info.inChannels > 0;
    if (!applies) return fallback(args);
    const y = backend.makeOutput([...info.outShape], 'float32');
    simd.maxPool2x2(
      ptr(backend, x),
      ptr(backend, y),
      info.batchSize,
      info.inHeight,
      info.inWidth,
      info.outHeight,
      info.outWidth,
      info.inChannels,
    );
    return y;
  };
}
