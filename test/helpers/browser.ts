/**
 * Debian's chromium (/usr/bin/chromium, installed by .ci/run) driven by playwright-core, with
 * its profile and caches in a temp folder, and a page that records console errors, page errors
 * and every request it makes.
 */
import { chromium, type Page } from 'playwright-core';
import { makeTempDir } from './images.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchChromium() {
  const tmp = await makeTempDir('foldsweep-chromium-');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    env: {
      ...process.env,
      XDG_CONFIG_HOME: `${tmp.path}/config`,
      XDG_CACHE_HOME: `${tmp.path}/cache`,
      HOME: tmp.path,
    },
  });
  return {
    browser,
    async close() {
      await browser.close();
      await tmp.cleanup();
    },
  };
}

export interface WatchedPage {
  page: Page;
  /** Console messages of type error, and uncaught page errors. */
  errors: string[];
  /** Every URL the page requested. */
  requests: string[];
}

export async function watchedPage(
  browser: Awaited<ReturnType<typeof launchChromium>>['browser'],
  viewport = { width: 1200, height: 900 },
): Promise<WatchedPage> {
  const page = await browser.newPage({ viewport });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => requests.push(r.url()));
  return { page, errors, requests };
}

/** Counts the page's charts by kind (`svg.chart[data-chart]`). */
export async function chartCounts(page: Page): Promise<Record<string, number>> {
  const kinds = await page
    .locator('svg.chart')
    .evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-chart') ?? ''));
  const counts: Record<string, number> = {};
  for (const k of kinds) counts[k] = (counts[k] ?? 0) + 1;
  return counts;
}
