import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChampion } from '../../examples/fashion-mnist/verify-champion.js';
import { startServer } from '../../functions/api/node.js';
import { type LocalDeps, localDeps } from '../../functions/deps/local.js';
import { ChampionMetadataSchema } from '../../shared/schemas/champion.js';
import { makeTempDir, recordingLogger, type TempDir } from '../helpers/images.js';

// The one real-data end-to-end test: Debian's dataset-fashion-mnist (installed by .ci/run), the
// committed base CNN (pretrained on classes 0-4), a real HTTP server, real trainer processes.
const EXAMPLE = fileURLToPath(new URL('../../examples/fashion-mnist/', import.meta.url));

let tmp: TempDir;
let deps: LocalDeps;
let server: Awaited<ReturnType<typeof startServer>>;
let base: string;

beforeAll(async () => {
  tmp = await makeTempDir('foldsweep-e2e-');
  deps = localDeps({
    home: join(tmp.path, 'home'),
    concurrency: 2,
    logger: recordingLogger().logger,
  });
  server = await startServer(deps, { port: 0 });
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server?.close();
  await deps?.close();
  await tmp?.cleanup();
});

describe('a real sweep on Fashion-MNIST through the HTTP API', () => {
  it('fine-tunes the base CNN on classes 5-9 and promotes a champion stock tfjs can load', async () => {
    const example = JSON.parse(await readFile(join(EXAMPLE, 'sweep.json'), 'utf8'));
    const spec = {
      ...example,
      name: 'e2e',
      baseModel: join(EXAMPLE, 'base-model/model.json'),
      dataset: { ...example.dataset, subset: { classes: [5, 6, 7, 8, 9], perClass: 40, seed: 3 } },
      folds: 3,
      holdoutFraction: 0.2,
      searchSpace: { strategy: ['finetune', 'scratch'], freezeDepth: [3], lrMultiplier: [0.1, 1] },
      training: { learningRate: 0.003, epochs: 4, batchSize: 16, patience: 2 },
    };
    const created = await fetch(`${base}/sweeps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(spec),
    });
    expect(created.status).toBe(202);
    const { sweep } = (await created.json()) as { sweep: { id: string; status: string } };
    expect(sweep.status).toBe('pending');

    let status = 'running';
    const fractions: number[] = [];
    const deadline = Date.now() + 240_000;
    while (!['completed', 'failed'].includes(status) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      const view = (await (await fetch(`${base}/sweeps/${sweep.id}`)).json()) as {
        status: string;
        progress: { fraction: number };
      };
      status = view.status;
      fractions.push(view.progress.fraction);
    }
    expect(status).toBe('completed');
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));

    const board = (await (await fetch(`${base}/sweeps/${sweep.id}/leaderboard`)).json()) as {
      rows: { variantId: string; complete: boolean; mean: number }[];
      bestVariantId: string;
    };
    expect(board.rows).toHaveLength(3);
    expect(board.rows.every((r) => r.complete)).toBe(true);
    expect(board.rows[0].variantId).toBe(board.bestVariantId);
    // Five balanced classes: chance is 0.2. Fine-tuning a related base should be far above it.
    expect(board.rows[0].mean).toBeGreaterThan(0.5);

    const champion = await deps.state.getChampion(sweep.id);
    expect(champion).toBeDefined();
    const dir = join(deps.home, 'objects', champion?.modelPrefix ?? '');
    const metadata = ChampionMetadataSchema.parse(
      JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8')),
    );
    expect(metadata.classNames).toEqual(['Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
    expect(metadata.inputShape).toEqual([28, 28, 1]);
    expect(metadata.metrics.test?.samples).toBe(5000);
    expect(metadata.metrics.holdout?.samples).toBe(40);

    // Stock @tensorflow/tfjs over HTTP reproduces the reported test accuracy exactly.
    const check = await verifyChampion(dir);
    expect(check.samples).toBe(5000);
    expect(check.accuracy).toBeCloseTo(champion?.testAccuracy ?? -1, 6);
  }, 300_000);
});
