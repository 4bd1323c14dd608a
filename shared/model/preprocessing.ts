/** The exact preprocessing every model of a sweep sees, recorded in the champion's metadata. */
export const PREPROCESSING = {
  description: 'x = pixel / 255 as float32, NHWC, channels as prepared (1 = greyscale, 3 = RGB)',
  scale: 1 / 255,
  offset: 0,
  layout: 'NHWC',
} as const;
