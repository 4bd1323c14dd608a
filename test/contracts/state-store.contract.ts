import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConflictError,
  NotFoundError,
  SweepAlreadyExistsError,
  ValidationError,
} from '../../shared/errors.js';
import type { Page } from '../../shared/ports/paging.js';
import type { StateStore } from '../../shared/ports/state-store.js';
import type { ChampionRecord, SweepRecord, TrialRecord } from '../../shared/schemas/state.js';
import { SweepSpecSchema } from '../../shared/schemas/sweep-spec.js';

export interface StateStoreFixture {
  store: StateStore;
  cleanup(): Promise<void>;
}

/** A complete, valid SweepRecord; `overrides` replace whole fields. */
export function sweepRecordFactory(overrides: Partial<SweepRecord> = {}): SweepRecord {
  return {
    id: '01JSWEEP0000000000000000001',
    name: 'fashion-5-9',
    status: 'pending',
    spec: SweepSpecSchema.parse({
      baseModel: 'm/model.json',
      dataset: { uri: '/d', format: 'idx' },
    }),
    createdAt: '2025-01-01T10:00:00.000Z',
    updatedAt: '2025-01-01T10:00:00.000Z',
    trialsTotal: 6,
    ...overrides,
  };
}

/** A complete, valid TrialRecord; `overrides` replace whole fields. */
export function trialRecordFactory(overrides: Partial<TrialRecord> = {}): TrialRecord {
  return {
    sweepId: '01JSWEEP0000000000000000001',
    trialIndex: 0,
    variantId: 'a1b2c3d4',
    fold: 0,
    status: 'pending',
    attempt: 0,
    objective: null,
    updatedAt: '2025-01-01T10:00:00.000Z',
    ...overrides,
  };
}

/** A complete, valid ChampionRecord; `overrides` replace whole fields. */
export function championRecordFactory(overrides: Partial<ChampionRecord> = {}): ChampionRecord {
  return {
    sweepId: '01JSWEEP0000000000000000001',
    variantId: 'a1b2c3d4',
    trialIndex: 4,
    modelPrefix: 'sweeps/01JSWEEP0000000000000000001/champion/model',
    objectiveMean: 0.91,
    holdoutAccuracy: 0.9,
    promotedAt: '2025-01-01T11:00:00.000Z',
    ...overrides,
  };
}

/**
 * The behaviour every StateStore adapter promises (see shared/ports/state-store.ts).
 * `make` must return an empty store; `cleanup` closes and removes it.
 * @example
 * stateStoreContract('SqliteStateStore', async () => {
 *   const store = new SqliteStateStore(':memory:');
 *   return { store, cleanup: () => store.close() };
 * });
 */
/**
 * Every page of a listing, following `next` until it is absent; `pageOf(cursor)` fetches one.
 * Fails on a cursor that repeats (a listing that would never end).
 */
export async function allPages<T>(
  pageOf: (cursor: string | undefined) => Promise<Page<T>>,
): Promise<T[][]> {
  const pages: T[][] = [];
  const seen = new Set<string>();
  let cursor: string | undefined;
  do {
    const page = await pageOf(cursor);
    pages.push(page.items);
    cursor = page.next;
    if (cursor !== undefined) {
      expect(seen.has(cursor), `cursor ${cursor} came twice`).toBe(false);
      seen.add(cursor);
    }
  } while (cursor !== undefined);
  return pages;
}

export function stateStoreContract(
  name: string,
  make: () => Promise<StateStoreFixture>,
  options: { bulkSweeps?: number } = {},
): void {
  const bulkSweeps = options.bulkSweeps ?? 2500;
  describe(`StateStore contract: ${name}`, () => {
    let store: StateStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await make());
    });

    afterEach(async () => {
      await cleanup();
    });

    describe('createSweep() and getSweep()', () => {
      it('stores a sweep that getSweep returns unchanged', async () => {
        // Prepare
        const sweep = sweepRecordFactory({
          planKey: 'sweeps/s/plan.json',
          datasetHash: 'ab'.repeat(32),
        });

        // Act
        await store.createSweep(sweep);

        // Assess
        expect(await store.getSweep(sweep.id)).toEqual(sweep);
      });

      it('returns undefined for a missing sweep', async () => {
        await store.createSweep(sweepRecordFactory({ id: 'present' }));

        expect(await store.getSweep('missing')).toBeUndefined();
      });

      it('is create-once: a second create throws SweepAlreadyExistsError and changes nothing', async () => {
        const first = sweepRecordFactory({ id: 'dup', status: 'running', trialsTotal: 6 });
        await store.createSweep(first);

        const second = store.createSweep(
          sweepRecordFactory({ id: 'dup', status: 'pending', trialsTotal: 99, name: 'other' }),
        );

        await expect(second).rejects.toBeInstanceOf(SweepAlreadyExistsError);
        await expect(second).rejects.toMatchObject({ sweepId: 'dup' });
        expect(await store.getSweep('dup')).toEqual(first);
      });
    });

    describe('updateSweep()', () => {
      it('applies the patch, keeps the other fields and returns the stored record', async () => {
        const sweep = sweepRecordFactory({ status: 'pending' });
        await store.createSweep(sweep);

        const updated = await store.updateSweep(sweep.id, {
          status: 'running',
          planKey: 'sweeps/s/plan.json',
          updatedAt: '2025-01-01T10:05:00.000Z',
        });

        const expected = {
          ...sweep,
          status: 'running',
          planKey: 'sweeps/s/plan.json',
          updatedAt: '2025-01-01T10:05:00.000Z',
        };
        expect(updated).toEqual(expected);
        expect(await store.getSweep(sweep.id)).toEqual(expected);
      });

      it('keeps updatedAt as the caller gave it', async () => {
        const sweep = sweepRecordFactory();
        await store.createSweep(sweep);

        await store.updateSweep(sweep.id, { updatedAt: '2030-06-01T00:00:00.000Z' });

        expect((await store.getSweep(sweep.id))?.updatedAt).toBe('2030-06-01T00:00:00.000Z');
      });

      it('applies the patch when the stored status is one of expectStatus', async () => {
        const sweep = sweepRecordFactory({ status: 'running' });
        await store.createSweep(sweep);

        const updated = await store.updateSweep(
          sweep.id,
          { status: 'aggregating', updatedAt: '2025-01-01T10:05:00.000Z' },
          { expectStatus: ['pending', 'running'] },
        );

        expect(updated.status).toBe('aggregating');
        expect((await store.getSweep(sweep.id))?.status).toBe('aggregating');
      });

      it('throws ConflictError and changes nothing when the status is not expected', async () => {
        const sweep = sweepRecordFactory({ status: 'completed' });
        await store.createSweep(sweep);

        const update = store.updateSweep(
          sweep.id,
          { status: 'aggregating', error: 'late', updatedAt: '2025-01-02T00:00:00.000Z' },
          { expectStatus: ['running'] },
        );

        await expect(update).rejects.toBeInstanceOf(ConflictError);
        expect(await store.getSweep(sweep.id)).toEqual(sweep);
      });

      it('lets exactly one of two concurrent compare-and-set updates win', async () => {
        const sweep = sweepRecordFactory({ status: 'running' });
        await store.createSweep(sweep);
        const aggregate = (by: string) =>
          store.updateSweep(
            sweep.id,
            { status: 'aggregating', error: by, updatedAt: '2025-01-01T10:05:00.000Z' },
            { expectStatus: ['running'] },
          );

        const results = await Promise.allSettled([aggregate('first'), aggregate('second')]);

        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r) => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(1);
        expect((lost[0] as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
        const winner = (won[0] as PromiseFulfilledResult<SweepRecord>).value;
        expect(await store.getSweep(sweep.id)).toEqual(winner);
      });

      it('throws NotFoundError for a missing sweep, with or without expectStatus', async () => {
        const patch = { status: 'running' as const, updatedAt: '2025-01-01T10:05:00.000Z' };

        await expect(store.updateSweep('missing', patch)).rejects.toBeInstanceOf(NotFoundError);
        await expect(
          store.updateSweep('missing', patch, { expectStatus: ['pending'] }),
        ).rejects.toMatchObject({ kind: 'sweep', id: 'missing' });
        expect(await store.getSweep('missing')).toBeUndefined();
      });
    });

    describe('updateSweep() with expectLease', () => {
      const lease = (owner: string, leaseUntil: string) => ({ id: owner, leaseUntil });
      const at = '2025-01-01T10:00:00.000Z';

      it('lets a writer take a sweep that has no owner', async () => {
        await store.createSweep(sweepRecordFactory());

        const taken = await store.updateSweep(
          sweepRecordFactory().id,
          { status: 'preparing', owner: lease('a', '2025-01-01T10:00:30.000Z') },
          { expectStatus: ['pending'], expectLease: { owner: 'a', now: at } },
        );

        expect(taken.owner).toEqual(lease('a', '2025-01-01T10:00:30.000Z'));
      });

      it('refuses another writer while the lease is alive and changes nothing', async () => {
        const sweep = sweepRecordFactory({ owner: lease('a', '2025-01-01T10:00:30.000Z') });
        await store.createSweep(sweep);

        await expect(
          store.updateSweep(
            sweep.id,
            { status: 'running', owner: lease('b', '2025-01-01T10:01:00.000Z') },
            { expectLease: { owner: 'b', now: at } },
          ),
        ).rejects.toThrow(ConflictError);
        await expect(
          store.updateSweep(
            sweep.id,
            { status: 'running' },
            { expectLease: { owner: 'b', now: at } },
          ),
        ).rejects.toThrow(/driven by a/);

        expect(await store.getSweep(sweep.id)).toEqual(sweep);
      });

      it('lets the owner renew, and anyone take over once the lease ended', async () => {
        const sweep = sweepRecordFactory({ owner: lease('a', '2025-01-01T10:00:30.000Z') });
        await store.createSweep(sweep);

        const renewed = await store.updateSweep(
          sweep.id,
          { owner: lease('a', '2025-01-01T10:01:00.000Z') },
          { expectLease: { owner: 'a', now: at } },
        );
        const taken = await store.updateSweep(
          sweep.id,
          { owner: lease('b', '2025-01-01T10:03:00.000Z') },
          { expectLease: { owner: 'b', now: '2025-01-01T10:01:00.001Z' } },
        );

        expect(renewed.owner?.id).toBe('a');
        expect(taken.owner?.id).toBe('b');
      });

      it('treats a released owner (null) as no owner', async () => {
        const sweep = sweepRecordFactory({ owner: null });
        await store.createSweep(sweep);

        const taken = await store.updateSweep(
          sweep.id,
          { owner: lease('b', '2025-01-01T10:03:00.000Z') },
          { expectLease: { owner: 'b', now: at } },
        );

        expect(taken.owner?.id).toBe('b');
      });

      it('lets exactly one of two processes take an expired sweep at once', async () => {
        const sweep = sweepRecordFactory({
          status: 'running',
          owner: lease('dead', '2025-01-01T09:00:00.000Z'),
        });
        await store.createSweep(sweep);
        const take = (owner: string) =>
          store.updateSweep(
            sweep.id,
            { owner: lease(owner, '2025-01-01T10:05:00.000Z') },
            { expectLease: { owner, now: at } },
          );

        const results = await Promise.allSettled([take('x'), take('y')]);

        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const stored = await store.getSweep(sweep.id);
        expect(['x', 'y']).toContain(stored?.owner?.id);
      });
    });

    describe('listSweeps()', () => {
      const at = (minute: number) => `2025-01-01T10:${String(minute).padStart(2, '0')}:00.000Z`;
      const seed = async () => {
        const sweeps = [
          sweepRecordFactory({ id: 's2', status: 'running', createdAt: at(2) }),
          sweepRecordFactory({ id: 's4', status: 'completed', createdAt: at(4) }),
          sweepRecordFactory({ id: 's1', status: 'completed', createdAt: at(1) }),
          sweepRecordFactory({ id: 's3', status: 'running', createdAt: at(3) }),
          sweepRecordFactory({ id: 's5', status: 'failed', createdAt: at(5) }),
        ];
        for (const sweep of sweeps) await store.createSweep(sweep);
      };
      const ids = (sweeps: SweepRecord[]) => sweeps.map((s) => s.id);

      it('returns an empty list for an empty store', async () => {
        expect(await store.listSweeps()).toEqual([]);
      });

      it('returns every sweep, newest first', async () => {
        await seed();

        const sweeps = await store.listSweeps();

        expect(ids(sweeps)).toEqual(['s5', 's4', 's3', 's2', 's1']);
        expect(sweeps[0]).toEqual(await store.getSweep('s5'));
      });

      it('returns only the newest `limit` sweeps', async () => {
        await seed();

        expect(ids(await store.listSweeps({ limit: 2 }))).toEqual(['s5', 's4']);
        expect(ids(await store.listSweeps({ limit: 10 }))).toEqual(['s5', 's4', 's3', 's2', 's1']);
      });

      it('filters by status, newest first, and applies limit after the filter', async () => {
        await seed();

        expect(ids(await store.listSweeps({ status: 'running' }))).toEqual(['s3', 's2']);
        expect(ids(await store.listSweeps({ status: 'completed', limit: 1 }))).toEqual(['s4']);
        expect(await store.listSweeps({ status: 'cancelled' })).toEqual([]);
      });

      it('filters by the status after an update', async () => {
        await seed();

        await store.updateSweep('s1', { status: 'cancelled', updatedAt: at(9) });

        expect(ids(await store.listSweeps({ status: 'cancelled' }))).toEqual(['s1']);
        expect(ids(await store.listSweeps({ status: 'completed' }))).toEqual(['s4']);
      });
    });

    describe('pageSweeps()', () => {
      const at = (minute: number) => `2025-01-01T10:${String(minute).padStart(2, '0')}:00.000Z`;
      const ids = (sweeps: SweepRecord[]) => sweeps.map((s) => s.id);
      const seed = async () => {
        for (const [id, status, minute] of [
          ['s2', 'running', 2],
          ['s4', 'completed', 4],
          ['s1', 'completed', 1],
          ['s3', 'running', 3],
          ['s5', 'failed', 5],
          ['s6', 'completed', 6],
        ] as const) {
          await store.createSweep(sweepRecordFactory({ id, status, createdAt: at(minute) }));
        }
      };

      it('pages newest first, with next only while sweeps follow', async () => {
        await seed();

        const pages = await allPages((cursor) => store.pageSweeps({ limit: 4, cursor }));

        expect(pages.map(ids)).toEqual([
          ['s6', 's5', 's4', 's3'],
          ['s2', 's1'],
        ]);
        expect((await store.pageSweeps({ limit: 6 })).next).toBeUndefined();
        expect((await store.pageSweeps({ limit: 1 })).items[0]).toEqual(await store.getSweep('s6'));
        expect(await store.pageSweeps({ limit: 10 })).toEqual({
          items: await store.listSweeps(),
        });
      });

      it('pages one status, and refuses a cursor of another filter', async () => {
        await seed();

        const pages = await allPages((cursor) =>
          store.pageSweeps({ limit: 2, status: 'completed', cursor }),
        );
        expect(pages.map(ids)).toEqual([['s6', 's4'], ['s1']]);

        const first = await store.pageSweeps({ limit: 1, status: 'running' });
        await expect(store.pageSweeps({ limit: 1, cursor: first.next })).rejects.toThrow(
          /cursor: this cursor pages sweeps of status running/,
        );
      });

      it('breaks ties of createdAt by id, so no sweep is skipped or repeated', async () => {
        for (const id of ['t3', 't1', 't4', 't2', 't5']) {
          await store.createSweep(sweepRecordFactory({ id, createdAt: at(7) }));
        }

        const pages = await allPages((cursor) => store.pageSweeps({ limit: 2, cursor }));

        expect(pages.map(ids)).toEqual([['t5', 't4'], ['t3', 't2'], ['t1']]);
      });

      it('keeps its place when sweeps are added or change status between pages', async () => {
        await seed();
        const first = await store.pageSweeps({ limit: 3 });

        await store.createSweep(sweepRecordFactory({ id: 's9', createdAt: at(9) }));
        await store.updateSweep('s2', { status: 'cancelled', updatedAt: at(10) });
        const rest = await allPages((cursor) =>
          store.pageSweeps({ limit: 3, cursor: cursor ?? first.next }),
        );

        expect(ids(first.items)).toEqual(['s6', 's5', 's4']);
        expect(rest.map(ids)).toEqual([['s3', 's2', 's1']]);
      });

      it('refuses a bad limit and a cursor it did not issue, naming the field', async () => {
        for (const limit of [0, -1, 1.5, 1001]) {
          await expect(store.pageSweeps({ limit })).rejects.toBeInstanceOf(ValidationError);
        }
        await expect(store.pageSweeps({ limit: 0 })).rejects.toThrow(/^limit: /);
        for (const cursor of [
          '',
          'garbage',
          Buffer.from('{"l":"schedules","p":{"id":"a"}}').toString('base64url'),
        ]) {
          await expect(store.pageSweeps({ limit: 2, cursor })).rejects.toThrow(
            /^cursor: is not a cursor of this sweeps listing/,
          );
        }
      });

      it(`lists ${bulkSweeps} sweeps page by page, each exactly once`, async () => {
        // Ten sweeps per createdAt, so pages also end inside a run of equal timestamps.
        const created = Array.from({ length: bulkSweeps }, (_, i) =>
          sweepRecordFactory({
            id: `bulk-${String(i).padStart(5, '0')}`,
            createdAt: new Date(Date.UTC(2025, 0, 1) + Math.floor(i / 10) * 1000).toISOString(),
          }),
        );
        for (let i = 0; i < created.length; i += 50) {
          await Promise.all(created.slice(i, i + 50).map((s) => store.createSweep(s)));
        }

        const pages = await allPages((cursor) => store.pageSweeps({ limit: 97, cursor }));

        const listed = pages.flat().map((s) => s.id);
        expect(pages.length).toBe(Math.ceil(bulkSweeps / 97));
        expect(listed).toHaveLength(bulkSweeps);
        expect(new Set(listed).size).toBe(bulkSweeps);
        expect(listed).toEqual(created.map((s) => s.id).reverse());
      }, 120_000);
    });

    describe('putTrial() and listTrials()', () => {
      it('returns the trials of one sweep ordered by trialIndex as a number', async () => {
        for (const trialIndex of [10, 2, 0, 1]) {
          await store.putTrial(trialRecordFactory({ sweepId: 'a', trialIndex }));
        }
        await store.putTrial(trialRecordFactory({ sweepId: 'b', trialIndex: 3 }));

        const trials = await store.listTrials('a');

        expect(trials.map((t) => t.trialIndex)).toEqual([0, 1, 2, 10]);
        expect(trials.every((t) => t.sweepId === 'a')).toBe(true);
      });

      it('upserts by (sweepId, trialIndex)', async () => {
        await store.putTrial(
          trialRecordFactory({ sweepId: 'a', trialIndex: 1, status: 'running' }),
        );
        const done = trialRecordFactory({
          sweepId: 'a',
          trialIndex: 1,
          status: 'succeeded',
          attempt: 1,
          objective: 0.87,
          backend: 'wasm',
          updatedAt: '2025-01-01T10:30:00.000Z',
        });

        await store.putTrial(done);

        expect(await store.listTrials('a')).toEqual([done]);
      });

      it('returns an empty list for a sweep without trials', async () => {
        await store.putTrial(trialRecordFactory({ sweepId: 'a' }));

        expect(await store.listTrials('missing')).toEqual([]);
      });
    });

    describe('promoteChampion() and getChampion()', () => {
      it('stores the first champion and returns created: true', async () => {
        const champion = championRecordFactory();

        const result = await store.promoteChampion(champion);

        expect(result).toEqual({ created: true, champion });
        expect(await store.getChampion(champion.sweepId)).toEqual(champion);
      });

      it('keeps the first champion and returns it with created: false on a later call', async () => {
        const first = championRecordFactory({ variantId: 'first' });
        await store.promoteChampion(first);

        const result = await store.promoteChampion(
          championRecordFactory({ variantId: 'second', objectiveMean: 0.99 }),
        );

        expect(result).toEqual({ created: false, champion: first });
        expect(await store.getChampion(first.sweepId)).toEqual(first);
      });

      it('lets exactly one of two concurrent promotions create the champion', async () => {
        const a = championRecordFactory({ variantId: 'a' });
        const b = championRecordFactory({ variantId: 'b' });

        const results = await Promise.all([store.promoteChampion(a), store.promoteChampion(b)]);

        expect(results.filter((r) => r.created)).toHaveLength(1);
        const stored = await store.getChampion(a.sweepId);
        expect([a, b]).toContainEqual(stored);
        expect(results.map((r) => r.champion)).toEqual([stored, stored]);
      });

      it('keeps one champion per sweep', async () => {
        const a = championRecordFactory({ sweepId: 'sweep-a', variantId: 'va' });
        const b = championRecordFactory({ sweepId: 'sweep-b', variantId: 'vb' });

        await store.promoteChampion(a);
        const result = await store.promoteChampion(b);

        expect(result.created).toBe(true);
        expect(await store.getChampion('sweep-a')).toEqual(a);
        expect(await store.getChampion('sweep-b')).toEqual(b);
      });

      it('returns undefined for a sweep without a champion', async () => {
        expect(await store.getChampion('missing')).toBeUndefined();
      });
    });
  });
}
