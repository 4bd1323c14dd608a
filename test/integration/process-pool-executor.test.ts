import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProcessPoolExecutor } from '../../shared/adapters/local/process-pool-executor.js';
import type { ExecutorEvent } from '../../shared/ports/executor.js';
import { getJson } from '../../shared/ports/object-store.js';
import { ChampionMetadataSchema } from '../../shared/schemas/champion.js';
import { getLeaderboard } from '../../shared/service/aggregate.js';
import { settleSweep } from '../../shared/service/lifecycle.js';
import { createSweep, getSweep } from '../../shared/service/sweeps.js';
import { makeWorkspace } from '../helpers/workspace.js';

const CRASHING_TRAINER = fileURLToPath(new URL('../helpers/crashing-trainer.ts', import.meta.url));

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
let executor: ProcessPoolExecutor;
const events: ExecutorEvent[] = [];

beforeEach(async () => {
  ws = await makeWorkspace({ samples: 60 });
  events.length = 0;
  executor = new ProcessPoolExecutor({
    home: ws.home,
    objects: ws.objects,
    state: ws.state,
    concurrency: 2,
    backend: 'wasm',
    trainerEntry: CRASHING_TRAINER,
    onEvent: (e) => events.push(e),
    onDrained: async (id) => {
      await settleSweep(ws.deps, id);
    },
  });
  ws.deps.executor = executor;
  process.env.FOLDSWEEP_TEST_CRASH_TRIAL = '4';
});

afterEach(async () => {
  delete process.env.FOLDSWEEP_TEST_CRASH_TRIAL;
  await executor.close();
  await ws.cleanup();
});

describe('ProcessPoolExecutor', () => {
  it('runs a successive-halving sweep rung by rung (3 -> 2 -> 1 variants) and completes it', async () => {
    // Prepare: no injected crash; 3 variants x 3 folds, eta 2
    process.env.FOLDSWEEP_TEST_CRASH_TRIAL = '';
    const spec = ws.spec({ search: { scheduler: { type: 'successive-halving', eta: 2 } } });

    // Act
    const { sweep } = await createSweep(ws.deps, spec);
    await executor.waitFor(sweep.id);

    // Assess
    const stored = await ws.state.getSweep(sweep.id);
    expect(stored).toMatchObject({ status: 'completed', rung: 2 });
    const trials = await ws.state.listTrials(sweep.id);
    expect(trials).toHaveLength(3 + 2 + 1);
    expect(trials.every((t) => t.status === 'succeeded')).toBe(true);
    const board = await getLeaderboard(ws.deps, sweep.id);
    expect(board.rows.filter((r) => r.complete)).toHaveLength(1);
    expect(
      board.rows
        .filter((r) => r.pruned)
        .map((r) => r.pruned?.rung)
        .sort(),
    ).toEqual([0, 1]);
    expect(board.bestVariantId).toBe(stored?.championVariantId);
    expect(events.filter((e) => e.type === 'sweep-drained')).toHaveLength(3);
  }, 240_000);

  it('runs the trials on trainer workers; a trainer killed on every attempt fails only its trial', async () => {
    const { sweep, plan } = await createSweep(ws.deps, ws.spec());
    await executor.waitFor(sweep.id);

    const trials = await ws.state.listTrials(sweep.id);
    expect(trials.map((t) => t.status)).toEqual(
      plan.trials.map((t) => (t.index === 4 ? 'failed' : 'succeeded')),
    );
    const crashed = trials[4];
    expect(crashed.reason).toMatch(
      /killed by SIGKILL without writing a result \(attempt 3 of 3; earlier attempts: killed by SIGKILL, killed by SIGKILL\): about to be killed/,
    );
    expect(crashed.attempt).toBe(3);

    // Progress came from the trainer processes, epoch by epoch.
    expect(events.filter((e) => e.type === 'epoch').length).toBeGreaterThanOrEqual(8 * 2);
    expect(events.filter((e) => e.type === 'trial-finished')).toHaveLength(9);

    // Trial 4 is variant 1 (finetune freeze=2), fold 1: that variant is incomplete and cannot win.
    const board = await getLeaderboard(ws.deps, sweep.id);
    const broken = board.rows.find((r) => r.variantId === plan.variants[1].id);
    expect(broken).toMatchObject({ complete: false, foldsCompleted: 2, foldsFailed: 1 });
    expect(board.bestVariantId).not.toBe(plan.variants[1].id);
    expect(board.rows[board.rows.length - 1].variantId).toBe(plan.variants[1].id);

    // The pool drained, aggregation ran once and promoted a champion with its metadata.
    const done = await getSweep(ws.deps, sweep.id);
    expect(done.status).toBe('completed');
    expect(done.progress).toMatchObject({ succeeded: 8, failed: 1, fraction: 1 });
    const champion = await ws.state.getChampion(sweep.id);
    expect(champion?.variantId).toBe(board.bestVariantId);
    const metadata = ChampionMetadataSchema.parse(
      await getJson(ws.objects, `${champion?.modelPrefix}/metadata.json`),
    );
    expect(metadata.classNames).toEqual(['top', 'middle', 'bottom']);
    expect(metadata.lineage.datasetHash).toBe(plan.dataset.hash);
    expect(metadata.lineage.baseModelHash).toBe(plan.baseModel.hash);

    // Every trial result names its backend and has per-epoch metrics.
    const result = (await getJson(ws.objects, `sweeps/${sweep.id}/trials/00000/result.json`)) as {
      backend: string;
      epochs: unknown[];
    };
    expect(result.backend).toBe('wasm');
    expect(result.epochs.length).toBeGreaterThan(0);

    // Aggregating again (a duplicate trigger) changes nothing.
    const again = await settleSweep(ws.deps, sweep.id);
    expect(again.status).toBe('skipped');
    expect(await ws.state.getChampion(sweep.id)).toEqual(champion);
  }, 180_000);
});
