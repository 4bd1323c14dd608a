import { z } from 'zod';

/**
 * How a source image whose aspect ratio differs from the target's is fitted to it:
 * - `stretch`: resized to exactly the target size, aspect ratio not kept (nothing lost, shapes
 *   distorted). Keras' `image_dataset_from_directory` does the same by default.
 * - `crop`: scaled to cover the target and centre-cropped (aspect kept, the edges lost).
 * - `pad`: scaled to fit inside the target and centred on black (aspect kept, nothing lost).
 * The three agree when a source image already has the target's aspect ratio.
 */
export const ResizePolicySchema = z.enum(['stretch', 'crop', 'pad']);
export type ResizePolicy = z.infer<typeof ResizePolicySchema>;

/** The resize policy of a dataset whose spec names none. */
export const DEFAULT_RESIZE_POLICY: ResizePolicy = 'stretch';

/** A source image size seen while preparing, and how many images had it. */
export const SourceSizeSchema = z.object({
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  /** Channels in the file: 1 grey, 2 grey + alpha, 3 RGB, 4 RGB + alpha. */
  channels: z.number().int().min(1).max(4),
  count: z.number().int().positive(),
});
export type SourceSize = z.infer<typeof SourceSizeSchema>;

/**
 * Every step from a source image to the float32 tensor a model of the sweep sees: written into
 * the prepared dataset's manifest.json when it is prepared, and copied into the champion's
 * metadata.json. The trainer, the evaluator and a client of the champion apply exactly this.
 * @example
 * { "source": "image-folder", "resize": "stretch", "resizeKernel": "lanczos3",
 *   "sourceSizes": [{ "width": 32, "height": 32, "channels": 3, "count": 600 }],
 *   "targetShape": [28, 28, 1], "channelConversion": "rgb-to-grey", "alphaFlattened": false,
 *   "colourDropped": true, "scale": 0.00392156862745098, "offset": 0, "layout": "NHWC",
 *   "steps": ["decode PNG/JPEG with sharp (libvips), apply the EXIF orientation", "…"],
 *   "warnings": ["colour dropped: the base model takes 1 channel but 600 of 600 images are in colour…"] }
 */
export const PreprocessingSchema = z.object({
  source: z.enum(['idx', 'image-folder']),
  resize: ResizePolicySchema,
  /** libvips resampling kernel of every resize (sharp's default). */
  resizeKernel: z.literal('lanczos3'),
  /** Distinct source sizes seen, most frequent first (at most 20; the rest are counted). */
  sourceSizes: z.array(SourceSizeSchema),
  otherSourceSizes: z.number().int().nonnegative(),
  /** [height, width, channels] of every prepared image: the base model's input. */
  targetShape: z.tuple([
    z.number().int().positive(),
    z.number().int().positive(),
    z.union([z.literal(1), z.literal(3)]),
  ]),
  /** `rgb-to-grey`: libvips' sRGB -> b-w conversion; `grey-to-rgb`: the grey value copied 3 times. */
  channelConversion: z.enum(['none', 'grey-to-rgb', 'rgb-to-grey']),
  /** Whether some source had an alpha channel (flattened onto black before anything else). */
  alphaFlattened: z.boolean(),
  /** True when colour sources were reduced to one grey channel for a greyscale base model. */
  colourDropped: z.boolean(),
  /** x = pixel * scale + offset, float32, pixel being the prepared uint8 value. */
  scale: z.number(),
  offset: z.number(),
  layout: z.literal('NHWC'),
  /** The steps above in order, in words a deployer can reproduce. */
  steps: z.array(z.string()),
  /** What a user should know: colour dropped, images distorted by `stretch`. */
  warnings: z.array(z.string()),
});
export type Preprocessing = z.infer<typeof PreprocessingSchema>;
