import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeRetrainWorkspace, retrainApp } from '../../../helpers/retrain-fixtures.js';

let ws: Awaited<ReturnType<typeof makeRetrainWorkspace>>;
let app: ReturnType<typeof retrainApp>;
beforeEach(async () => {
  ws = await makeRetrainWorkspace({ start: '2025-01-06T11:00:00.000Z' });
  await ws.writeData([{ n: 60, seed: 1 }]);
  app = retrainApp(ws.deps);
});
afterEach(async () => {
  await ws.cleanup();
});

const send = (method: string, path: string, body?: unknown) =>
  app.request(path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });

interface ErrorBody {
  error: { code: string; message: string; issues?: { path: string; message: string }[] };
}

/** Asserts a 400 naming `path`, and that no schedule or trigger was stored. */
async function expect400(res: Response, path: string, message: RegExp) {
  expect(res.status).toBe(400);
  const body = (await res.json()) as ErrorBody;
  expect(body.error.code).toBe('invalid_request');
  const issue = body.error.issues?.find((i) => i.path === path);
  expect(issue, JSON.stringify(body.error.issues)).toBeDefined();
  expect(issue?.message).toMatch(message);
  expect(await ws.deps.schedules.listSchedules()).toEqual([]);
  expect(await ws.scheduler.list()).toEqual([]);
}

describe('/schedules', () => {
  it('creates, lists, shows with run history, runs now and deletes a schedule', async () => {
    const created = await send('POST', '/schedules', ws.scheduleInput());
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/schedules/nightly');
    expect(await created.json()).toMatchObject({
      schedule: { id: 'nightly', cron: '0 2 * * *', timezone: 'Europe/Berlin', modelName: 'bands' },
    });
    expect((await ws.scheduler.list()).map((t) => t.scheduleId)).toEqual(['nightly']);

    const list = (await (await send('GET', '/schedules')).json()) as {
      schedules: { id: string; nextFireAt: string }[];
    };
    expect(list.schedules).toEqual([
      expect.objectContaining({ id: 'nightly', nextFireAt: '2025-01-07T01:00:00.000Z' }),
    ]);

    ws.executor.hold();
    const run = await send('POST', '/schedules/nightly/runs');
    expect(run.status).toBe(202);
    expect(await run.json()).toMatchObject({
      created: true,
      run: { status: 'running', trigger: 'manual', force: false, sweepId: 'sweep-0001' },
    });
    ws.clock.advance(60_000);
    const overlap = await send('POST', '/schedules/nightly/runs', { force: true });
    expect(await overlap.json()).toMatchObject({ run: { status: 'skipped', force: true } });

    const one = await send('GET', '/schedules/nightly?limit=10');
    expect(one.status).toBe(200);
    const shown = (await one.json()) as { schedule: { id: string }; runs: { status: string }[] };
    expect(shown.schedule.id).toBe('nightly');
    expect(shown.runs.map((r) => r.status)).toEqual(['skipped', 'running']);

    const deleted = await send('DELETE', '/schedules/nightly');
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toEqual({ deleted: 'nightly' });
    expect(await ws.scheduler.list()).toEqual([]);
    expect((await send('GET', '/schedules/nightly')).status).toBe(404);
    expect((await send('DELETE', '/schedules/nightly')).status).toBe(404);
  });

  it('answers 400 for an invalid cron expression, naming the field, and stores nothing', async () => {
    await expect400(
      await send('POST', '/schedules', ws.scheduleInput({ cron: '61 2 * * *' })),
      'cron',
      /minute/,
    );
  });

  it('answers 400 for an invalid time zone', async () => {
    await expect400(
      await send('POST', '/schedules', ws.scheduleInput({ timezone: 'Europe/Atlantis' })),
      'timezone',
      /IANA time zone/,
    );
  });

  it('answers 400 for a template that fails sweep spec validation', async () => {
    const input = ws.scheduleInput();
    await expect400(
      await send('POST', '/schedules', {
        ...input,
        template: { ...input.template, training: { epochs: 0 } },
      }),
      'template.training.epochs',
      /./,
    );
  });

  it('answers 400 for a dataset location that does not exist', async () => {
    await ws.removeData();
    await expect400(
      await send('POST', '/schedules', ws.scheduleInput()),
      'dataset.uri',
      /train-images-idx3-ubyte/,
    );
  });

  it('answers 400 for a body that is not JSON and for a bad run request', async () => {
    await expect400(await send('POST', '/schedules', '{nope'), '(body)', /not JSON/);
    await send('POST', '/schedules', ws.scheduleInput());
    const res = await send('POST', '/schedules/nightly/runs', { force: 'yes' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { issues: [{ path: 'force' }] } });
  });

  it('answers 409 for a taken id and 404 for an unknown schedule', async () => {
    await send('POST', '/schedules', ws.scheduleInput());
    const again = await send('POST', '/schedules', ws.scheduleInput());
    expect(again.status).toBe(409);
    expect(((await again.json()) as ErrorBody).error.message).toMatch(/already exists/);
    expect((await send('POST', '/schedules/nope/runs')).status).toBe(404);
  });
});
