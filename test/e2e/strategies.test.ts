import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDeps, localDeps } from '../../functions/deps/local.js';
import { loadPreparedDataset } from '../../shared/data/load.js';
import { getJson } from '../../shared/ports/object-store.js';
import { type ChampionMetadata, ChampionMetadataSchema } from '../../shared/schemas/champion.js';
import type { PreparedDataset } from '../../shared/schemas/dataset.js';
import type { Strategy } from '../../shared/schemas/sweep-spec.js';
import { TrialResultSchema } from '../../shared/schemas/trial-result.js';
import { createSweep } from '../../shared/service/sweeps.js';
import { makeTempDir, recordingLogger, type TempDir } from '../helpers/images.js';

// Each strategy alone in a real sweep on Fashion-MNIST (so that it is the champion), then its
// champion, loaded with stock @tensorflow/tfjs over HTTP and fed the test images preprocessed as
// metadata.json says, must reproduce the test accuracy foldsweep reported.
const EXAMPLE = fileURLToPath(new URL('../../examples/fashion-mnist/', import.meta.url));

let tmp: TempDir;
let deps: LocalDeps;
let example: Record<string, unknown>;

beforeAll(async () => {
  tmp = await makeTempDir('foldsweep-e2e-strategies-');
  deps = localDeps({
    home: join(tmp.path, 'home'),
    concurrency: 2,
    logger: recordingLogger().logger,
  });
  example = JSON.parse(await readFile(join(EXAMPLE, 'strategies.json'), 'utf8'));
});

afterAll(async () => {
  await deps?.close();
  await tmp?.cleanup();
});

/** Accuracy (argmax) of the champion in `dir`, loaded by stock tf.loadLayersModel over HTTP. */
async function stockAccuracy(dir: string, metadata: ChampionMetadata, testSet: PreparedDataset) {
  const server = createServer((req, res) => {
    readFile(join(dir, (req.url ?? '/').replace(/^\/+/, '').replace(/\.\./g, ''))).then(
      (body) => res.writeHead(200).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as AddressInfo;
    const model = await tf.loadLayersModel(`http://127.0.0.1:${port}/model.json`);
    const { pixels, labels } = await loadPreparedDataset(deps.objects, testSet);
    const { scale, offset } = metadata.preprocessing;
    const x = tf.tensor4d(
      Float32Array.from(pixels, (p) => p * scale + offset),
      [testSet.count, ...testSet.shape],
    );
    const predicted = tf.tidy(() => (model.predict(x) as tf.Tensor).argMax(-1));
    const classes = await predicted.data();
    tf.dispose([x, predicted]);
    model.dispose();
    return classes.filter((c, i) => c === labels[i]).length / testSet.count;
  } finally {
    server.close();
  }
}

async function sweepOf(
  strategy: Strategy,
  searchSpace: Record<string, unknown>,
  kind: 'best-fold' | 'ensemble' = 'best-fold',
) {
  const spec = {
    ...example,
    name: `e2e-${strategy}-${kind}`,
    champion: kind,
    baseModel: join(EXAMPLE, 'base-model/model.json'),
    dataset: {
      ...(example.dataset as object),
      subset: { classes: [5, 6, 7, 8, 9], perClass: 30, seed: 4 },
    },
    testSet: {
      ...(example.testSet as object),
      subset: { classes: [5, 6, 7, 8, 9], perClass: 60, seed: 1 },
    },
    folds: 2,
    holdoutFraction: 0,
    model: {
      cutLayer: 'fc1',
      ...(strategy === 'bottleneck-linear' ? {} : { head: { dropout: 0.1 } }),
    },
    searchSpace: { strategy: [strategy], ...searchSpace },
    augmentation: strategy === 'bottleneck-linear' ? undefined : { flip: true, rotationDegrees: 8 },
    training: { learningRate: 0.003, epochs: 3, batchSize: 16, patience: 2 },
  };
  const { sweep, plan } = await createSweep(deps, spec);
  await deps.executor.waitFor(sweep.id);
  const champion = await deps.state.getChampion(sweep.id);
  const dir = join(deps.home, 'objects', champion?.modelPrefix ?? '');
  const metadata = ChampionMetadataSchema.parse(
    JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8')),
  );
  const results = await Promise.all(
    plan.trials.map(async (t) =>
      TrialResultSchema.parse(
        await getJson(
          deps.objects,
          `sweeps/${sweep.id}/trials/${String(t.index).padStart(5, '0')}/result.json`,
        ),
      ),
    ),
  );
  return { champion, dir, metadata, results, testSet: plan.testSet };
}

describe('every strategy in a real sweep on Fashion-MNIST', () => {
  it.each([
    {
      strategy: 'finetune',
      searchSpace: { freezeDepth: [3], lrMultiplier: [1], headLrMultiplier: [3], augment: [true] },
      outputs: 'probabilities',
      champion: 'best-fold',
    },
    {
      strategy: 'bottleneck-linear',
      searchSpace: { svmC: [1] },
      outputs: 'scores',
      champion: 'best-fold',
    },
    {
      strategy: 'scratch',
      searchSpace: { augment: [true] },
      outputs: 'probabilities',
      champion: 'best-fold',
    },
    {
      strategy: 'finetune',
      searchSpace: { freezeDepth: [3], lrMultiplier: [1], augment: [true] },
      outputs: 'probabilities',
      champion: 'ensemble',
    },
    {
      strategy: 'bottleneck-linear',
      searchSpace: { svmC: [1] },
      outputs: 'scores',
      champion: 'ensemble',
    },
  ] as const)(
    '$strategy ($champion): its champion reloads with stock tfjs and reproduces the test accuracy',
    async ({ strategy, searchSpace, outputs, champion: kind }) => {
      // Act
      const { champion, dir, metadata, results, testSet } = await sweepOf(
        strategy,
        searchSpace,
        kind,
      );

      // Assess
      expect(results.every((r) => r.status === 'succeeded')).toBe(true);
      expect(metadata.lineage.variant.strategy).toBe(strategy);
      expect(metadata.outputs).toBe(outputs);
      expect(metadata.lineage.cutLayer).toBe('fc1');
      expect(metadata.metrics.test?.samples).toBe(300);
      // 150 images in 2 folds: one fold's model saw 75, the ensemble of both saw all 150.
      expect(metadata.lineage.champion).toEqual({
        kind,
        trialIndices: kind === 'ensemble' ? [0, 1] : [metadata.lineage.trialIndex],
        trainingImages: kind === 'ensemble' ? 150 : 75,
      });
      if (strategy === 'bottleneck-linear' && kind === 'best-fold') {
        for (const r of results) expect(['hit', 'miss']).toContain(r.bottleneckCache);
        expect(await deps.objects.list('cache/bottleneck/')).toHaveLength(2);
      }
      const accuracy = await stockAccuracy(dir, metadata, testSet as PreparedDataset);
      expect(accuracy).toBeCloseTo(champion?.testAccuracy ?? -1, 6);
      // Five balanced classes: chance is 0.2. Three epochs from scratch may not beat it yet.
      if (strategy !== 'scratch') expect(accuracy).toBeGreaterThan(0.5);
    },
    120_000,
  );
});
