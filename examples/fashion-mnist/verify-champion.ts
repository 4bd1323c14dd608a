/**
 * Checks a champion with nothing but stock @tensorflow/tfjs: serves its folder over HTTP on
 * loopback, loads it with tf.loadLayersModel('http://…/model.json'), applies the preprocessing
 * written in metadata.json, maps Fashion-MNIST test labels to outputs by metadata.classNames, and
 * prints the accuracy. It reads the IDX files itself (node:zlib), not through foldsweep's reader.
 *
 *   npx tsx examples/fashion-mnist/verify-champion.ts <champion-dir>
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR } from './classes.js';

export async function verifyChampion(dir: string): Promise<{ accuracy: number; samples: number }> {
  const metadata = JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8'));
  const server = createServer(async (req, res) => {
    try {
      const body = await readFile(
        join(dir, (req.url ?? '/').replace(/^\/+/, '').replace(/\.\./g, '')),
      );
      res.writeHead(200).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  try {
    await tf.setBackend('cpu');
    const model = await tf.loadLayersModel(`http://127.0.0.1:${port}/model.json`);
    const images = gunzipSync(await readFile(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz')));
    const labels = gunzipSync(await readFile(join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz')));
    const [h, w, c] = metadata.inputShape as number[];
    const size = h * w * c;
    const outputOf = new Map<number, number>();
    FASHION_MNIST_CLASSES.forEach((name, label) => {
      const out = (metadata.classNames as string[]).indexOf(name);
      if (out >= 0) outputOf.set(label, out);
    });
    const rows: number[] = [];
    for (let i = 0; i < labels.length - 8; i++) if (outputOf.has(labels[8 + i])) rows.push(i);
    let correct = 0;
    for (let start = 0; start < rows.length; start += 500) {
      const batch = rows.slice(start, start + 500);
      const x = new Float32Array(batch.length * size);
      batch.forEach((row, j) => {
        for (let p = 0; p < size; p++) {
          x[j * size + p] =
            images[16 + row * size + p] * metadata.preprocessing.scale +
            metadata.preprocessing.offset;
        }
      });
      const predicted = tf.tidy(() =>
        (model.predict(tf.tensor4d(x, [batch.length, h, w, c])) as tf.Tensor).argMax(-1),
      );
      const out = await predicted.data();
      predicted.dispose();
      batch.forEach((row, j) => {
        if (out[j] === outputOf.get(labels[8 + row])) correct++;
      });
    }
    return { accuracy: correct / rows.length, samples: rows.length };
  } finally {
    server.close();
  }
}

if (process.argv[1]?.endsWith('verify-champion.ts')) {
  const dir = resolve(process.argv[2] ?? '');
  const { accuracy, samples } = await verifyChampion(dir);
  console.log(
    `stock @tensorflow/tfjs (${tf.getBackend()}): test accuracy ${accuracy.toFixed(4)} on ${samples} images`,
  );
}
