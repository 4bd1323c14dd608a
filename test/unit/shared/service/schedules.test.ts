import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRetrainHandler } from '../../../../functions/retrain/lambda.js';
import { loadPreparedDataset } from '../../../../shared/data/load.js';
import { ConflictError, ValidationError } from '../../../../shared/errors.js';
import { getJson, getText } from '../../../../shared/ports/object-store.js';
import { PreparedDatasetSchema } from '../../../../shared/schemas/dataset.js';
import { nextFireTime, type ScheduleRun } from '../../../../shared/schemas/schedule.js';
import { getModel, rollback } from '../../../../shared/service/registry.js';
import {
  completeScheduledRun,
  createSchedule,
  getSchedule,
  listSchedules,
  runSchedule,
  syncTriggers,
} from '../../../../shared/service/schedules.js';
import { FLOW_DATA, makeRetrainWorkspace } from '../../../helpers/retrain-fixtures.js';

let ws: Awaited<ReturnType<typeof makeRetrainWorkspace>>;
beforeEach(async () => {
  // Monday noon in Berlin; the schedule fires at 02:00 Berlin time.
  ws = await makeRetrainWorkspace({ start: '2025-01-06T11:00:00.000Z' });
});
afterEach(async () => {
  await ws.cleanup();
});

/** Moves the fake clock to the next 02:00 Berlin and fires the schedule as the scheduler would. */
async function fireNightly(id = 'nightly'): Promise<ScheduleRun> {
  ws.clock.set(nextFireTime('0 2 * * *', 'Europe/Berlin', ws.clock.now()) as Date);
  const { run } = await runSchedule(ws.deps, id, { firedAt: ws.clock.now(), trigger: 'cron' });
  return run;
}

/** Waits for the run's sweep (trials, aggregation, completion) and reads the run back. */
async function settle(run: ScheduleRun): Promise<ScheduleRun> {
  if (run.sweepId) await ws.executor.waitFor(run.sweepId);
  return (await ws.deps.schedules.getRun(run.scheduleId, run.firedAt)) as ScheduleRun;
}

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('scheduled retraining with champion/challenger', () => {
  it('promotes the first run, skips unchanged data, promotes a better challenger, rejects a worse one, rolls back', async () => {
    // Prepare
    await ws.writeData(FLOW_DATA.v1);
    const schedule = await createSchedule(ws.deps, ws.scheduleInput());
    expect(await ws.scheduler.list()).toEqual([
      expect.objectContaining({
        scheduleId: 'nightly',
        cron: '0 2 * * *',
        timezone: 'Europe/Berlin',
      }),
    ]);
    expect(schedule.modelName).toBe('bands');

    // Night 1 (Tue 02:00 Berlin = 01:00Z): the first champion is promoted: nothing served yet.
    const started = await fireNightly();
    expect(started).toMatchObject({
      status: 'running',
      firedAt: '2025-01-07T01:00:00.000Z',
      trigger: 'cron',
      sweepId: 'sweep-0001',
    });
    const night1 = await settle(started);
    expect(night1).toMatchObject({ status: 'promoted', modelVersion: 1 });
    expect(night1.reason).toMatch(/first champion/);
    expect(night1.serving).toBeUndefined();
    const frozen = (await ws.deps.schedules.getSchedule('nightly'))?.holdout;
    expect(frozen).toMatchObject({ count: 15, countsPerClass: [5, 5, 5], seed: 3, fraction: 0.25 });
    expect(night1).toMatchObject({
      dataset: { count: 60 },
      training: { count: 45 },
      holdout: { hash: frozen?.datasetHash, count: 15 },
    });
    let model = await getModel(ws.deps, 'bands');
    expect(model.serving?.version).toBe(1);
    expect(model.versions[0]).toMatchObject({
      version: 1,
      sweepId: 'sweep-0001',
      source: { kind: 'schedule', scheduleId: 'nightly', firedAt: night1.firedAt },
      variant: { strategy: 'finetune', freezeDepth: 0, lrMultiplier: 1 },
      training: { learningRate: 0.02, epochs: 10, batchSize: 16 },
      dataset: {
        hash: night1.training?.hash,
        count: 45,
        source: ws.imagesFile,
        sourceHash: night1.dataset?.hash,
        sourceCount: 60,
      },
      holdout: { hash: frozen?.datasetHash, count: 15 },
      baseModel: { uri: ws.modelPath },
      cv: { objective: 'val_accuracy' },
      holdoutScore: night1.challenger,
      decision: 'promoted',
    });
    expect(model.versions[0].baseModel.hash).toMatch(/^[0-9a-f]{64}$/);
    // A duplicate completion (a second aggregation event) changes nothing.
    expect(await completeScheduledRun(ws.deps, 'sweep-0001')).toEqual(night1);
    expect(await ws.deps.registry.listVersions('bands')).toHaveLength(1);

    // Night 2: the data did not change: skipped, with the reason, no sweep.
    const night2 = await fireNightly();
    expect(night2.status).toBe('skipped');
    expect(night2.reason).toMatch(/dataset unchanged: content hash [0-9a-f]{12} .* trained on/);
    // One sweep so far (submitted twice: its folds, then its refit).
    expect(new Set(ws.executor.submitted.map((p) => p.sweepId))).toEqual(new Set(['sweep-0001']));

    // Night 3: 240 new, well-labelled images: the challenger beats the serving v1 on the same
    // frozen holdout by more than the margin and is promoted.
    await ws.writeData(FLOW_DATA.v2);
    const night3 = await settle(await fireNightly());
    expect(night3).toMatchObject({
      status: 'promoted',
      modelVersion: 2,
      serving: { version: 1 },
      dataset: { count: 300 },
      training: { count: 285 },
      holdout: { hash: frozen?.datasetHash, count: 15 },
    });
    expect(night3.challenger?.accuracy).toBeGreaterThanOrEqual(
      (night3.serving?.accuracy ?? 1) + 0.05,
    );
    expect(night3.reason).toMatch(/challenger accuracy .* vs serving v1 .*: better by/);
    // The new data only added to training: no holdout image is in the sweep's training set.
    const holdoutHashes = new Set(
      JSON.parse(await getText(ws.deps.objects, frozen?.sampleHashesKey ?? '')) as string[],
    );
    const trainManifest = PreparedDatasetSchema.parse(
      await getJson(ws.deps.objects, `datasets/${night3.training?.hash}/manifest.json`),
    );
    const train = await loadPreparedDataset(ws.deps.objects, trainManifest);
    for (let i = 0; i < train.manifest.count; i++) {
      expect(holdoutHashes.has(sha(train.pixels.subarray(i * 64, (i + 1) * 64)))).toBe(false);
    }

    // Night 4: 900 mislabelled images: the challenger loses on the holdout and is kept as a
    // rejected challenger with both scores; v2 still serves.
    await ws.writeData(FLOW_DATA.v3);
    const night4 = await settle(await fireNightly());
    expect(night4).toMatchObject({ status: 'rejected', modelVersion: 3, serving: { version: 2 } });
    expect(night4.challenger?.accuracy).toBeLessThan(night4.serving?.accuracy ?? 0);
    expect(night4.reason).toMatch(/vs serving v2 .*not better/);
    model = await getModel(ws.deps, 'bands');
    expect(model.serving?.version).toBe(2);
    expect(model.versions[2]).toMatchObject({
      version: 3,
      decision: 'rejected',
      holdoutScore: night4.challenger,
      comparedWith: night4.serving,
    });

    // Rollback: serve v1 again.
    const { event } = await rollback(ws.deps, 'bands', { version: 1, reason: 'drill' });
    expect(event).toMatchObject({ action: 'rollback', fromVersion: 2, toVersion: 1 });
    model = await getModel(ws.deps, 'bands');
    expect(model.serving?.version).toBe(1);
    expect(model.history.map((e) => [e.action, e.fromVersion, e.toVersion])).toEqual([
      ['promote', null, 1],
      ['promote', 1, 2],
      ['rollback', 2, 1],
    ]);

    // The run history, newest first.
    const { runs } = await getSchedule(ws.deps, 'nightly');
    expect(runs.map((r) => r.status)).toEqual(['rejected', 'promoted', 'skipped', 'promoted']);
    const [view] = await listSchedules(ws.deps);
    expect(view).toMatchObject({
      id: 'nightly',
      lastRun: { status: 'rejected' },
      nextFireAt: '2025-01-11T01:00:00.000Z',
    });
  });

  it('starts no second run while one is going, treats a repeated slot as a duplicate, and runs unchanged data when forced', async () => {
    await ws.writeData(FLOW_DATA.v1);
    await createSchedule(ws.deps, ws.scheduleInput());
    ws.executor.hold();
    const first = await fireNightly();
    expect(first.status).toBe('running');

    // The same slot again (a retried invocation): the stored run, nothing new.
    const again = await runSchedule(ws.deps, 'nightly', {
      firedAt: first.firedAt,
      trigger: 'cron',
    });
    expect(again).toEqual({ run: first, created: false });

    // The next night, and a manual run, while the first still runs: skipped for overlap.
    const next = await fireNightly();
    expect(next.status).toBe('skipped');
    expect(next.reason).toMatch(
      /overlap: the run fired at 2025-01-07T01:00:00.000Z \(sweep sweep-0001\)/,
    );
    ws.clock.advance(60_000);
    const manual = await runSchedule(ws.deps, 'nightly', { force: true });
    expect(manual).toMatchObject({ created: true, run: { status: 'skipped', trigger: 'manual' } });
    expect(manual.run.reason).toMatch(/overlap/);
    expect(ws.executor.submitted).toHaveLength(1);

    ws.executor.release();
    expect((await settle(first)).status).toBe('promoted');

    // Unchanged data, forced: it trains again.
    ws.clock.advance(60_000);
    const forced = await runSchedule(ws.deps, 'nightly', { force: true });
    expect(forced.run).toMatchObject({ status: 'running', force: true, trigger: 'manual' });
    expect(['promoted', 'rejected']).toContain((await settle(forced.run)).status);
  });

  it('marks a run still going after maxRunHours failed and lets the next fire start', async () => {
    await ws.writeData(FLOW_DATA.v1);
    await createSchedule(ws.deps, ws.scheduleInput({ maxRunHours: 20 }));
    ws.executor.hold();
    const stuck = await fireNightly();
    const next = await fireNightly(); // 24 h later
    expect(next).toMatchObject({ status: 'running', sweepId: 'sweep-0002' });
    const stale = await ws.deps.schedules.getRun('nightly', stuck.firedAt);
    expect(stale).toMatchObject({ status: 'failed' });
    expect(stale?.reason).toMatch(/still running after 24\.0 h \(maxRunHours 20\)/);
    ws.executor.release();
    await ws.executor.waitFor('sweep-0001');
    // The late sweep's completion leaves the failed run (and the registry) alone.
    expect((await ws.deps.schedules.getRun('nightly', stuck.firedAt))?.status).toBe('failed');
    expect((await settle(next)).status).toBe('promoted');
    expect(await ws.deps.registry.listVersions('bands')).toHaveLength(1);
  });

  it('ends a run cancelled when its sweep is cancelled, leaving the registry alone', async () => {
    await ws.writeData(FLOW_DATA.v1);
    await createSchedule(ws.deps, ws.scheduleInput());
    ws.executor.hold();
    const run = await fireNightly();
    expect(run.status).toBe('running');

    const { cancelSweep } = await import('../../../../shared/service/lifecycle.js');
    await cancelSweep(ws.deps, run.sweepId ?? '');

    const ended = await ws.deps.schedules.getRun('nightly', run.firedAt);
    expect(ended).toMatchObject({ status: 'cancelled' });
    expect(ended?.reason).toMatch(/was cancelled: cancelled by request/);
    ws.executor.release();
    await ws.executor.waitFor(run.sweepId ?? '');
    // The trials that still ran change nothing: the sweep stays cancelled, nothing is promoted.
    expect((await ws.deps.state.getSweep(run.sweepId ?? ''))?.status).toBe('cancelled');
    expect(await ws.deps.registry.listVersions('bands')).toHaveLength(0);
  });

  it('finishes a run whose sweep ended but whose completion was lost before starting the next', async () => {
    await ws.writeData(FLOW_DATA.v1);
    await createSchedule(ws.deps, ws.scheduleInput());
    ws.executor.onDrained = undefined; // aggregation runs, completion is "lost"
    const first = await fireNightly();
    await ws.executor.waitFor(first.sweepId ?? '');
    const { settleSweep } = await import('../../../../shared/service/lifecycle.js');
    // Settled by a process without the schedule store: the run's completion is lost. (The
    // first settlement submits the refit; the one after it finished aggregates.)
    const withoutSchedules = { ...ws.deps, schedules: undefined, registry: undefined };
    while ((await settleSweep(withoutSchedules, first.sweepId ?? '')).status === 'advanced') {
      await ws.executor.waitFor(first.sweepId ?? '');
    }
    expect((await ws.deps.schedules.getRun('nightly', first.firedAt))?.status).toBe('running');
    const next = await fireNightly();
    expect((await ws.deps.schedules.getRun('nightly', first.firedAt))?.status).toBe('promoted');
    expect(next.status).toBe('skipped'); // same data as the run just completed
  });
});

describe('the retrain Lambda handler', () => {
  it('runs the same flow from EventBridge Scheduler events, a retried event recording nothing new', async () => {
    const handler = createRetrainHandler(ws.deps);
    const night = async () => {
      ws.clock.set(nextFireTime('0 2 * * *', 'Europe/Berlin', ws.clock.now()) as Date);
      const event = { scheduleId: 'nightly', scheduledTime: ws.clock.now().toISOString() };
      const outcome = await handler(event);
      const sweepId = (outcome as { sweepId?: string }).sweepId;
      if (sweepId) await ws.executor.waitFor(sweepId);
      return {
        event,
        outcome,
        run: await ws.deps.schedules.getRun('nightly', event.scheduledTime),
      };
    };
    await ws.writeData(FLOW_DATA.v1);
    await createSchedule(ws.deps, ws.scheduleInput());

    const first = await night();
    expect(first.outcome).toMatchObject({
      status: 'scheduled-run',
      runStatus: 'running',
      created: true,
    });
    expect(first.run?.status).toBe('promoted');
    // EventBridge retries the same invocation: the slot ran already.
    expect(await handler(first.event)).toMatchObject({ runStatus: 'promoted', created: false });

    expect((await night()).run?.status).toBe('skipped');
    await ws.writeData(FLOW_DATA.v2);
    expect((await night()).run).toMatchObject({ status: 'promoted', modelVersion: 2 });
    await ws.writeData(FLOW_DATA.v3);
    expect((await night()).run).toMatchObject({ status: 'rejected', modelVersion: 3 });
    await rollback(ws.deps, 'bands', {});
    expect((await ws.deps.registry.getServing('bands'))?.version).toBe(1);
  });
});

describe('scheduled runs that fail', () => {
  it('records a vanished dataset location as a failed run and keeps the serving model', async () => {
    await ws.writeData(FLOW_DATA.v1);
    await createSchedule(ws.deps, ws.scheduleInput());
    expect((await settle(await fireNightly())).status).toBe('promoted');
    await ws.removeData();
    const run = await fireNightly();
    expect(run.status).toBe('failed');
    expect(run.reason).toMatch(/^dataset\.uri: .*train-images-idx3-ubyte/);
    expect(run.finishedAt).toBeDefined();
    expect((await ws.deps.registry.getServing('bands'))?.version).toBe(1);
    // Not stuck: the next fire with the data back runs again.
    await ws.writeData(FLOW_DATA.v2);
    expect((await fireNightly()).status).toBe('running');
  });

  it('records a failed sweep as a failed run and keeps the serving model', async () => {
    await ws.writeData(FLOW_DATA.v1);
    await createSchedule(ws.deps, ws.scheduleInput());
    expect((await settle(await fireNightly())).status).toBe('promoted');
    await ws.writeData(FLOW_DATA.v2);
    ws.executor.failAll = true;
    const run = await settle(await fireNightly());
    expect(run.status).toBe('failed');
    expect(run.reason).toMatch(/sweep sweep-0002 failed: no variant completed every fold/);
    expect((await ws.deps.registry.getServing('bands'))?.version).toBe(1);
    expect(await ws.deps.registry.listVersions('bands')).toHaveLength(1);
  });

  it('answers NotFound for an unknown schedule', async () => {
    await expect(runSchedule(ws.deps, 'nope')).rejects.toMatchObject({ name: 'NotFoundError' });
  });
});

describe('createSchedule() bad input', () => {
  /** Asserts a ValidationError naming `path`, and that nothing was stored or triggered. */
  async function expectRejected(input: unknown, path: string, message: RegExp) {
    const error = await createSchedule(ws.deps, input).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    const issue = (error as ValidationError).issues.find((i) => i.path === path);
    expect(issue, `issues: ${JSON.stringify((error as ValidationError).issues)}`).toBeDefined();
    expect(issue?.message).toMatch(message);
    expect(await ws.deps.schedules.listSchedules()).toEqual([]);
    expect(await ws.scheduler.list()).toEqual([]);
  }

  beforeEach(async () => {
    await ws.writeData(FLOW_DATA.v1);
  });

  it('rejects an invalid cron expression', async () => {
    await expectRejected(ws.scheduleInput({ cron: '0 25 * * *' }), 'cron', /hour: 25/);
    await expectRejected(ws.scheduleInput({ cron: '0 2 * *' }), 'cron', /give exactly 5/);
    await expectRejected(ws.scheduleInput({ cron: '@daily' }), 'cron', /nicknames/);
    await expectRejected(ws.scheduleInput({ cron: '0 2 1 * MON' }), 'cron', /not both/);
    await expectRejected(ws.scheduleInput({ cron: '0 0 31 2 *' }), 'cron', /never fires/);
  });

  it('rejects an unknown time zone', async () => {
    await expectRejected(
      ws.scheduleInput({ timezone: 'Mars/Olympus' }),
      'timezone',
      /not an IANA time zone/,
    );
  });

  it('rejects a template that fails SweepSpec validation, naming template fields', async () => {
    const base = ws.scheduleInput();
    const template = base.template as Record<string, unknown>;
    await expectRejected(
      { ...base, template: { ...template, folds: 1 } },
      'template.folds',
      /at least 2/,
    );
    await expectRejected(
      { ...base, template: { ...template, learning_rate: 1 } },
      'template.learning_rate',
      /unknown field/,
    );
    await expectRejected(
      { ...base, template: { ...template, holdoutFraction: 0 } },
      'template.holdoutFraction',
      /above 0/,
    );
    await expectRejected(
      { ...base, template: { ...template, dataset: base.dataset } },
      'template.dataset',
      /top level/,
    );
    await expectRejected(
      {
        ...base,
        template: { ...template, searchSpace: { freezeDepth: [9], lrMultiplier: [1] } },
      },
      'template.searchSpace.freezeDepth.0',
      /beyond/,
    );
  });

  it('rejects a dataset location that does not exist', async () => {
    await ws.removeData();
    await expectRejected(ws.scheduleInput(), 'dataset.uri', /train-images-idx3-ubyte/);
  });

  it('rejects a second schedule with the same id', async () => {
    await createSchedule(ws.deps, ws.scheduleInput());
    await expect(createSchedule(ws.deps, ws.scheduleInput())).rejects.toBeInstanceOf(ConflictError);
  });
});

describe('syncTriggers()', () => {
  it('puts missing triggers and deletes those of schedules that are gone', async () => {
    await ws.writeData(FLOW_DATA.v1);
    await createSchedule(ws.deps, ws.scheduleInput({ id: 'a' }));
    await createSchedule(ws.deps, ws.scheduleInput({ id: 'b', cron: '30 3 * * MON-FRI' }));
    await ws.scheduler.delete('b');
    await ws.scheduler.put({ scheduleId: 'orphan', cron: '0 1 * * *', timezone: 'UTC' });
    expect(await syncTriggers(ws.deps)).toEqual({ put: ['b'], deleted: ['orphan'] });
    expect((await ws.scheduler.list()).map((t) => t.scheduleId)).toEqual(['a', 'b']);
    expect(await syncTriggers(ws.deps)).toEqual({ put: [], deleted: [] });
  });
});
