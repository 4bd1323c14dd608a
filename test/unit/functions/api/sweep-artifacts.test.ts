import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../../../functions/api/app.js';
import { completedScenario, liveScenario, seededStores } from '../../../helpers/report-fixtures.js';

let stores: Awaited<ReturnType<typeof seededStores>> | undefined;
afterEach(async () => {
  await stores?.cleanup();
  stores = undefined;
});

async function appFor(scenario: ReturnType<typeof completedScenario>) {
  stores = await seededStores(scenario);
  return { app: createApp(stores.deps), id: stores.plan.sweepId, objects: stores.objects };
}

describe('GET /sweeps/:id/report', () => {
  it('renders the live report as HTML while the sweep runs', async () => {
    const scenario = liveScenario();
    const { app, id } = await appFor(scenario);
    const res = await app.request(`/sweeps/${id}/report`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    expect(html.match(/data-chart="learning-curve"/g)).toHaveLength(scenario.withCurves);
    expect(html).toContain('http-equiv="refresh"');
    expect(html).toContain('data-empty="no-champion"');
  });

  it('answers 404 with the error shape for an unknown sweep', async () => {
    const { app } = await appFor(liveScenario());
    const res = await app.request('/sweeps/nope/report');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: { code: 'not_found', message: "sweep 'nope' not found" },
    });
  });
});

describe('GET /sweeps/:id/champion', () => {
  it('returns the champion record, its metadata and its files', async () => {
    const scenario = completedScenario();
    const { app, id } = await appFor(scenario);
    const res = await app.request(`/sweeps/${id}/champion`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toEqual({
      champion: scenario.input.champion,
      metadata: JSON.parse(JSON.stringify(scenario.input.metadata)),
      files: ['metadata.json', 'model.json', 'weights.bin'],
      modelUrl: `/sweeps/${id}/champion/model.json`,
    });
  });

  it('answers 404 (error shape) before a champion exists, and for an unknown sweep', async () => {
    const { app, id } = await appFor(liveScenario());
    for (const path of [
      `/sweeps/${id}/champion`,
      `/sweeps/${id}/champion/model.json`,
      '/sweeps/nope/champion',
      '/sweeps/nope/champion/model.json',
    ]) {
      const res = await app.request(path);
      expect(res.status, path).toBe(404);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code, path).toBe('not_found');
    }
    const none = await app.request(`/sweeps/${id}/champion`);
    expect(((await none.json()) as { error: { message: string } }).error.message).toMatch(
      /no champion yet \(status running\)/,
    );
  });
});

describe('GET /sweeps/:id/champion/<file>', () => {
  it('serves the files under the champion prefix with their content types', async () => {
    const { app, id } = await appFor(completedScenario());
    const model = await app.request(`/sweeps/${id}/champion/model.json`);
    expect(model.status).toBe(200);
    expect(model.headers.get('content-type')).toBe('application/json');
    expect(await model.json()).toEqual({ modelTopology: {} });
    const weights = await app.request(`/sweeps/${id}/champion/weights.bin`);
    expect(weights.status).toBe(200);
    expect(weights.headers.get('content-type')).toBe('application/octet-stream');
    expect([...new Uint8Array(await weights.arrayBuffer())]).toEqual([1, 2, 3, 4]);
    const meta = await app.request(`/sweeps/${id}/champion/metadata.json`);
    expect(((await meta.json()) as { format: string }).format).toBe('foldsweep-champion/1');
  });

  it('serves nothing outside the champion prefix, nor a missing file', async () => {
    const { app, id, objects } = await appFor(completedScenario());
    // Objects that do exist elsewhere in the store.
    expect(await objects.exists(`sweeps/${id}/plan.json`)).toBe(true);
    await objects.put(`sweeps/${id}/champion-other/secret.json`, '{"secret":true}');
    for (const file of [
      'nothing.bin',
      '..%2Fplan.json',
      '%2e%2e%2fplan.json',
      '%2e%2e/plan.json',
      `..%2F..%2F..%2Fsweeps%2F${id}%2Fplan.json`,
      '%2Fetc%2Fpasswd',
      'model.json%00',
      '..%5Cplan.json',
      '..%2Fchampion-other%2Fsecret.json',
    ]) {
      const res = await app.request(`/sweeps/${id}/champion/${file}`);
      expect(res.status, file).toBe(404);
      expect(await res.text(), file).not.toMatch(/"secret":true|"version":1/);
    }
  });
});
