import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson } from '../../shared/ports/object-store.js';
import { type ChampionMetadata, ChampionMetadataSchema } from '../../shared/schemas/champion.js';
import { PlanSchema, planKey } from '../../shared/schemas/plan.js';
import type { ChampionRecord } from '../../shared/schemas/state.js';
import { TrialResultSchema } from '../../shared/schemas/trial-result.js';
import { chartCounts, launchChromium, watchedPage } from '../helpers/browser.js';
import {
  fashionTestSet,
  postSweep,
  smallExampleSpec,
  startLocalServer,
  waitForSweep,
} from '../helpers/fashion-sweep.js';

// One small real sweep of the example (Debian's dataset-fashion-mnist, real trainer processes,
// a real HTTP server); then the champion over HTTP, loaded by stock tfjs, and the report in
// chromium.
let server: Awaited<ReturnType<typeof startLocalServer>>;
let id: string;
let status: string;
const live: { sweep: string; report: number; type: string; html: string; champion: number }[] = [];

beforeAll(async () => {
  server = await startLocalServer();
  id = await postSweep(server.base, await smallExampleSpec());
  status = await waitForSweep(server.base, id, {
    onPoll: async (s) => {
      // Snapshots while the trials run (before that the sweep prepares: no plan yet).
      if (live.length >= 2 || s !== 'running') return;
      const report = await fetch(`${server.base}/sweeps/${id}/report`);
      const champion = await fetch(`${server.base}/sweeps/${id}/champion`);
      await champion.body?.cancel();
      live.push({
        sweep: s,
        report: report.status,
        type: report.headers.get('content-type') ?? '',
        html: await report.text(),
        champion: champion.status,
      });
    },
  });
}, 300_000);

afterAll(async () => {
  await server?.close();
});

async function championView() {
  const res = await fetch(`${server.base}/sweeps/${id}/champion`);
  expect(res.status).toBe(200);
  return (await res.json()) as {
    champion: ChampionRecord;
    metadata: ChampionMetadata;
    files: string[];
    modelUrl: string;
  };
}

describe('the champion and the report of a real sweep over HTTP', () => {
  it('served the live report (no champion yet) while the sweep ran, and 404 for the champion', () => {
    expect(status).toBe('completed');
    expect(live.length).toBeGreaterThan(0);
    for (const snapshot of live) {
      expect(snapshot.report).toBe(200);
      expect(snapshot.type).toMatch(/^text\/html/);
      expect(snapshot.html).toContain('http-equiv="refresh"');
      expect(snapshot.champion).toBe(404);
    }
    expect(live.some((s) => s.html.includes('data-empty="no-champion"'))).toBe(true);
  });

  it('GET /sweeps/:id/champion: the record, metadata.json with confusion matrices, the files', async () => {
    const view = await championView();
    expect(view.champion).toEqual(await server.deps.state.getChampion(id));
    const metadata = ChampionMetadataSchema.parse(view.metadata);
    expect(metadata.lineage.sweepId).toBe(id);
    expect(metadata.classNames).toEqual(['Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
    const test = metadata.metrics.test;
    expect(test?.samples).toBe(5000);
    expect(test?.accuracy).toBe(view.champion.testAccuracy);
    expect(test?.confusion).toHaveLength(5);
    expect(test?.confusion?.flat().reduce((a, b) => a + b, 0)).toBe(5000);
    expect(test?.confusion?.map((row) => row.reduce((a, b) => a + b, 0))).toEqual([
      1000, 1000, 1000, 1000, 1000,
    ]);
    expect(test?.perClassAccuracy).toEqual(test?.confusion?.map((row, c) => row[c] / 1000));
    expect(metadata.metrics.holdout?.confusion?.flat().reduce((a, b) => a + b, 0)).toBe(
      metadata.metrics.holdout?.samples,
    );
    const modelJson = (await (await fetch(`${server.base}${view.modelUrl}`)).json()) as {
      weightsManifest: { paths: string[] }[];
    };
    const weightFiles = modelJson.weightsManifest.flatMap((m) => m.paths);
    expect(view.files.sort()).toEqual(['metadata.json', 'model.json', ...weightFiles].sort());
    for (const file of weightFiles) {
      const res = await fetch(`${server.base}/sweeps/${id}/champion/${file}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/octet-stream');
      await res.arrayBuffer();
    }
    const outside = await fetch(`${server.base}/sweeps/${id}/champion/..%2Fplan.json`);
    expect(outside.status).toBe(404);
    await outside.body?.cancel();
  });

  it('stock tf.loadLayersModel loads it from the server and reproduces its test accuracy', async () => {
    const { champion, metadata } = await championView();
    // Predict on the stock WebAssembly backend (the pure-JS one takes a minute for 5,000 images
    // on a loaded 2-core machine); this process registered it when the champion was evaluated.
    expect(await tf.setBackend('wasm')).toBe(true);
    const model = await tf.loadLayersModel(`${server.base}/sweeps/${id}/champion/model.json`);
    const { x, y, count } = await fashionTestSet(metadata.classNames, metadata.preprocessing);
    expect(count).toBe(5000);
    const confusion = metadata.classNames.map(() => metadata.classNames.map(() => 0));
    let correct = 0;
    for (let start = 0; start < count; start += 500) {
      const n = Math.min(500, count - start);
      const predicted = tf.tidy(() =>
        (
          model.predict(
            tf.tensor4d(x.subarray(start * 784, (start + n) * 784), [n, 28, 28, 1]),
          ) as tf.Tensor
        ).argMax(-1),
      );
      const out = await predicted.data();
      predicted.dispose();
      for (let j = 0; j < n; j++) {
        confusion[y[start + j]][out[j]]++;
        if (out[j] === y[start + j]) correct++;
      }
    }
    model.dispose();
    expect(correct / count).toBeCloseTo(champion.testAccuracy ?? -1, 6);
    expect(confusion).toEqual(metadata.metrics.test?.confusion);
  }, 120_000);

  it('GET /sweeps/:id/report renders in chromium with no errors, offline, with the charts its data calls for', async () => {
    const plan = PlanSchema.parse(await getJson(server.deps.objects, planKey(id)));
    const stored = await Promise.all(
      (await server.deps.objects.list(`sweeps/${id}/trials/`))
        .filter((k) => k.endsWith('/result.json'))
        .map(async (k) => TrialResultSchema.parse(await getJson(server.deps.objects, k))),
    );
    // The fold trials, and the refit (the champion by default), which the folds' charts leave out.
    const results = stored.filter((r) => !r.refit);
    expect(results).toHaveLength(plan.trials.length);
    expect(stored.filter((r) => r.refit).map((r) => r.trialIndex)).toEqual([plan.trials.length]);
    // The spec sweeps strategy (finetune, bottleneck-linear) and svmC (0.1, 1): 2 dimensions.
    const expected = {
      'fold-scores': 1,
      'objective-vs': 2,
      'learning-curve': results.filter((r) => r.epochs.length > 0).length,
      'confusion-matrix': 2,
      'per-class-accuracy': 2,
      timeline: 1,
    };
    expect(expected['learning-curve']).toBe(plan.trials.length);

    const chromium = await launchChromium();
    try {
      const { page, errors, requests } = await watchedPage(chromium.browser);
      const url = `${server.base}/sweeps/${id}/report`;
      const res = await page.goto(url, { waitUntil: 'load' });
      expect(res?.status()).toBe(200);
      expect(await chartCounts(page)).toEqual(expected);
      expect(errors).toEqual([]);
      expect(requests).toEqual([url]);
      const sizes = await page
        .locator('svg.chart')
        .evaluateAll((nodes) => nodes.map((n) => n.getBoundingClientRect().width));
      expect(sizes.every((w) => w > 100)).toBe(true);
      const champion = await server.deps.state.getChampion(id);
      await expect(
        page.locator(`tr[data-variant="${champion?.variantId}"]`).getAttribute('data-status'),
      ).resolves.toBe('champion');
      expect(await page.locator('[data-sweep-status]').getAttribute('data-sweep-status')).toBe(
        'completed',
      );
      expect(await page.locator('meta[http-equiv="refresh"]').count()).toBe(0);
    } finally {
      await chromium.close();
    }
  });
});
