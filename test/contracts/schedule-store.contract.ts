import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '../../shared/errors.js';
import type { ScheduleStore } from '../../shared/ports/schedule-store.js';
import {
  frozenHoldoutFactory,
  scheduleRecordFactory,
  scheduleRunFactory,
} from '../helpers/retrain-fixtures.js';
import { allPages } from './state-store.contract.js';

export interface StoreFixture<S> {
  store: S;
  cleanup(): Promise<void>;
}

/**
 * The ScheduleStore contract: every adapter (SQLite here, DynamoDB later) runs the same suite.
 * @example
 * scheduleStoreContract('SqliteScheduleStore', async () => { ... return { store, cleanup } });
 */
export function scheduleStoreContract(
  name: string,
  make: () => Promise<StoreFixture<ScheduleStore>>,
) {
  describe(`${name} (ScheduleStore contract)`, () => {
    let fixture: StoreFixture<ScheduleStore>;
    let store: ScheduleStore;
    beforeEach(async () => {
      fixture = await make();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    it('creates a schedule once and lists schedules by id', async () => {
      await store.createSchedule(scheduleRecordFactory({ id: 'b' }));
      await store.createSchedule(scheduleRecordFactory({ id: 'a' }));
      await expect(
        store.createSchedule(scheduleRecordFactory({ id: 'a', cron: '0 3 * * *' })),
      ).rejects.toBeInstanceOf(ConflictError);
      expect((await store.getSchedule('a'))?.cron).toBe('0 2 * * *');
      expect((await store.listSchedules()).map((s) => s.id)).toEqual(['a', 'b']);
      expect(await store.getSchedule('nope')).toBeUndefined();
    });

    it('pages schedules by id, with next only while schedules follow', async () => {
      for (const id of ['e', 'b', 'd', 'a', 'c']) {
        await store.createSchedule(scheduleRecordFactory({ id }));
      }
      const pages = await allPages((cursor) => store.pageSchedules({ limit: 2, cursor }));
      expect(pages.map((p) => p.map((s) => s.id))).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
      expect((await store.pageSchedules({ limit: 5 })).next).toBeUndefined();
      expect(await store.pageSchedules({ limit: 5 })).toEqual({
        items: await store.listSchedules(),
      });
      await expect(store.pageSchedules({ limit: 0 })).rejects.toBeInstanceOf(ValidationError);
      await expect(store.pageSchedules({ limit: 2, cursor: 'x' })).rejects.toThrow(/^cursor: /);
    });

    it('freezes the holdout once', async () => {
      await store.createSchedule(scheduleRecordFactory());
      const first = frozenHoldoutFactory();
      expect(await store.setFrozenHoldout('nightly', first)).toEqual({
        created: true,
        holdout: first,
      });
      const second = frozenHoldoutFactory({ count: 99 });
      expect(await store.setFrozenHoldout('nightly', second)).toEqual({
        created: false,
        holdout: first,
      });
      expect((await store.getSchedule('nightly'))?.holdout).toEqual(first);
      await expect(store.setFrozenHoldout('nope', first)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('creates a run once per slot and keeps one running run per schedule', async () => {
      await store.createSchedule(scheduleRecordFactory());
      const run = scheduleRunFactory();
      expect(await store.createRun(run)).toEqual({ created: true, run });
      expect(await store.createRun({ ...run, force: true })).toEqual({
        created: false,
        reason: 'duplicate',
        run,
      });
      const later = scheduleRunFactory({ firedAt: '2025-01-08T01:00:00.000Z' });
      expect(await store.createRun(later)).toEqual({ created: false, reason: 'overlap', run });
      // A non-running record (a skip) for the same later slot is fine.
      const skipped = { ...later, status: 'skipped' as const, reason: 'overlap' };
      expect(await store.createRun(skipped)).toMatchObject({ created: true });
      // Another schedule is independent.
      expect(await store.createRun({ ...later, scheduleId: 'other' })).toMatchObject({
        created: true,
      });
    });

    it('updates runs with compare-and-set and frees the schedule when a run ends', async () => {
      await store.createSchedule(scheduleRecordFactory());
      const run = scheduleRunFactory();
      await store.createRun(run);
      const linked = await store.updateRun(
        'nightly',
        run.firedAt,
        { sweepId: 'sweep-1', dataset: { hash: 'd'.repeat(64), count: 60 } },
        { expectStatus: ['running'] },
      );
      expect(linked).toMatchObject({ status: 'running', sweepId: 'sweep-1' });
      expect(await store.findRunBySweep('sweep-1')).toEqual(linked);
      const done = await store.updateRun(
        'nightly',
        run.firedAt,
        { status: 'promoted', modelVersion: 1, finishedAt: '2025-01-07T01:10:00.000Z' },
        { expectStatus: ['running'] },
      );
      expect(done).toMatchObject({ status: 'promoted', sweepId: 'sweep-1', modelVersion: 1 });
      await expect(
        store.updateRun(
          'nightly',
          run.firedAt,
          { status: 'failed' },
          { expectStatus: ['running'] },
        ),
      ).rejects.toBeInstanceOf(ConflictError);
      expect((await store.getRun('nightly', run.firedAt))?.status).toBe('promoted');
      await expect(
        store.updateRun('nightly', '2030-01-01T00:00:00.000Z', { status: 'failed' }),
      ).rejects.toBeInstanceOf(NotFoundError);
      // The schedule is free again: the next slot may run.
      const next = scheduleRunFactory({ firedAt: '2025-01-08T01:00:00.000Z' });
      expect(await store.createRun(next)).toMatchObject({ created: true });
    });

    it('lists runs newest first, with a limit, and deletes them with the schedule', async () => {
      await store.createSchedule(scheduleRecordFactory());
      for (const day of ['07', '09', '08']) {
        await store.createRun(
          scheduleRunFactory({ firedAt: `2025-01-${day}T01:00:00.000Z`, status: 'skipped' }),
        );
      }
      const runs = await store.listRuns('nightly');
      expect(runs.map((r) => r.firedAt.slice(8, 10))).toEqual(['09', '08', '07']);
      expect(await store.listRuns('nightly', { limit: 1 })).toEqual([runs[0]]);
      expect(await store.deleteSchedule('nightly')).toBe(true);
      expect(await store.listRuns('nightly')).toEqual([]);
      expect(await store.getSchedule('nightly')).toBeUndefined();
      expect(await store.deleteSchedule('nightly')).toBe(false);
    });
  });
}
