import { z } from 'zod';
import { PreprocessingSchema, ResizePolicySchema } from './preprocessing.js';

/**
 * Where a dataset comes from and how to read it. `uri` (and `labelsUri`) is a local path, a
 * `file://` URI or an S3 location (`s3://bucket/key`; read on the AWS deployment, or locally with
 * AWS credentials).
 * - `idx`: MNIST-family IDX files (optionally .gz). `uri` is the images file; `labelsUri` defaults
 *   to the same name with `images-idx3` replaced by `labels-idx1`.
 * - `image-folder`: `uri` is a folder with one sub-folder per class holding PNG/JPEG files (in
 *   S3: a prefix `s3://bucket/prefix/` with one sub-prefix per class); class names are the
 *   sub-folder names in sorted order.
 *
 * `resize` says how images whose aspect ratio differs from the base model's input are fitted
 * (`stretch`, the default, `crop` or `pad`; see ResizePolicySchema). Channels always follow the
 * base model: a 3-channel base gets RGB images, a 1-channel base greyscale ones (the run says
 * when that dropped colour). Every step is recorded in the prepared manifest's `preprocessing`.
 * @example
 * { "uri": "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", "format": "idx",
 *   "subset": { "classes": [5, 6, 7, 8, 9], "perClass": 80, "seed": 1 } }
 */
export const DatasetRefSchema = z
  .object({
    uri: z
      .string()
      .min(1, 'give the path of the dataset (a file or folder) or its s3://bucket/key location'),
    format: z.enum(['idx', 'image-folder']),
    labelsUri: z.string().min(1).optional(),
    resize: ResizePolicySchema.optional(),
    /** Names for label values 0..n-1 of an IDX dataset (image folders take the folder names). */
    classNames: z.array(z.string().min(1)).min(2).optional(),
    /** Keep only some classes and/or a seeded sample of each. Labels are re-indexed 0..n-1. */
    subset: z
      .object({
        classes: z.array(z.number().int().nonnegative()).min(2).optional(),
        perClass: z.number().int().positive().optional(),
        seed: z.number().int().nonnegative().default(0),
      })
      .strict()
      .optional(),
  })
  .strict();
export type DatasetRef = z.infer<typeof DatasetRefSchema>;
export type DatasetRefInput = z.input<typeof DatasetRefSchema>;

/** Shape of one prepared image: [height, width, channels]. */
export const ImageShapeSchema = z.tuple([
  z.number().int().positive(),
  z.number().int().positive(),
  z.union([z.literal(1), z.literal(3)]),
]);
export type ImageShape = z.infer<typeof ImageShapeSchema>;

/**
 * The manifest of a prepared dataset: decoded, resized uint8 pixels in `dataKey`
 * (N x H x W x C, row-major, no header) and uint8 labels in `labelsKey`.
 * `hash` is the sha256 of shape + classes + pixels + labels: same content, same hash.
 */
export const PreparedDatasetSchema = z.object({
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  source: DatasetRefSchema,
  classes: z.array(z.string()).min(2),
  shape: ImageShapeSchema,
  count: z.number().int().nonnegative(),
  countsPerClass: z.array(z.number().int().nonnegative()),
  dataKey: z.string(),
  labelsKey: z.string(),
  manifestKey: z.string(),
  preparedAt: z.string(),
  /** Absent in datasets prepared before it was recorded: see preprocessingOf(). */
  preprocessing: PreprocessingSchema.optional(),
});
export type PreparedDataset = z.infer<typeof PreparedDatasetSchema>;

/**
 * Scheme of a dataset reference that names an already prepared dataset by its manifest key
 * (`foldsweep://datasets/<hash>/manifest.json`): a scheduled sweep trains on such a subset.
 */
export const PREPARED_URI_SCHEME = 'foldsweep://';
