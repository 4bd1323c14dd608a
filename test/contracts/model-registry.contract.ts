import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../shared/errors.js';
import type { ModelRegistry } from '../../shared/ports/model-registry.js';
import { modelVersionFactory } from '../helpers/retrain-fixtures.js';
import type { StoreFixture } from './schedule-store.contract.js';

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
