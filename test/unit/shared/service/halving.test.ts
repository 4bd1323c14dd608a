import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildLeaderboard, formatLeaderboard } from '../../../../shared/aggregation/leaderboard.js';
import { type Plan, rungKey } from '../../../../shared/schemas/plan.js';
import { cancelSweep, resumeSweep, settleSweep } from '../../../../shared/service/lifecycle.js';
import { createSweep, getSweep } from '../../../../shared/service/sweeps.js';
import { makeWorkspace, RungRecordingExecutor } from '../../../helpers/workspace.js';

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
let executor: RungRecordingExecutor;
beforeEach(async () => {
  executor = new RungRecordingExecutor();
  ws = await makeWorkspace({ executor });
});
afterEach(async () => {
  await ws.cleanup();
});

/** 5 finetune variants, 3 folds, eta 2: rungs of 5 -> 3 -> 2 variants. */
const halvingSpec = () =>
  ws.spec({
    searchSpace: { strategy: ['finetune'], freezeDepth: [0, 1, 2, 3, 4], lrMultiplier: [1] },
    search: { scheduler: { type: 'successive-halving', eta: 2 } },
  });

/** Variant v's score on any fold: variant 3 best, then 1, 4, 2, 0. */
const SCORE = [0.5, 0.8, 0.6, 0.9, 0.7];

async function finish(sweepId: string, trials: number[], plan: Plan, failed: number[] = []) {
  for (const index of trials) {
    const t = plan.trials[index];
    const fails = failed.includes(index);
    await ws.state.putTrial({
      sweepId,
      trialIndex: index,
      variantId: t.variantId,
      fold: t.fold,
      status: fails ? 'failed' : 'succeeded',
      attempt: 1,
      objective: fails ? null : SCORE[t.variantIndex],
      updatedAt: new Date().toISOString(),
    });
  }
}

describe('successive halving in the lifecycle', () => {
  it('submits rung 0 only: fold 0 of every variant, recorded and listed for the trainers', async () => {
    // Act
    const { sweep, plan } = await createSweep(ws.deps, halvingSpec());

    // Assess
    expect(plan.rungs?.map((r) => r.variants)).toEqual([5, 3, 2]);
    expect(executor.submissions).toEqual([{ rung: 0, trials: [0, 3, 6, 9, 12], finished: [] }]);
    expect(sweep).toMatchObject({ status: 'running', rung: 0, rungJobIds: [['job-1']] });
    expect((await ws.state.listTrials(sweep.id)).map((t) => t.trialIndex)).toEqual([
      0, 3, 6, 9, 12,
    ]);
    const listed = JSON.parse(
      Buffer.from(await ws.objects.get(rungKey(sweep.id, 0))).toString('utf8'),
    );
    expect(listed).toMatchObject({ rung: 0, trials: [0, 3, 6, 9, 12] });
    expect((await getSweep(ws.deps, sweep.id)).progress.trialsTotal).toBe(5 + 3 + 2);
  });

  it('submits each next rung with the promoted variants when a rung settles', async () => {
    // Prepare
    const { sweep, plan } = await createSweep(ws.deps, halvingSpec());

    // Act
    const early = await settleSweep(ws.deps, sweep.id);
    await finish(sweep.id, [0, 3, 6, 9, 12], plan);
    const rung1 = await settleSweep(ws.deps, sweep.id);
    const duplicate = await settleSweep(ws.deps, sweep.id);
    await finish(sweep.id, executor.submissions[1].trials, plan);
    const rung2 = await settleSweep(ws.deps, sweep.id);

    // Assess
    expect(early.status).toBe('skipped');
    // rung 0 keeps variants 3, 1, 4 (ceil(5 / 2) = 3): fold 1 of each
    expect(rung1).toMatchObject({ status: 'advanced', rung: 1, promoted: [1, 3, 4], pruned: 2 });
    expect(executor.submissions[1]).toEqual({
      rung: 1,
      trials: [4, 10, 13],
      finished: [0, 3, 6, 9, 12],
    });
    expect(duplicate.status).toBe('skipped');
    expect(rung2).toMatchObject({ status: 'advanced', rung: 2, promoted: [1, 3] });
    expect(executor.submissions[2]).toEqual({
      rung: 2,
      trials: [5, 11],
      finished: [0, 3, 4, 6, 9, 10, 12, 13],
    });
    expect(executor.submissions).toHaveLength(3);
    const stored = await ws.state.getSweep(sweep.id);
    expect(stored).toMatchObject({
      status: 'running',
      rung: 2,
      jobIds: ['job-3'],
      rungJobIds: [['job-1'], ['job-2'], ['job-3']],
    });
  });

  it('ranks the variants that ran every fold and marks the pruned with their rung scores', async () => {
    // Prepare
    const { sweep, plan } = await createSweep(ws.deps, halvingSpec());
    await finish(sweep.id, [0, 3, 6, 9, 12], plan);
    await settleSweep(ws.deps, sweep.id);
    await finish(sweep.id, [4, 10, 13], plan);
    await settleSweep(ws.deps, sweep.id);
    await finish(sweep.id, [5, 11], plan);

    // Act
    const finished = (await ws.state.listTrials(sweep.id)).flatMap((t) =>
      t.status === 'succeeded' || t.status === 'failed' ? [{ ...t, status: t.status }] : [],
    );
    const board = buildLeaderboard(plan, finished);

    // Assess
    expect(
      board.rows.map((r) => [plan.variants.findIndex((v) => v.id === r.variantId), r.complete]),
    ).toEqual([
      [3, true],
      [1, true],
      [4, false],
      [2, false],
      [0, false],
    ]);
    expect(board.bestVariantId).toBe(plan.variants[3].id);
    expect(board.rows[2].pruned).toEqual({ rung: 1, score: 0.7 });
    expect(board.rows[3].pruned).toEqual({ rung: 0, score: 0.6 });
    expect(formatLeaderboard(board)).toMatch(/pruned at rung 1 \(0\.7000\)/);
  });

  it('counts a failed rung-0 trial as worst: that variant is pruned', async () => {
    // Prepare
    const { sweep, plan } = await createSweep(ws.deps, halvingSpec());
    await finish(sweep.id, [0, 3, 6, 9, 12], plan, [9]);

    // Act
    const outcome = await settleSweep(ws.deps, sweep.id);

    // Assess: variant 3 (the best scorer) failed its fold 0
    expect(outcome).toMatchObject({ status: 'advanced', promoted: [1, 2, 4] });
  });

  it('resumes a cancelled halving sweep at its rung, running only that rung’s unfinished trials', async () => {
    // Prepare
    const { sweep, plan } = await createSweep(ws.deps, halvingSpec());
    await finish(sweep.id, [0, 3, 6, 9, 12], plan);
    await settleSweep(ws.deps, sweep.id);
    await finish(sweep.id, [4], plan);
    await cancelSweep(ws.deps, sweep.id);

    // Act
    const resumed = await resumeSweep(ws.deps, sweep.id);

    // Assess
    expect(executor.cancelled).toEqual([['job-2']]);
    expect(resumed).toMatchObject({ status: 'running', unfinished: 2 });
    expect(executor.submissions[2]).toEqual({
      rung: 1,
      trials: [4, 10, 13],
      finished: [0, 3, 4, 6, 9, 12],
    });
    expect(await ws.state.getSweep(sweep.id)).toMatchObject({
      status: 'running',
      rung: 1,
      rungJobIds: [['job-1'], ['job-3']],
    });
  });
});
