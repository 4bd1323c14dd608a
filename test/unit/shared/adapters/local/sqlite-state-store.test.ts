import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStateStore } from '../../../../../shared/adapters/local/sqlite-state-store.js';
import {
  ConflictError,
  FoldsweepError,
  SweepAlreadyExistsError,
  ValidationError,
} from '../../../../../shared/errors.js';
import type { SweepRecord } from '../../../../../shared/schemas/state.js';
import {
  championRecordFactory,
  stateStoreContract,
  sweepRecordFactory,
  trialRecordFactory,
} from '../../../../contracts/state-store.contract.js';

stateStoreContract('SqliteStateStore (:memory:)', async () => {
  const store = new SqliteStateStore(':memory:');
  return { store, cleanup: () => store.close() };
});

stateStoreContract('SqliteStateStore (file)', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'sqlite-state-store-'));
  const store = new SqliteStateStore(path.join(dir, 'state.db'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteStateStore', () => {
  let dir: string;
  let file: string;
  const opened: SqliteStateStore[] = [];
  const open = (at = file) => {
    const store = new SqliteStateStore(at);
    opened.push(store);
    return store;
  };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sqlite-state-store-unit-'));
    file = path.join(dir, 'nested', 'deeper', 'state.db');
  });

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs raw SQL on the store's file through a separate connection. */
  const raw = (sql: string, ...params: unknown[]) => {
    const db = new Database(file);
    try {
      db.prepare(sql).run(...params);
    } finally {
      db.close();
    }
  };

  describe('constructor', () => {
    it('creates missing folders and opens the file in WAL mode with a 5 s busy timeout', async () => {
      const store = open();
      await store.createSweep(sweepRecordFactory());

      const db = new Database(file);
      try {
        expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      } finally {
        db.close();
      }
      expect(store.file).toBe(file);
    });

    it('reopens an existing file and keeps its data', async () => {
      const first = open();
      await first.createSweep(sweepRecordFactory({ id: 'kept' }));
      await first.close();

      const second = open();

      expect((await second.getSweep('kept'))?.id).toBe('kept');
    });
  });

  describe('two instances on the same file', () => {
    it("see each other's writes", async () => {
      const api = open();
      const worker = open();
      await api.createSweep(sweepRecordFactory({ id: 's', status: 'running' }));

      await worker.putTrial(
        trialRecordFactory({ sweepId: 's', trialIndex: 0, status: 'succeeded' }),
      );
      await worker.updateSweep('s', {
        status: 'aggregating',
        updatedAt: '2025-01-01T11:00:00.000Z',
      });

      expect((await api.listTrials('s')).map((t) => t.status)).toEqual(['succeeded']);
      expect((await api.getSweep('s'))?.status).toBe('aggregating');
    });

    it('keep create-once, compare-and-set and promote-once across instances', async () => {
      const a = open();
      const b = open();
      await a.createSweep(sweepRecordFactory({ id: 's', status: 'running' }));
      const patch = { status: 'aggregating' as const, updatedAt: '2025-01-01T11:00:00.000Z' };

      await expect(b.createSweep(sweepRecordFactory({ id: 's' }))).rejects.toBeInstanceOf(
        SweepAlreadyExistsError,
      );
      await a.updateSweep('s', patch, { expectStatus: ['running'] });
      await expect(b.updateSweep('s', patch, { expectStatus: ['running'] })).rejects.toBeInstanceOf(
        ConflictError,
      );
      const promotions = [
        await a.promoteChampion(championRecordFactory({ sweepId: 's', variantId: 'a' })),
        await b.promoteChampion(championRecordFactory({ sweepId: 's', variantId: 'b' })),
      ];
      expect(promotions.map((p) => [p.created, p.champion.variantId])).toEqual([
        [true, 'a'],
        [false, 'a'],
      ]);
    });
  });

  describe('updateSweep()', () => {
    it('names the sweep, the expected statuses and the actual one in a ConflictError', async () => {
      const store = open(':memory:');
      await store.createSweep(sweepRecordFactory({ id: 'sw-1', status: 'completed' }));

      const update = store.updateSweep(
        'sw-1',
        { status: 'aggregating' },
        { expectStatus: ['running', 'pending'] },
      );

      await expect(update).rejects.toThrow(
        "sweep 'sw-1' has status 'completed', expected 'running' or 'pending'",
      );
    });

    it('keeps id, createdAt and spec, and ignores undefined patch fields', async () => {
      const store = open(':memory:');
      const sweep = sweepRecordFactory({ id: 'sw-1', error: 'keep me' });
      await store.createSweep(sweep);
      const sneaky = {
        id: 'other',
        createdAt: '1999-01-01T00:00:00.000Z',
        spec: { ...sweep.spec, folds: 9 },
        error: undefined,
        trialsTotal: 12,
      } as unknown as Partial<SweepRecord>;

      const updated = await store.updateSweep('sw-1', sneaky);

      expect(updated).toEqual({ ...sweep, trialsTotal: 12 });
      expect(await store.getSweep('other')).toBeUndefined();
    });

    it('rejects a patch that makes the record invalid and changes nothing', async () => {
      const store = open(':memory:');
      const sweep = sweepRecordFactory({ id: 'sw-1' });
      await store.createSweep(sweep);

      const update = store.updateSweep('sw-1', { trialsTotal: -1 });

      await expect(update).rejects.toBeInstanceOf(ValidationError);
      await expect(update).rejects.toThrow(/trialsTotal/);
      expect(await store.getSweep('sw-1')).toEqual(sweep);
    });
  });

  describe('listSweeps()', () => {
    it('breaks createdAt ties by id, descending', async () => {
      const store = open(':memory:');
      for (const id of ['b', 'c', 'a']) {
        await store.createSweep(sweepRecordFactory({ id, createdAt: '2025-01-01T10:00:00.000Z' }));
      }

      expect((await store.listSweeps()).map((s) => s.id)).toEqual(['c', 'b', 'a']);
    });

    it('returns nothing for limit 0 and rejects a negative or fractional limit', async () => {
      const store = open(':memory:');
      await store.createSweep(sweepRecordFactory());

      expect(await store.listSweeps({ limit: 0 })).toEqual([]);
      await expect(store.listSweeps({ limit: -1 })).rejects.toBeInstanceOf(ValidationError);
      await expect(store.listSweeps({ limit: 1.5 })).rejects.toThrow(/limit/);
    });
  });

  describe('writes', () => {
    it('rejects invalid records with a ValidationError naming the field, storing nothing', async () => {
      const store = open(':memory:');
      const badSweep = { ...sweepRecordFactory(), status: 'bogus' } as unknown as SweepRecord;
      const badTrial = trialRecordFactory({ trialIndex: -1 });
      const badChampion = championRecordFactory({ objectiveMean: Number.NaN });

      await expect(store.createSweep(badSweep)).rejects.toThrow(/status/);
      await expect(store.putTrial(badTrial)).rejects.toThrow(/trialIndex/);
      await expect(store.promoteChampion(badChampion)).rejects.toBeInstanceOf(ValidationError);

      expect(await store.listSweeps()).toEqual([]);
      expect(await store.listTrials(badTrial.sweepId)).toEqual([]);
      expect(await store.getChampion(badChampion.sweepId)).toBeUndefined();
    });
  });

  describe('bad rows', () => {
    it('fails reading a sweep whose body is not JSON, naming the file and the row', async () => {
      const store = open();
      await store.createSweep(sweepRecordFactory({ id: 'broken' }));
      raw("UPDATE sweeps SET body = '{not json' WHERE id = 'broken'");

      const read = store.getSweep('broken');

      await expect(read).rejects.toBeInstanceOf(FoldsweepError);
      await expect(read).rejects.toThrow(`state store ${file}: sweeps row 'broken' is corrupt`);
      await expect(store.listSweeps()).rejects.toThrow(/not JSON/);
    });

    it('fails reading a sweep whose body breaks the schema, naming the field', async () => {
      const store = open();
      await store.createSweep(sweepRecordFactory({ id: 'broken' }));
      raw("UPDATE sweeps SET body = json_set(body, '$.trialsTotal', 'six') WHERE id = 'broken'");

      await expect(store.getSweep('broken')).rejects.toThrow(/sweeps row 'broken'.*trialsTotal/);
      await expect(
        store.updateSweep('broken', { status: 'running' }, { expectStatus: ['pending'] }),
      ).rejects.toThrow(/trialsTotal/);
    });

    it('fails reading a row whose body belongs to another key', async () => {
      const store = open();
      await store.createSweep(sweepRecordFactory({ id: 'one' }));
      raw("UPDATE sweeps SET body = json_set(body, '$.id', 'two') WHERE id = 'one'");

      await expect(store.getSweep('one')).rejects.toThrow(/sweeps row 'one'.*id 'two'/);
    });

    it('fails reading bad trial and champion rows', async () => {
      const store = open();
      await store.putTrial(trialRecordFactory({ sweepId: 's', trialIndex: 3 }));
      await store.promoteChampion(championRecordFactory({ sweepId: 's' }));
      raw("UPDATE trials SET body = json_set(body, '$.status', 'exploded')");
      raw("UPDATE champions SET body = json_remove(body, '$.modelPrefix')");

      await expect(store.listTrials('s')).rejects.toThrow(/trials row \('s', 3\).*status/);
      await expect(store.getChampion('s')).rejects.toThrow(/champions row 's'.*modelPrefix/);
    });
  });

  describe('close()', () => {
    it('can be called twice', async () => {
      const store = open(':memory:');

      await store.close();

      await expect(store.close()).resolves.toBeUndefined();
    });
  });
});
