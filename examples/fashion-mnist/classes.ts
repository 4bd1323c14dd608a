/** Fashion-MNIST label names, index = label value in the IDX files. */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

export const FASHION_MNIST_DIR =
  process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
