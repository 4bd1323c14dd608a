import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRetrainHandler } from '../../../../functions/retrain/lambda.js';
import { SqliteModelRegistry } from '../../../../shared/adapters/local/sqlite-model-registry.js';
import { SqliteScheduleStore } from '../../../../shared/adapters/local/sqlite-schedule-store.js';
import type { Scheduler } from '../../../../shared/ports/scheduler.js';
import { createSchedule, type RetrainDeps } from '../../../../shared/service/schedules.js';
import { makeWorkspace, type RecordingExecutor } from '../../../helpers/workspace.js';

let ws: Awaited<ReturnType<typeof makeWorkspace>>;

beforeEach(async () => {
  ws = await makeWorkspace({ samples: 30 });
});

afterEach(async () => {
  await ws.cleanup();
});

describe('retrain handler', () => {
  it('creates a sweep from the template in the event', async () => {
    const outcome = await createRetrainHandler(ws.deps)({
      scheduleName: 'weekly',
      template: ws.spec(),
    });

    expect(outcome).toMatchObject({ status: 'created', sweepStatus: 'running' });
    const [sweep] = await ws.state.listSweeps();
    expect(outcome).toMatchObject({ sweepId: sweep.id });
    expect((ws.executor as RecordingExecutor).submitted.map((p) => p.sweepId)).toEqual([sweep.id]);
    expect(ws.logs).toContainEqual(
      expect.objectContaining({
        msg: 'retraining sweep created',
        obj: expect.objectContaining({ schedule: 'weekly' }),
      }),
    );
  });

  it('rejects a bad template with its field issues, storing nothing and not throwing', async () => {
    const outcome = await createRetrainHandler(ws.deps)({ template: ws.spec({ folds: 1 }) });

    expect(outcome).toMatchObject({
      status: 'invalid',
      issues: [expect.objectContaining({ path: 'folds' })],
    });
    expect(await ws.state.listSweeps()).toEqual([]);
  });

  it('answers a malformed event without throwing', async () => {
    const outcome = await createRetrainHandler(ws.deps)({ something: 'else' });

    expect(outcome.status).toBe('invalid');
    expect(ws.logs).toContainEqual(expect.objectContaining({ level: 'error' }));
  });

  it('fails loudly on a schedule event when no schedule store is wired', async () => {
    await expect(
      createRetrainHandler(ws.deps)({
        scheduleId: 'nightly',
        scheduledTime: '2025-01-02T01:00:00Z',
      }),
    ).rejects.toThrow(/no schedule store/);
  });

  describe('with schedules', () => {
    let deps: RetrainDeps;

    beforeEach(() => {
      const scheduler: Scheduler = {
        put: async () => {},
        delete: async () => {},
        list: async () => [],
      };
      deps = {
        ...ws.deps,
        schedules: new SqliteScheduleStore(join(ws.home, 'schedules.db')),
        registry: new SqliteModelRegistry(join(ws.home, 'registry.db')),
        scheduler,
      };
    });

    afterEach(async () => {
      await deps.schedules.close?.();
    });

    it('runs the schedule named by the EventBridge Scheduler event, once per slot', async () => {
      const { dataset, ...template } = ws.spec({ holdoutFraction: 0.2 });
      await createSchedule(deps, { id: 'nightly', cron: '0 2 * * *', dataset, template });
      const handler = createRetrainHandler(deps);
      const event = { scheduleId: 'nightly', scheduledTime: '2025-01-02T02:00:00Z' };

      const first = await handler(event);
      const again = await handler(event);

      expect(first).toMatchObject({ status: 'scheduled-run', runStatus: 'running', created: true });
      expect(again).toMatchObject({ status: 'scheduled-run', created: false });
      expect((ws.executor as RecordingExecutor).submitted).toHaveLength(1);
    });

    it('ignores an event for a schedule that no longer exists', async () => {
      const outcome = await createRetrainHandler(deps)({
        scheduleId: 'gone',
        scheduledTime: '2025-01-02T02:00:00Z',
      });

      expect(outcome).toMatchObject({ status: 'invalid' });
    });
  });
});
