/**
 * Renders the HTML report of a real sweep in Debian's chromium and writes a PNG of its top
 * (summary, leaderboard, fold scores, objective per swept dimension, the champion's confusion
 * matrices, the first learning curves), palette-compressed to stay small.
 *
 *   npx tsx scripts/report-screenshot.ts [--out docs/report-screenshot.png] [--epochs 8]
 *   npx tsx scripts/report-screenshot.ts --home .foldsweep --sweep <id>   (an existing sweep)
 *
 * Without --sweep it runs the example sweep (examples/fashion-mnist/sweep.json: 12 variants x 3
 * folds on 100 images per class) with --epochs epochs (default 8 instead of 20, to be quick) in
 * a temp home, through the HTTP API, and shoots GET /sweeps/:id/report.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { chartCounts, launchChromium, watchedPage } from '../test/helpers/browser.js';
import {
  postSweep,
  smallExampleSpec,
  startLocalServer,
  waitForSweep,
} from '../test/helpers/fashion-sweep.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'docs/report-screenshot.png' },
    epochs: { type: 'string', default: '8' },
    home: { type: 'string' },
    sweep: { type: 'string' },
    width: { type: 'string', default: '1200' },
  },
});

const started = Date.now();
const server = await startLocalServer({ home: values.home && resolve(values.home) });
const chromium = await launchChromium();
try {
  let id = values.sweep;
  if (!id) {
    const example = await smallExampleSpec();
    const spec = {
      ...example,
      name: 'fashion-mnist-5-9',
      // The example's own data, folds and grid; only fewer epochs.
      dataset: { ...example.dataset, subset: { classes: [5, 6, 7, 8, 9], perClass: 100, seed: 1 } },
      folds: 3,
      holdoutFraction: 0.15,
      searchSpace: {
        strategy: ['finetune', 'bottleneck-linear', 'scratch'],
        freezeDepth: [0, 3, 5, 'fc1'],
        lrMultiplier: [1, 0.1],
        svmC: [0.1, 1, 10],
      },
      training: { learningRate: 0.003, epochs: Number(values.epochs), batchSize: 16, patience: 4 },
    };
    id = await postSweep(server.base, spec);
    console.log(`sweep ${id}: running (epochs ${values.epochs})…`);
    const status = await waitForSweep(server.base, id, { timeoutMs: 30 * 60_000 });
    console.log(`sweep ${id}: ${status} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  const url = `${server.base}/sweeps/${id}/report`;
  const t0 = performance.now();
  const html = await (await fetch(url)).text();
  const serveMs = performance.now() - t0;
  const { page, errors } = await watchedPage(chromium.browser, {
    width: Number(values.width),
    height: 900,
  });
  await page.goto(url, { waitUntil: 'load' });
  if (errors.length) throw new Error(`console errors: ${errors.join('; ')}`);
  // Down to the first variant's learning curves.
  const firstCurves = await page.locator('#curves .charts').first().boundingBox();
  const height = Math.ceil((firstCurves ? firstCurves.y + firstCurves.height : 2400) + 16);
  const png = await page.screenshot({
    fullPage: true,
    clip: { x: 0, y: 0, width: Number(values.width), height },
  });
  const small = await sharp(png).png({ palette: true, colors: 96, compressionLevel: 9 }).toBuffer();
  const out = resolve(values.out);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, small);
  const counts = await chartCounts(page);
  console.log(
    `report: ${(html.length / 1024).toFixed(0)} KB, built and rendered by the server in ${serveMs.toFixed(0)} ms; charts ${JSON.stringify(counts)}`,
  );
  console.log(
    `wrote ${out} (${Number(values.width)}x${height}, ${(small.length / 1024).toFixed(0)} KB)`,
  );
} finally {
  await chromium.close();
  await server.close();
}
