import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteScheduleStore } from '../../../../../shared/adapters/local/sqlite-schedule-store.js';
import { SqliteStateStore } from '../../../../../shared/adapters/local/sqlite-state-store.js';
import { FoldsweepError, ValidationError } from '../../../../../shared/errors.js';
import { scheduleStoreContract } from '../../../../contracts/schedule-store.contract.js';
import { scheduleRecordFactory, scheduleRunFactory } from '../../../../helpers/retrain-fixtures.js';

scheduleStoreContract('SqliteScheduleStore (:memory:)', async () => {
  const store = new SqliteScheduleStore(':memory:');
  return { store, cleanup: () => store.close() };
});

scheduleStoreContract('SqliteScheduleStore (file)', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'sqlite-schedule-store-'));
  const store = new SqliteScheduleStore(path.join(dir, 'state.db'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteScheduleStore', () => {
  let dir: string;
  let file: string;
  const opened: { close(): Promise<void> }[] = [];
  const open = <T extends { close(): Promise<void> }>(store: T) => {
    opened.push(store);
    return store;
  };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sqlite-schedule-store-unit-'));
    file = path.join(dir, 'nested', 'state.db');
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('shares one file with the state store, in tables of its own', async () => {
    const state = open(new SqliteStateStore(file));
    const schedules = open(new SqliteScheduleStore(file));
    await schedules.createSchedule(scheduleRecordFactory());
    expect(await state.listSweeps()).toEqual([]);
    const db = new Database(file, { readonly: true });
    const tables = db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
      .all()
      .map((t) => t.name);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    expect(tables).toEqual(expect.arrayContaining(['sweeps', 'schedules', 'schedule_runs']));
  });

  it('keeps one running run per schedule across two connections (two processes)', async () => {
    const a = open(new SqliteScheduleStore(file));
    const b = open(new SqliteScheduleStore(file));
    await a.createSchedule(scheduleRecordFactory());
    const [first, second] = await Promise.all([
      a.createRun(scheduleRunFactory({ firedAt: '2025-01-07T01:00:00.000Z' })),
      b.createRun(scheduleRunFactory({ firedAt: '2025-01-07T01:00:30.000Z' })),
    ]);
    expect([first.created, second.created].sort()).toEqual([false, true]);
    const loser = first.created ? second : first;
    expect(loser).toMatchObject({ created: false, reason: 'overlap' });
    expect((await b.listRuns('nightly')).filter((r) => r.status === 'running')).toHaveLength(1);
  });

  it('validates what it stores and says which row is corrupt', async () => {
    const store = open(new SqliteScheduleStore(file));
    await expect(
      store.createSchedule(scheduleRecordFactory({ id: 'no spaces allowed' })),
    ).rejects.toBeInstanceOf(ValidationError);
    await expect(store.listRuns('nightly', { limit: -1 })).rejects.toBeInstanceOf(ValidationError);
    await store.createSchedule(scheduleRecordFactory());
    const db = new Database(file);
    db.prepare("UPDATE schedules SET body = '{\"id\":1}' WHERE id = 'nightly'").run();
    db.close();
    const error = await store.getSchedule('nightly').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FoldsweepError);
    expect((error as Error).message).toMatch(/schedules row 'nightly' is corrupt/);
  });
});
