import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  CronScheduler,
  type ScheduleFire,
} from '../../../../../shared/adapters/local/cron-scheduler.js';
import { recordingLogger } from '../../../../helpers/images.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

let fires: ScheduleFire[];
let scheduler: CronScheduler;
const make = (options: { missedRuns?: 'run-once' | 'skip' } = {}) =>
  new CronScheduler({
    onFire: async (fire) => {
      fires.push(fire);
    },
    logger: recordingLogger().logger,
    ...options,
  });
const fired = () => fires.map((f) => [f.scheduleId, f.firedAt.toISOString(), f.trigger]);

beforeEach(() => {
  // Monday 6 January 2025, 12:00 in Berlin (11:00Z).
  vi.useFakeTimers({ now: new Date('2025-01-06T11:00:00.000Z') });
  fires = [];
  scheduler = make();
});
afterEach(async () => {
  await scheduler.stop();
  vi.useRealTimers();
});

describe('CronScheduler', () => {
  it('fires each trigger at its cron time in its time zone, with the slot as firedAt', async () => {
    await scheduler.put({ scheduleId: 'berlin', cron: '0 2 * * *', timezone: 'Europe/Berlin' });
    await scheduler.put({ scheduleId: 'ny', cron: '0 2 * * *', timezone: 'America/New_York' });
    scheduler.start();
    await vi.advanceTimersByTimeAsync(14 * HOUR + MINUTE); // 01:01Z = 02:01 Berlin
    await scheduler.idle();
    expect(fired()).toEqual([['berlin', '2025-01-07T01:00:00.000Z', 'cron']]);
    await vi.advanceTimersByTimeAsync(6 * HOUR); // 07:01Z = 02:01 New York
    await scheduler.idle();
    expect(fired()).toEqual([
      ['berlin', '2025-01-07T01:00:00.000Z', 'cron'],
      ['ny', '2025-01-07T07:00:00.000Z', 'cron'],
    ]);
    expect(scheduler.nextFireAt('berlin')?.toISOString()).toBe('2025-01-08T01:00:00.000Z');
  });

  it('holds triggers without firing until started, and stops firing a deleted one', async () => {
    await scheduler.put({ scheduleId: 'a', cron: '*/10 * * * *', timezone: 'UTC' });
    await scheduler.put({ scheduleId: 'b', cron: '*/10 * * * *', timezone: 'UTC' });
    expect((await scheduler.list()).map((t) => t.scheduleId)).toEqual(['a', 'b']);
    await vi.advanceTimersByTimeAsync(HOUR);
    expect(fires).toEqual([]);
    scheduler.start();
    await scheduler.delete('b');
    await vi.advanceTimersByTimeAsync(10 * MINUTE);
    await scheduler.idle();
    expect(fired()).toEqual([['a', '2025-01-06T12:10:00.000Z', 'cron']]);
    expect((await scheduler.list()).map((t) => t.scheduleId)).toEqual(['a']);
  });

  it('replaces a trigger on put: the new cron applies, the old one no longer fires', async () => {
    scheduler.start();
    await scheduler.put({ scheduleId: 'a', cron: '0 13 * * *', timezone: 'UTC' });
    await scheduler.put({ scheduleId: 'a', cron: '30 12 * * *', timezone: 'UTC' });
    await vi.advanceTimersByTimeAsync(3 * HOUR);
    await scheduler.idle();
    expect(fired()).toEqual([['a', '2025-01-06T12:30:00.000Z', 'cron']]);
  });

  it('runs a missed slot once on start (the server was down at 02:00 for three nights)', async () => {
    await scheduler.put({
      scheduleId: 'nightly',
      cron: '0 2 * * *',
      timezone: 'Europe/Berlin',
      since: '2025-01-03T01:00:00.000Z', // the last run it made
    });
    scheduler.start();
    await scheduler.idle();
    // One catch-up, for the latest missed slot (Monday 02:00), not one per missed night.
    expect(fired()).toEqual([['nightly', '2025-01-06T01:00:00.000Z', 'catch-up']]);
    // Then on schedule again; re-arming the same trigger does not catch up twice.
    await scheduler.stop();
    scheduler.start();
    await vi.advanceTimersByTimeAsync(15 * HOUR);
    await scheduler.idle();
    expect(fired()).toEqual([
      ['nightly', '2025-01-06T01:00:00.000Z', 'catch-up'],
      ['nightly', '2025-01-07T01:00:00.000Z', 'cron'],
    ]);
  });

  it('catches up nothing when no slot was missed, or when the policy is skip', async () => {
    await scheduler.put({
      scheduleId: 'fresh',
      cron: '0 2 * * *',
      timezone: 'Europe/Berlin',
      since: '2025-01-06T10:00:00.000Z', // created after today's 02:00
    });
    scheduler.start();
    await scheduler.idle();
    expect(fires).toEqual([]);

    const skipping = make({ missedRuns: 'skip' });
    await skipping.put({
      scheduleId: 'nightly',
      cron: '0 2 * * *',
      timezone: 'Europe/Berlin',
      since: '2025-01-01T00:00:00.000Z',
    });
    skipping.start();
    await skipping.idle();
    expect(fires).toEqual([]);
    await skipping.stop();
  });

  it('logs a failing fire and keeps firing', async () => {
    const { logger, records } = recordingLogger();
    let calls = 0;
    const failing = new CronScheduler({
      onFire: async () => {
        calls++;
        throw new Error('state store is locked');
      },
      logger,
    });
    await failing.put({ scheduleId: 'a', cron: '* * * * *', timezone: 'UTC' });
    failing.start();
    await vi.advanceTimersByTimeAsync(2 * MINUTE);
    await failing.idle();
    expect(calls).toBe(2);
    expect(records.filter((r) => r.level === 'error')).toHaveLength(2);
    expect(records[0].obj).toMatchObject({ scheduleId: 'a' });
    await failing.stop();
  });
});
