import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../../../functions/api/app.js';
import { makeWorkspace } from '../../../helpers/workspace.js';

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
let app: ReturnType<typeof createApp>;
beforeEach(async () => {
  ws = await makeWorkspace();
  app = createApp(ws.deps);
});
afterEach(async () => {
  await ws.cleanup();
});

const post = (body: unknown) =>
  app.request('/sweeps', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe('HTTP API', () => {
  it('GET /health answers ok', async () => {
    const res = await app.request('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('POST /sweeps creates a sweep that GET /sweeps and GET /sweeps/:id show', async () => {
    const res = await post(ws.spec());
    expect(res.status).toBe(201);
    const created = (await res.json()) as {
      sweep: { id: string };
      trials: number;
      variants: unknown[];
    };
    expect(created.trials).toBe(9);
    expect(res.headers.get('location')).toBe(`/sweeps/${created.sweep.id}`);

    const list = (await (await app.request('/sweeps')).json()) as { sweeps: { id: string }[] };
    expect(list.sweeps.map((s) => s.id)).toEqual([created.sweep.id]);

    const one = await app.request(`/sweeps/${created.sweep.id}`);
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({
      id: created.sweep.id,
      status: 'running',
      progress: { trialsTotal: 9, pending: 9, fraction: 0 },
    });

    const board = await app.request(`/sweeps/${created.sweep.id}/leaderboard`);
    expect(board.status).toBe(200);
    const body = (await board.json()) as { rows: { foldsPending: number }[]; bestVariantId: null };
    expect(body.rows).toHaveLength(3);
    expect(body.rows.every((r) => r.foldsPending === 3)).toBe(true);
    expect(body.bestVariantId).toBeNull();
  });

  it('answers 400 with the zod issues for an invalid spec, and stores nothing', async () => {
    const res = await post({ ...ws.spec(), folds: 0, extra: true });
    expect(res.status).toBe(400);
    const body = (await res.json()) as {
      error: { code: string; issues: { path: string; message: string }[] };
    };
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(['folds', 'extra']),
    );
    expect(body.error.issues.find((i) => i.path === 'extra')?.message).toMatch(/unknown field/);
    expect(await ws.state.listSweeps()).toEqual([]);
    expect(await ws.objects.list('sweeps/')).toEqual([]);
  });

  it('answers 400 for a body that is not JSON', async () => {
    const res = await post('{not json');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { issues: [{ path: '(body)' }] } });
  });

  it('answers 400 naming a model that is not a layers model', async () => {
    const res = await post(ws.spec({ baseModel: ws.idx.imagesFile }));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { issues: { path: string; message: string }[] } };
    expect(body.error.issues[0].path).toBe('baseModel');
    expect(body.error.issues[0].message).toContain(ws.idx.imagesFile);
  });

  it('answers 404 for an unknown sweep and route, 400 for bad query values', async () => {
    expect((await app.request('/sweeps/nope')).status).toBe(404);
    expect((await app.request('/sweeps/nope/leaderboard')).status).toBe(404);
    expect((await app.request('/nothing')).status).toBe(404);
    const bad = await app.request('/sweeps?limit=0');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { issues: [{ path: 'limit' }] } });
    expect((await app.request('/sweeps?status=done')).status).toBe(400);
  });
});
