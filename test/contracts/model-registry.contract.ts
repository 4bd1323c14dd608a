import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '../../shared/errors.js';
import type { ModelRegistry } from '../../shared/ports/model-registry.js';
import { modelVersionFactory } from '../helpers/retrain-fixtures.js';
import type { StoreFixture } from './schedule-store.contract.js';
import { allPages } from './state-store.contract.js';

/** The ModelRegistry contract: every adapter runs the same suite. */
export function modelRegistryContract(
  name: string,
  make: () => Promise<StoreFixture<ModelRegistry>>,
) {
  describe(`${name} (ModelRegistry contract)`, () => {
    let fixture: StoreFixture<ModelRegistry>;
    let registry: ModelRegistry;
    beforeEach(async () => {
      fixture = await make();
      registry = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });
    const at = '2025-01-07T01:05:00.000Z';

    it('numbers versions per model, once per sweep', async () => {
      const v1 = await registry.register(modelVersionFactory({ sweepId: 's1' }));
      const v2 = await registry.register(modelVersionFactory({ sweepId: 's2' }));
      const other = await registry.register(modelVersionFactory({ sweepId: 's1', modelName: 'x' }));
      expect([v1.version.version, v2.version.version, other.version.version]).toEqual([1, 2, 1]);
      const again = await registry.register(modelVersionFactory({ sweepId: 's1', reason: 'x' }));
      expect(again).toEqual({ created: false, version: v1.version });
      expect((await registry.listVersions('bands')).map((v) => v.sweepId)).toEqual(['s1', 's2']);
      expect(await registry.getVersion('bands', 2)).toEqual(v2.version);
      expect(await registry.getVersion('bands', 3)).toBeUndefined();
      expect(await registry.getServing('bands')).toBeUndefined();
    });

    it('serves a version atomically with registering it, only if serving did not change', async () => {
      await registry.register(modelVersionFactory({ sweepId: 's1' }), {
        serve: { expectServing: null, action: 'promote', reason: 'first', at },
      });
      expect(await registry.getServing('bands')).toEqual({
        modelName: 'bands',
        version: 1,
        since: at,
      });
      // Compared against "none", but v1 serves now: nothing is stored.
      await expect(
        registry.register(modelVersionFactory({ sweepId: 's2' }), {
          serve: { expectServing: null, action: 'promote', reason: 'stale', at },
        }),
      ).rejects.toBeInstanceOf(ConflictError);
      expect(await registry.listVersions('bands')).toHaveLength(1);
      await registry.register(modelVersionFactory({ sweepId: 's2' }), {
        serve: { expectServing: 1, action: 'promote', reason: 'better', at },
      });
      expect((await registry.getServing('bands'))?.version).toBe(2);
      expect(await registry.listEvents('bands')).toEqual([
        {
          modelName: 'bands',
          seq: 1,
          action: 'promote',
          fromVersion: null,
          toVersion: 1,
          reason: 'first',
          at,
        },
        {
          modelName: 'bands',
          seq: 2,
          action: 'promote',
          fromVersion: 1,
          toVersion: 2,
          reason: 'better',
          at,
        },
      ]);
    });

    it('pages models by name and versions oldest first', async () => {
      for (const modelName of ['m3', 'm1', 'm2']) {
        await registry.register(modelVersionFactory({ modelName, sweepId: `s-${modelName}` }));
      }
      for (const n of [1, 2, 3, 4, 5]) {
        await registry.register(modelVersionFactory({ modelName: 'm1', sweepId: `s${n}` }));
      }
      const models = await allPages((cursor) => registry.pageModels({ limit: 2, cursor }));
      expect(models.map((p) => p.map((m) => m.name))).toEqual([['m1', 'm2'], ['m3']]);
      expect(await registry.pageModels({ limit: 3 })).toEqual({
        items: await registry.listModels(),
      });

      const versions = await allPages((cursor) =>
        registry.pageVersions('m1', { limit: 4, cursor }),
      );
      expect(versions.map((p) => p.map((v) => v.version))).toEqual([
        [1, 2, 3, 4],
        [5, 6],
      ]);
      expect(versions.flat()).toEqual(await registry.listVersions('m1'));
      expect(await registry.pageVersions('nope', { limit: 4 })).toEqual({ items: [] });

      const first = await registry.pageVersions('m1', { limit: 1 });
      await expect(registry.pageVersions('m2', { limit: 1, cursor: first.next })).rejects.toThrow(
        /^cursor: this cursor pages the versions of model 'm1'/,
      );
      await expect(registry.pageModels({ limit: 1001 })).rejects.toBeInstanceOf(ValidationError);
      await expect(registry.pageModels({ limit: 1, cursor: first.next })).rejects.toThrow(
        /^cursor: is not a cursor of this models listing/,
      );
    });

    it('moves the serving pointer with compare-and-set and records the history', async () => {
      await registry.register(modelVersionFactory({ sweepId: 's1' }), {
        serve: { expectServing: null, action: 'promote', reason: 'first', at },
      });
      await registry.register(modelVersionFactory({ sweepId: 's2' }), {
        serve: { expectServing: 1, action: 'promote', reason: 'better', at },
      });
      const event = await registry.setServing('bands', 1, {
        expectServing: 2,
        action: 'rollback',
        reason: 'drill',
        at: '2025-01-08T00:00:00.000Z',
      });
      expect(event).toMatchObject({ seq: 3, action: 'rollback', fromVersion: 2, toVersion: 1 });
      await expect(
        registry.setServing('bands', 2, { expectServing: 2, action: 'rollback', reason: 'x', at }),
      ).rejects.toBeInstanceOf(ConflictError);
      await expect(
        registry.setServing('bands', 7, { expectServing: 1, action: 'rollback', reason: 'x', at }),
      ).rejects.toBeInstanceOf(NotFoundError);
      expect((await registry.getServing('bands'))?.version).toBe(1);
      expect(await registry.listEvents('bands')).toHaveLength(3);
      expect(await registry.listModels()).toEqual([
        {
          name: 'bands',
          servingVersion: 1,
          latestVersion: 2,
          versions: 2,
          updatedAt: '2025-01-08T00:00:00.000Z',
        },
      ]);
    });
  });
}
