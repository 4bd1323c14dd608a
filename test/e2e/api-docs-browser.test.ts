import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../functions/api/node.js';
import { launchChromium, watchedPage } from '../helpers/browser.js';
import { makeRetrainWorkspace } from '../helpers/retrain-fixtures.js';

// GET /docs (Swagger UI from swagger-ui-dist) in Debian's chromium, served by the real HTTP
// server: it renders every operation of /openapi.json with no console error and no request
// leaving the server.
let chromium: Awaited<ReturnType<typeof launchChromium>>;
let ws: Awaited<ReturnType<typeof makeRetrainWorkspace>>;
let server: Awaited<ReturnType<typeof startServer>>;
beforeAll(async () => {
  ws = await makeRetrainWorkspace();
  server = await startServer(ws.deps, { port: 0 });
  chromium = await launchChromium();
}, 60_000);
afterAll(async () => {
  await chromium?.close();
  await server?.close();
  await ws?.cleanup();
});

describe('GET /docs in Chromium', () => {
  it('lists every operation of /openapi.json, with no console errors and no outside request', async () => {
    const origin = `http://127.0.0.1:${server.port}`;
    const doc = (await (await fetch(`${origin}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const operations = Object.values(doc.paths).flatMap((ops) => Object.keys(ops)).length;
    const { page, errors, requests } = await watchedPage(chromium.browser);

    const res = await page.goto(`${origin}/docs`, { waitUntil: 'load' });
    await page.waitForSelector('.opblock', { timeout: 30_000 });
    const shown = await page.locator('.opblock').count();
    const paths = await page.locator('.opblock-summary-path').allTextContents();
    const title = await page.locator('.info .title').textContent();

    expect(res?.status()).toBe(200);
    expect(shown).toBe(operations);
    expect(paths.map((p) => p.replace(/\u200b/g, ''))).toEqual(
      expect.arrayContaining(['/sweeps', '/sweeps/{id}', '/schedules', '/models/{name}/versions']),
    );
    expect(title).toContain('foldsweep API');
    expect(errors).toEqual([]);
    expect(requests.filter((url) => !url.startsWith(origin) && !url.startsWith('data:'))).toEqual(
      [],
    );
  }, 90_000);
});
