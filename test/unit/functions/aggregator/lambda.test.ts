import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAggregatorHandler } from '../../../../functions/aggregator/lambda.js';
import type { ModelRegistry } from '../../../../shared/ports/model-registry.js';
import { getJson } from '../../../../shared/ports/object-store.js';
import type { ScheduleStore } from '../../../../shared/ports/schedule-store.js';
import { type Plan, trialResultKey } from '../../../../shared/schemas/plan.js';
import { TrialResultSchema } from '../../../../shared/schemas/trial-result.js';
import type { BatchEventDeps } from '../../../../shared/service/batch-events.js';
import type { ServiceDeps } from '../../../../shared/service/deps.js';
import { createSweep } from '../../../../shared/service/sweeps.js';
import {
  AWS_SAMPLE_BATCH_JOB_STATE_CHANGE,
  batchStateChangeEventFactory,
  TEST_JOB_QUEUE,
  TEST_PARENT_JOB_ID,
} from '../../../batch-emulator/events.js';
import { trialResultFor } from '../../../helpers/factories.js';
import { makeWorkspace } from '../../../helpers/workspace.js';

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
let plan: Plan;
let sweepId: string;

beforeEach(async () => {
  ws = await makeWorkspace({ samples: 30 });
  // No holdout, no test set: aggregation evaluates nothing, so a fake evaluator would do.
  ws.deps.evaluator = {
    evaluate: async () => {
      throw new Error('nothing to evaluate in these tests');
    },
  };
  ({ plan } = await createSweep(ws.deps, ws.spec()));
  sweepId = plan.sweepId;
  // The job id Batch gave the array job at submission (the events below carry it).
  await ws.state.updateSweep(sweepId, { jobIds: [TEST_PARENT_JOB_ID] });
});

afterEach(async () => {
  await ws.cleanup();
});

const handlerFor = (deps: BatchEventDeps = ws.deps) =>
  createAggregatorHandler(deps, { jobQueue: 'foldsweep-gpu' });

/** Stores a result for every trial (objective by variant, so variant 0 wins) except `skip`. */
async function writeResults(options: { failed?: number[]; skip?: number[] } = {}): Promise<void> {
  for (const t of plan.trials) {
    if (options.skip?.includes(t.index)) continue;
    const failed = options.failed?.includes(t.index);
    const result = trialResultFor(plan, t.variantIndex, t.fold, {
      status: failed ? 'failed' : 'succeeded',
      objective: failed ? null : 0.9 - t.variantIndex * 0.1 + t.fold * 0.01,
      ...(failed ? { reason: 'training diverged' } : {}),
    });
    await ws.objects.put(trialResultKey(sweepId, t.index), JSON.stringify(result));
  }
}

const parentEvent = (overrides: Parameters<typeof batchStateChangeEventFactory>[0] = {}) =>
  batchStateChangeEventFactory({ sweepId, size: plan.trials.length, ...overrides });

describe('aggregator handler', () => {
  it('aggregates and promotes when the array parent succeeds', async () => {
    await writeResults();

    const outcome = await handlerFor()(parentEvent());

    expect(outcome).toMatchObject({
      handled: true,
      sweepId,
      counts: { trials: 9, succeeded: 9, failed: 0, missing: 0 },
      waitingForParts: 0,
      aggregate: { status: 'completed', promoted: true },
    });
    expect((await ws.state.getSweep(sweepId))?.status).toBe('completed');
    expect((await ws.state.getChampion(sweepId))?.variantId).toBe(plan.variants[0].id);
    const trials = await ws.state.listTrials(sweepId);
    expect(trials.every((t) => t.status === 'succeeded' && t.objective !== null)).toBe(true);
    expect(ws.logs).toContainEqual(expect.objectContaining({ msg: 'array job settled' }));
  });

  it("counts the children's outcomes from the stored results, not from the parent's status", async () => {
    await writeResults({ failed: [7] });

    const outcome = await handlerFor()(parentEvent({ status: 'SUCCEEDED' }));

    expect(outcome).toMatchObject({ counts: { succeeded: 8, failed: 1, missing: 0 } });
    expect((await ws.state.listTrials(sweepId))[7]).toMatchObject({
      status: 'failed',
      reason: 'training diverged',
    });
  });

  it('records a failed result for a child that never wrote one; the sweep completes reporting it', async () => {
    await writeResults({ skip: [4] });

    const outcome = await handlerFor()(
      parentEvent({ status: 'FAILED', statusReason: 'One or more child jobs failed' }),
    );

    expect(outcome).toMatchObject({
      counts: { succeeded: 8, failed: 1, missing: 1 },
      aggregate: { status: 'completed' },
    });
    const written = TrialResultSchema.parse(await getJson(ws.objects, trialResultKey(sweepId, 4)));
    expect(written).toMatchObject({ status: 'failed', trialIndex: 4, objective: null });
    expect(written.reason).toMatch(/ended without writing a result/);
    const sweep = await ws.state.getSweep(sweepId);
    expect(sweep?.status).toBe('completed');
    const board = JSON.parse(
      new TextDecoder().decode(await ws.objects.get(`sweeps/${sweepId}/leaderboard.json`)),
    ) as { rows: { variantId: string; foldsFailed: number; complete: boolean }[] };
    expect(board.rows.find((r) => r.variantId === plan.trials[4].variantId)).toMatchObject({
      foldsFailed: 1,
      complete: false,
    });
  });

  it('promotes exactly once when the event is delivered twice', async () => {
    await writeResults();
    const handler = handlerFor();
    const event = parentEvent();

    await handler(event);
    const champion = await ws.state.getChampion(sweepId);
    const again = await handler(event);

    expect(again).toMatchObject({
      handled: false,
      reason: `sweep ${sweepId} is already completed`,
    });
    expect(await ws.state.getChampion(sweepId)).toEqual(champion);
  });

  it('promotes exactly once when two invocations race', async () => {
    await writeResults();
    const handler = handlerFor();

    const outcomes = await Promise.all([handler(parentEvent()), handler(parentEvent())]);

    const promoted = outcomes.filter(
      (o) => o.handled && o.aggregate?.status === 'completed' && o.aggregate.promoted,
    );
    expect(promoted).toHaveLength(1);
    expect((await ws.state.getSweep(sweepId))?.status).toBe('completed');
    expect((await ws.state.getChampion(sweepId))?.variantId).toBe(plan.variants[0].id);
  });

  it("ignores a terminal event with the sweep's tags but a job id it did not submit", async () => {
    await writeResults({ skip: [0, 1, 2, 3] });

    const outcome = await handlerFor()(parentEvent({ jobId: 'someone-elses-job' }));

    expect(outcome).toMatchObject({ handled: false });
    expect((outcome as { reason: string }).reason).toMatch(
      /job someone-elses-job is not sweep .* part 0 \(0f1e2d3c/,
    );
    expect((await ws.state.getSweep(sweepId))?.status).toBe('running');
    expect((await ws.state.listTrials(sweepId)).every((t) => t.status === 'pending')).toBe(true);
    expect(await ws.objects.exists(trialResultKey(sweepId, 0))).toBe(false);
  });

  it('asks for a redelivery while the sweep has not stored its job ids yet', async () => {
    const fresh = await createSweep(ws.deps, ws.spec());
    await ws.state.updateSweep(fresh.sweep.id, { status: 'preparing' });

    await expect(
      handlerFor()(batchStateChangeEventFactory({ sweepId: fresh.sweep.id, size: 9 })),
    ).rejects.toThrow(/has not recorded its job ids yet/);
  });

  it('does no aggregation work for duplicates after completion', async () => {
    await writeResults();
    const handler = handlerFor();
    await handler(parentEvent());
    let reads = 0;
    const counting = {
      ...ws.deps,
      objects: {
        ...ws.deps.objects,
        get: async (key: string) => {
          reads++;
          return ws.deps.objects.get(key);
        },
        list: ws.deps.objects.list.bind(ws.deps.objects),
        put: ws.deps.objects.put.bind(ws.deps.objects),
        exists: ws.deps.objects.exists.bind(ws.deps.objects),
        delete: ws.deps.objects.delete.bind(ws.deps.objects),
      },
    } as typeof ws.deps;
    const logsBefore = ws.logs.length;

    const outcomes = [];
    for (let i = 0; i < 5; i++) outcomes.push(await handlerFor(counting)(parentEvent()));

    expect(outcomes.every((o) => !o.handled && /already completed/.test(o.reason))).toBe(true);
    expect(reads).toBe(0);
    expect(ws.logs.slice(logsBefore).filter((l) => l.msg === 'champion promoted')).toEqual([]);
  });

  it('fails the sweep with the reason after the bounded aggregation attempts', async () => {
    await writeResults();
    const poisoned = {
      ...ws.deps,
      objects: Object.assign(
        Object.create(Object.getPrototypeOf(ws.deps.objects)),
        ws.deps.objects,
        {
          put: async (key: string, body: string | Uint8Array) => {
            if (key.endsWith('leaderboard.json'))
              throw new Error('disk full while writing the leaderboard');
            return ws.deps.objects.put(key, body);
          },
        },
      ),
    } as typeof ws.deps;
    const handler = handlerFor(poisoned);

    const errors: string[] = [];
    for (let delivery = 1; delivery <= 2; delivery++) {
      await handler(parentEvent()).catch((e: Error) => errors.push(e.message));
      expect((await ws.state.getSweep(sweepId))?.status).toBe('aggregating');
    }
    const last = await handler(parentEvent());

    expect(errors).toEqual([
      'disk full while writing the leaderboard',
      'disk full while writing the leaderboard',
    ]);
    expect(last).toMatchObject({ handled: true, aggregate: { status: 'failed' } });
    const sweep = await ws.state.getSweep(sweepId);
    expect(sweep?.status).toBe('failed');
    expect(sweep?.aggregationAttempts).toBe(3);
    expect(sweep?.error).toMatch(/aggregation attempt 3 of 3 failed: disk full/);
    // A redelivery after that changes nothing.
    expect(await handler(parentEvent())).toMatchObject({ handled: false });
  });

  it('waits for every array job of a split sweep before aggregating', async () => {
    await writeResults();
    await ws.state.updateSweep(sweepId, { jobIds: ['job-0', 'job-1'] });
    const handler = handlerFor();
    const part = (p: number) =>
      parentEvent({
        part: p,
        parts: 2,
        trialOffset: p * 5,
        size: p === 0 ? 5 : 4,
        jobId: `job-${p}`,
      });

    const first = await handler(part(1));
    const statusBetween = (await ws.state.getSweep(sweepId))?.status;
    const second = await handler(part(0));

    expect(first).toMatchObject({ handled: true, counts: { trials: 4 }, waitingForParts: 1 });
    expect(first).not.toHaveProperty('aggregate');
    expect(statusBetween).toBe('running');
    expect(second).toMatchObject({ counts: { trials: 5 }, aggregate: { status: 'completed' } });
  });

  it('finishes the scheduled run that started the sweep, also on a redelivery', async () => {
    await writeResults();
    const asked: string[] = [];
    const run = {
      scheduleId: 'nightly',
      firedAt: '2025-01-02T02:00:00.000Z',
      trigger: 'cron' as const,
      force: false,
      status: 'promoted' as const,
      startedAt: '2025-01-02T02:00:01.000Z',
      updatedAt: '2025-01-02T02:10:00.000Z',
      sweepId,
    };
    const deps = {
      ...ws.deps,
      schedules: {
        findRunBySweep: async (id: string) => {
          asked.push(id);
          return run;
        },
      } as unknown as ScheduleStore,
      registry: {} as ModelRegistry,
    };
    const handler = handlerFor(deps);

    const outcome = await handler(parentEvent());
    await handler(parentEvent());

    expect(outcome).toMatchObject({ scheduledRun: { scheduleId: 'nightly', status: 'promoted' } });
    expect(asked).toEqual([sweepId, sweepId]);
  });

  const ignored: [string, () => unknown, RegExp][] = [
    ['an array child', () => parentEvent({ childIndex: 3 }), /array child/],
    ['a RUNNABLE parent', () => parentEvent({ status: 'RUNNABLE' }), /RUNNABLE is not terminal/],
    [
      'a RUNNING job',
      () => parentEvent({ status: 'RUNNING', size: null }),
      /RUNNING is not terminal/,
    ],
    [
      'another queue',
      () => parentEvent({ jobQueue: TEST_JOB_QUEUE.replace('foldsweep-gpu', 'other') }),
      /job queue other/,
    ],
    ['a job without foldsweep tags', () => parentEvent({ tags: null }), /not a foldsweep job/],
    ['an unknown sweep', () => parentEvent({ sweepId: 'nope' }), /sweep nope is unknown/],
    ["AWS's sample event", () => AWS_SAMPLE_BATCH_JOB_STATE_CHANGE, /job queue Pexj/],
    [
      'another detail-type',
      () => ({ ...parentEvent(), 'detail-type': 'Batch Job Queue Blocked' }),
      /is not a Batch Job State Change/,
    ],
    [
      'a Batch event without a detail',
      () => ({ ...parentEvent(), detail: undefined }),
      /malformed Batch Job State Change/,
    ],
    ['an unknown status', () => parentEvent({ status: 'DONE' }), /malformed/],
    ['not an EventBridge event', () => ({ hello: 'world' }), /not an EventBridge event/],
    ['null', () => null, /not an EventBridge event/],
  ];

  it.each(ignored)('ignores %s with a log line, without throwing', async (_, event, reason) => {
    await writeResults();

    const outcome = await handlerFor()(event());

    expect(outcome).toMatchObject({ handled: false, reason: expect.stringMatching(reason) });
    expect(ws.logs).toContainEqual(
      expect.objectContaining({
        msg: 'event ignored',
        obj: expect.objectContaining({ reason: expect.stringMatching(reason) }),
      }),
    );
    expect((await ws.state.getSweep(sweepId))?.status).toBe('running');
    expect((await ws.state.listTrials(sweepId)).every((t) => t.status === 'pending')).toBe(true);
  });

  it('lets an infrastructure failure through, so that Lambda retries the event', async () => {
    await writeResults();
    const broken: ServiceDeps = {
      ...ws.deps,
      // The SQLite store with getSweep failing (its other methods inherited).
      state: Object.assign(Object.create(ws.state), {
        getSweep: async () => {
          throw new Error('DynamoDB is unavailable');
        },
      }),
    };

    await expect(handlerFor(broken)(parentEvent())).rejects.toThrow('DynamoDB is unavailable');
  });
});
