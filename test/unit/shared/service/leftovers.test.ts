import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../../shared/errors.js';
import { SweepSpecSchema } from '../../../../shared/schemas/sweep-spec.js';
import { discardLeftovers, snapshotArtifacts } from '../../../../shared/service/leftovers.js';
import { createSweep } from '../../../../shared/service/sweeps.js';
import { makeWorkspace } from '../../../helpers/workspace.js';

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
beforeEach(async () => {
  ws = await makeWorkspace();
});
afterEach(async () => {
  await ws.cleanup();
});

const rejected = async (input: unknown) => {
  const error = await createSweep(ws.deps, input).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
};

const beyond = { strategy: ['finetune' as const], freezeDepth: [10], lrMultiplier: [1] };

describe('a spec rejected while preparing', () => {
  it('leaves no object behind when the model and data were new', async () => {
    // Act
    await rejected(ws.spec({ searchSpace: beyond }));

    // Assess
    expect(await ws.objects.list('')).toEqual([]);
  });

  it("keeps the model and data another sweep's plan uses, and removes only its new data", async () => {
    // Prepare: a planned sweep on the model and the full dataset.
    const { plan } = await createSweep(ws.deps, ws.spec());
    const before = await ws.objects.list('');

    // Act: the same model, a new subset (a new prepared dataset), rejected after preparing.
    await rejected(
      ws.spec({
        searchSpace: beyond,
        dataset: { ...ws.spec().dataset, subset: { classes: [0, 1], seed: 0 } },
      } as never),
    );

    // Assess
    const after = await ws.objects.list('');
    expect(after).toEqual(before);
    expect(after.some((k) => k.startsWith(`${plan.baseModel.prefix}/`))).toBe(true);
  });

  it('keeps new objects while another sweep is preparing (it may be about to use them)', async () => {
    // Prepare: a sweep stuck in preparing, and a model imported since the snapshot.
    const startedAt = new Date(Date.now() - 1000).toISOString();
    const before = await snapshotArtifacts(ws.objects);
    await ws.deps.models.importBaseModel(ws.modelPath, 'baseModel');
    await ws.state.createSweep({
      id: 'other',
      status: 'preparing',
      spec: SweepSpecSchema.parse(ws.spec()),
      createdAt: startedAt,
      updatedAt: new Date().toISOString(),
      trialsTotal: 0,
    });

    // Act
    const removed = await discardLeftovers(ws.deps, 'rejected', before, startedAt);

    // Assess
    expect(removed).toEqual([]);
    expect((await ws.objects.list('models/')).length).toBeGreaterThan(0);
  });
});
