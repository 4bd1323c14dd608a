import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSchedule, runSchedule } from '../../../../shared/service/schedules.js';
import {
  makeRetrainWorkspace,
  modelVersionFactory,
  retrainApp,
} from '../../../helpers/retrain-fixtures.js';

// One workspace for the file: the registry is filled once (two real sweeps), then the tests
// read and change it in order.
let ws: Awaited<ReturnType<typeof makeRetrainWorkspace>>;
let app: ReturnType<typeof retrainApp>;
beforeAll(async () => {
  ws = await makeRetrainWorkspace();
  await ws.writeData([{ n: 60, seed: 1 }]);
  await createSchedule(ws.deps, ws.scheduleInput());
  for (const force of [false, true]) {
    ws.clock.advance(60_000);
    const { run } = await runSchedule(ws.deps, 'nightly', { force });
    await ws.executor.waitFor(run.sweepId ?? '');
  }
  app = retrainApp(ws.deps);
});
afterAll(async () => {
  await ws.cleanup();
});

const send = (method: string, path: string, body?: unknown) =>
  app.request(path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
const json = async (res: Response) => (await res.json()) as Record<string, unknown>;

describe('/models', () => {
  it('lists models and shows one with its versions, lineage and history', async () => {
    const list = await json(await send('GET', '/models'));
    expect(list.models).toEqual([
      expect.objectContaining({ name: 'bands', servingVersion: 1, versions: 2, latestVersion: 2 }),
    ]);
    const res = await send('GET', '/models/bands');
    expect(res.status).toBe(200);
    const model = (await res.json()) as {
      serving: { version: number; source: { kind: string } };
      versions: { version: number; sweepId: string; decision: string }[];
      history: { action: string }[];
    };
    expect(model.serving).toMatchObject({ version: 1, source: { kind: 'schedule' } });
    expect(model.versions.map((v) => v.sweepId)).toEqual(['sweep-0001', 'sweep-0002']);
    expect(model.history.map((e) => e.action)).toEqual(
      model.versions[1].decision === 'promoted' ? ['promote', 'promote'] : ['promote'],
    );
    const version = await send('GET', '/models/bands/versions/2');
    expect(await version.json()).toMatchObject({ version: 2, sweepId: 'sweep-0002' });
  });

  it('answers 404 for an unknown model or version, with what exists', async () => {
    expect((await send('GET', '/models/nope')).status).toBe(404);
    const missing = await send('GET', '/models/bands/versions/9');
    expect(missing.status).toBe(404);
    expect(await json(missing)).toMatchObject({
      error: { message: "model 'bands' has no version 9: its versions are v1..v2" },
    });
    const rollback = await send('POST', '/models/bands/rollback', { version: 9 });
    expect(rollback.status).toBe(404);
    expect(await json(rollback)).toMatchObject({ error: { message: /no version 9/ } });
    expect((await send('POST', '/models/nope/rollback', {})).status).toBe(404);
  });

  it('registers a completed sweep through the API and rolls back to the previous version', async () => {
    const first = await send('POST', '/models/api-model/versions', {
      sweepId: 'sweep-0001',
      serve: true,
    });
    expect(first.status).toBe(201);
    expect(first.headers.get('location')).toBe('/models/api-model/versions/1');
    expect(await json(first)).toMatchObject({
      created: true,
      version: { version: 1, source: { kind: 'api' }, decision: 'promoted' },
    });
    const again = await send('POST', '/models/api-model/versions', { sweepId: 'sweep-0001' });
    expect(again.status).toBe(200);
    await send('POST', '/models/api-model/versions', { sweepId: 'sweep-0002', serve: true });

    const res = await send('POST', '/models/api-model/rollback', { reason: 'bad in production' });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({
      event: { action: 'rollback', fromVersion: 2, toVersion: 1, reason: 'bad in production' },
      serving: { version: 1 },
    });
    expect(await json(await send('GET', '/models/api-model'))).toMatchObject({
      serving: { version: 1 },
    });
  });

  it('answers 400 for a rollback to a version that never served or serves already', async () => {
    await ws.deps.registry.register(
      modelVersionFactory({ modelName: 'api-model', sweepId: 'other', decision: 'rejected' }),
    );
    const never = await send('POST', '/models/api-model/rollback', { version: 3 });
    expect(never.status).toBe(400);
    expect(await json(never)).toMatchObject({
      error: { issues: [{ path: 'version', message: /never served .* \(v1, v2\)/ }] },
    });
    const serving = await send('POST', '/models/api-model/rollback', { version: 1 });
    expect(serving.status).toBe(400);
    expect(await json(serving)).toMatchObject({ error: { message: /serves already/ } });
    const bad = await send('POST', '/models/api-model/rollback', { version: 'two' });
    expect(bad.status).toBe(400);
  });

  it('answers 404 for registering an unknown sweep and 400 for a bad request', async () => {
    expect((await send('POST', '/models/x/versions', { sweepId: 'nope' })).status).toBe(404);
    const bad = await send('POST', '/models/x/versions', { serve: true });
    expect(bad.status).toBe(400);
    expect(await json(bad)).toMatchObject({ error: { issues: [{ path: 'sweepId' }] } });
  });
});
