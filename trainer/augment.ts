import type { Augmentation } from '../shared/schemas/sweep-spec.js';
import type { Tensor, Tf } from './tf.js';

/**
 * One image's random transform: mirrored or not, rotated by `radians`, scaled by `zoom` (both
 * about the centre), then shifted by (dx, dy) pixels.
 */
export interface ImageTransform {
  flip: boolean;
  radians: number;
  zoom: number;
  dx: number;
  dy: number;
}

/** Draws one image's transform within the ranges of `settings`, from `random` (uniform [0, 1)). */
export function drawTransform(
  settings: Augmentation,
  width: number,
  height: number,
  random: () => number,
): ImageTransform {
  // Always draw every number, so one setting does not shift another's random stream.
  const uniform = (r: number) => {
    const u = 2 * random() - 1;
    return r === 0 ? 0 : u * r;
  };
  const flip = random() < 0.5;
  const radians = (uniform(settings.rotationDegrees) * Math.PI) / 180;
  const zoom = 1 + uniform(settings.zoomFraction);
  const dx = uniform(settings.translateFraction) * width;
  const dy = uniform(settings.translateFraction) * height;
  return { flip: settings.flip && flip, radians, zoom, dx, dy };
}

/**
 * The 8 projective-transform numbers tf.image.transform expects: they map an OUTPUT pixel
 * (x, y) to the INPUT point it samples, (a0 x + a1 y + a2, b0 x + b1 y + b2). The forward map is
 * out = c + zoom * R(radians) * F * (in - c) + (dx, dy) with c the image centre and F the mirror;
 * this is its inverse.
 */
export function inverseMatrix(t: ImageTransform, width: number, height: number): number[] {
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const cos = Math.cos(t.radians) / t.zoom;
  const sin = Math.sin(t.radians) / t.zoom;
  const f = t.flip ? -1 : 1;
  // M = F * R(-radians) / zoom
  const m00 = f * cos;
  const m01 = f * sin;
  const m10 = -sin;
  const m11 = cos;
  const ox = cx + t.dx;
  const oy = cy + t.dy;
  return [m00, m01, cx - (m00 * ox + m01 * oy), m10, m11, cy - (m10 * ox + m11 * oy), 0, 0];
}

/**
 * Augments a batch of images: each image gets its own random flip, rotation, zoom and shift
 * within the ranges of `settings`, drawn from the seeded `random`, applied in one
 * tf.image.transform (bilinear; pixels from outside the image repeat the nearest edge pixel).
 * Only training batches are augmented.
 *
 * @param images [batch, H, W, C] float32 in [0, 1]
 * @returns [batch, H, W, C] float32 in [0, 1]
 */
export function augmentBatch(
  tf: Tf,
  images: Tensor,
  settings: Augmentation,
  random: () => number,
): Tensor {
  const [batch, height, width] = images.shape;
  const matrices: number[] = [];
  for (let i = 0; i < batch; i++) {
    matrices.push(...inverseMatrix(drawTransform(settings, width, height, random), width, height));
  }
  return tf.tidy(() =>
    tf.image.transform(
      images as import('@tensorflow/tfjs').Tensor4D,
      tf.tensor2d(matrices, [batch, 8]),
      'bilinear',
      'nearest',
    ),
  );
}
