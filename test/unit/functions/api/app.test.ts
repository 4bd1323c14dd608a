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

/** Polls GET /sweeps/:id until the sweep reaches `status` (preparation runs in the background). */
async function waitForStatus(id: string, status: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 200; i++) {
    const body = (await (await app.request(`/sweeps/${id}`)).json()) as Record<string, unknown>;
    if (body.status === status) return body;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`sweep ${id} never reached ${status}`);
}

describe('HTTP API', () => {
  it('GET /health answers ok', async () => {
    const res = await app.request('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('POST /sweeps answers 202 with the pending sweep; GET /sweeps/:id shows it prepared', async () => {
    const res = await post(ws.spec());
    expect(res.status).toBe(202);
    const created = (await res.json()) as { sweep: { id: string; status: string } };
    expect(created.sweep.status).toBe('pending');
    expect(res.headers.get('location')).toBe(`/sweeps/${created.sweep.id}`);

    const list = (await (await app.request('/sweeps')).json()) as { sweeps: { id: string }[] };
    expect(list.sweeps.map((s) => s.id)).toEqual([created.sweep.id]);

    const one = await waitForStatus(created.sweep.id, 'running');
    expect(one).toMatchObject({
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

  it('answers before any data preparation: the preparation step runs after the 202', async () => {
    const started: string[] = [];
    const held = createApp({
      ...ws.deps,
      preparation: { start: async (id) => void started.push(id) },
    });

    const res = await held.request('/sweeps', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ws.spec()),
    });

    expect(res.status).toBe(202);
    const { sweep } = (await res.json()) as { sweep: { id: string } };
    expect(started).toEqual([sweep.id]);
    expect(await ws.objects.list('datasets/')).toEqual([]);
    expect(await ws.objects.list('models/')).toEqual([]);
    expect((await ws.state.getSweep(sweep.id))?.status).toBe('pending');
  });

  it('POST /sweeps/:id/cancel cancels a running sweep; a second cancel is a 409', async () => {
    const { sweep } = (await (await post(ws.spec())).json()) as { sweep: { id: string } };
    await waitForStatus(sweep.id, 'running');

    const res = await app.request(`/sweeps/${sweep.id}/cancel`, { method: 'POST' });
    const again = await app.request(`/sweeps/${sweep.id}/cancel`, { method: 'POST' });

    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ sweep: { id: sweep.id, status: 'cancelled' } });
    expect(again.status).toBe(409);
    expect((await app.request('/sweeps/nope/cancel', { method: 'POST' })).status).toBe(404);
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

  it('fails the sweep while preparing, naming a model that is not a layers model', async () => {
    const res = await post(ws.spec({ baseModel: ws.idx.imagesFile }));
    expect(res.status).toBe(202);
    const { sweep } = (await res.json()) as { sweep: { id: string } };

    const failed = (await waitForStatus(sweep.id, 'failed')) as {
      issues: { path: string; message: string }[];
      error: string;
    };

    expect(failed.issues[0].path).toBe('baseModel');
    expect(failed.issues[0].message).toContain(ws.idx.imagesFile);
    expect(failed.error).toMatch(/^preparing the sweep failed: baseModel: /);
    expect(await ws.state.listTrials(sweep.id)).toEqual([]);
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
