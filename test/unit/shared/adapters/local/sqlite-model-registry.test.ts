import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteModelRegistry } from '../../../../../shared/adapters/local/sqlite-model-registry.js';
import { SqliteScheduleStore } from '../../../../../shared/adapters/local/sqlite-schedule-store.js';
import { ConflictError, ValidationError } from '../../../../../shared/errors.js';
import { modelRegistryContract } from '../../../../contracts/model-registry.contract.js';
import {
  modelVersionFactory,
  scheduleRecordFactory,
} from '../../../../helpers/retrain-fixtures.js';

modelRegistryContract('SqliteModelRegistry (:memory:)', async () => {
  const store = new SqliteModelRegistry(':memory:');
  return { store, cleanup: () => store.close() };
});

modelRegistryContract('SqliteModelRegistry (file)', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'sqlite-model-registry-'));
  const store = new SqliteModelRegistry(path.join(dir, 'state.db'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteModelRegistry', () => {
  let dir: string;
  let file: string;
  const opened: { close(): Promise<void> }[] = [];
  const open = <T extends { close(): Promise<void> }>(store: T) => {
    opened.push(store);
    return store;
  };
  const at = '2025-01-07T01:05:00.000Z';

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sqlite-model-registry-unit-'));
    file = path.join(dir, 'state.db');
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lets exactly one of two racing promotions (two processes) win', async () => {
    const a = open(new SqliteModelRegistry(file));
    const b = open(new SqliteModelRegistry(file));
    await a.register(modelVersionFactory({ sweepId: 's1' }), {
      serve: { expectServing: null, action: 'promote', reason: 'first', at },
    });
    const outcomes = await Promise.allSettled([
      a.register(modelVersionFactory({ sweepId: 's2' }), {
        serve: { expectServing: 1, action: 'promote', reason: 'a', at },
      }),
      b.register(modelVersionFactory({ sweepId: 's3' }), {
        serve: { expectServing: 1, action: 'promote', reason: 'b', at },
      }),
    ]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    const lost = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(ConflictError);
    expect(await b.listVersions('bands')).toHaveLength(2);
    expect(await b.listEvents('bands')).toHaveLength(2);
    expect((await b.getServing('bands'))?.version).toBe(2);
  });

  it('shares the file with the schedule store and rejects invalid versions', async () => {
    const schedules = open(new SqliteScheduleStore(file));
    const registry = open(new SqliteModelRegistry(file));
    await schedules.createSchedule(scheduleRecordFactory());
    await expect(
      registry.register(modelVersionFactory({ modelName: 'bad name' })),
    ).rejects.toBeInstanceOf(ValidationError);
    expect(await registry.listModels()).toEqual([]);
    expect(await schedules.listSchedules()).toHaveLength(1);
  });
});
