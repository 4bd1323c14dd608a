import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../functions/api/node.js';
import { renderHtmlReport } from '../../shared/report/html-report.js';
import { chartCounts, launchChromium, watchedPage } from '../helpers/browser.js';
import {
  completedScenario,
  FIXTURE_SWEPT_DIMENSIONS,
  liveScenario,
  type ReportScenario,
  seededStores,
} from '../helpers/report-fixtures.js';

// The report in a real browser (Debian's chromium), served by the real HTTP server from stores
// seeded with a live sweep and a completed one (no training: see champion-http.test.ts for a
// real sweep).
let chromium: Awaited<ReturnType<typeof launchChromium>>;
beforeAll(async () => {
  chromium = await launchChromium();
});
afterAll(async () => {
  await chromium?.close();
});

async function served(scenario: ReportScenario) {
  const stores = await seededStores(scenario);
  const server = await startServer(stores.deps, { port: 0 });
  return {
    url: `http://127.0.0.1:${server.port}/sweeps/${stores.plan.sweepId}/report`,
    async close() {
      await server.close();
      await stores.cleanup();
    },
  };
}

async function open(url: string) {
  const watched = await watchedPage(chromium.browser);
  const res = await watched.page.goto(url, { waitUntil: 'load' });
  expect(res?.status()).toBe(200);
  return watched;
}

describe('the HTML report in chromium', () => {
  it('a live sweep: charts for what has finished, marks, no champion, no console errors', async () => {
    const scenario = liveScenario();
    const { url, close } = await served(scenario);
    try {
      const { page, errors, requests } = await open(url);
      expect(await chartCounts(page)).toEqual({
        'fold-scores': 1,
        'objective-vs': FIXTURE_SWEPT_DIMENSIONS.length,
        'learning-curve': scenario.withCurves,
        timeline: 1,
      });
      expect(errors).toEqual([]);
      expect(requests).toEqual([url]);
      const plan = scenario.input.plan;
      expect(await page.locator('tbody tr[data-variant]').count()).toBe(plan?.variants.length);
      expect(await page.locator('tr[data-status="incomplete"]').count()).toBe(1);
      expect(await page.locator('tr[data-status="pending"]').count()).toBe(2);
      expect(await page.locator('.placeholder[data-status="running"]').count()).toBe(1);
      expect(await page.locator('[data-empty="no-champion"]').count()).toBe(1);
      // Drawn, not just present: every chart has a size and marks inside it.
      const boxes = await page
        .locator('svg.chart')
        .evaluateAll((nodes) =>
          nodes.map((n) => [n.getBoundingClientRect().width, n.querySelectorAll('*').length]),
        );
      expect(boxes.every(([w, marks]) => w > 100 && marks > 10)).toBe(true);
      const dots = await page.locator('svg[data-chart="fold-scores"] circle.fold').count();
      const scores = scenario.input.trials.filter((t) => t.status === 'succeeded').length;
      expect(dots).toBe(scores);
      await page.close();
    } finally {
      await close();
    }
  });

  it('a completed sweep: the champion’s confusion matrices and per-class accuracy too', async () => {
    const scenario = completedScenario();
    const { url, close } = await served(scenario);
    try {
      const { page, errors, requests } = await open(url);
      expect(await chartCounts(page)).toEqual({
        'fold-scores': 1,
        'objective-vs': FIXTURE_SWEPT_DIMENSIONS.length,
        'learning-curve': scenario.withCurves,
        'confusion-matrix': 2,
        'per-class-accuracy': 2,
        timeline: 1,
      });
      expect(errors).toEqual([]);
      expect(requests).toEqual([url]);
      const classes = scenario.input.plan?.dataset.classes.length ?? 0;
      expect(await page.locator('svg[data-chart="confusion-matrix"] rect.cell').count()).toBe(
        2 * classes * classes,
      );
      expect(await page.locator('svg[data-chart="per-class-accuracy"] rect.bar').count()).toBe(
        2 * classes,
      );
      expect(await page.locator('tr[data-status="champion"]').count()).toBe(1);
      await page.close();
    } finally {
      await close();
    }
  });

  it('a report file opened from disk (no server) renders the same', async () => {
    const scenario = completedScenario();
    const watched = await watchedPage(chromium.browser);
    await watched.page.setContent(renderHtmlReport(scenario.input), { waitUntil: 'load' });
    expect((await chartCounts(watched.page))['learning-curve']).toBe(scenario.withCurves);
    expect(watched.errors).toEqual([]);
    expect(watched.requests).toEqual([]);
    await watched.page.close();
  });
});
