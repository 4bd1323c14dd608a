import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoScheduleStore } from '../../../shared/adapters/aws/dynamo-schedule-store.js';
import { ConflictError, FoldsweepError, ValidationError } from '../../../shared/errors.js';
import { scheduleStoreContract } from '../../contracts/schedule-store.contract.js';
import { type LocalDynamo, startLocalDynamo } from '../../helpers/local-aws.js';
import { scheduleRecordFactory, scheduleRunFactory } from '../../helpers/retrain-fixtures.js';

let dynamo: LocalDynamo;

beforeAll(async () => {
  dynamo = await startLocalDynamo();
});

afterAll(async () => {
  await dynamo?.stop();
});

scheduleStoreContract('DynamoScheduleStore on dynalite', async () => {
  const table = await dynamo.createTable();
  return {
    store: new DynamoScheduleStore({ client: dynamo.doc, table }),
    cleanup: () => dynamo.deleteTable(table),
  };
});

scheduleStoreContract('DynamoScheduleStore on dynalite, 2-item query pages', async () => {
  const table = await dynamo.createTable();
  return {
    store: new DynamoScheduleStore({ client: dynamo.doc, table, queryPageSize: 2 }),
    cleanup: () => dynamo.deleteTable(table),
  };
});

describe('DynamoScheduleStore', () => {
  let table: string;
  let store: DynamoScheduleStore;

  beforeEach(async () => {
    table = await dynamo.createTable();
    store = new DynamoScheduleStore({ client: dynamo.doc, table });
  });

  afterEach(async () => {
    await dynamo.deleteTable(table);
  });

  const rawItem = async (pk: string, sk: string) =>
    (await dynamo.doc.send(new GetCommand({ TableName: table, Key: { pk, sk } }))).Item;
  const partition = async (pk: string) =>
    (
      await dynamo.doc.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk },
        }),
      )
    ).Items ?? [];

  it('lays out schedules, runs, the running-run marker and the sweep pointer as dynamo-table.ts says', async () => {
    await store.createSchedule(scheduleRecordFactory());
    const run = scheduleRunFactory();
    await store.createRun(run);
    expect(await rawItem('SCHEDULES', 'SCHEDULE#nightly')).toMatchObject({ id: 'nightly' });
    expect(await rawItem('SCHEDULE#nightly', `RUN#${run.firedAt}`)).toMatchObject({
      status: 'running',
      _rev: 0,
    });
    expect(await rawItem('SCHEDULE#nightly', 'ACTIVE_RUN')).toMatchObject({
      firedAt: run.firedAt,
      run: { status: 'running' },
    });

    await store.updateRun('nightly', run.firedAt, { sweepId: 'sw-9' });
    expect(await rawItem('SWEEP#sw-9', 'SCHEDULE_RUN')).toMatchObject({
      scheduleId: 'nightly',
      firedAt: run.firedAt,
    });
    await store.updateRun('nightly', run.firedAt, { status: 'promoted' });
    // The run ended: the marker is gone, the run item counted its writes.
    expect(await rawItem('SCHEDULE#nightly', 'ACTIVE_RUN')).toBeUndefined();
    expect(await rawItem('SCHEDULE#nightly', `RUN#${run.firedAt}`)).toMatchObject({ _rev: 2 });

    await store.deleteSchedule('nightly');
    expect(await partition('SCHEDULE#nightly')).toEqual([]);
    expect(await rawItem('SWEEP#sw-9', 'SCHEDULE_RUN')).toBeUndefined();
    expect(await store.findRunBySweep('sw-9')).toBeUndefined();
  });

  it('records exactly one of many concurrent running runs of a schedule, and one per slot', async () => {
    await store.createSchedule(scheduleRecordFactory());
    const slots = Array.from({ length: 8 }, (_, i) =>
      scheduleRunFactory({ firedAt: `2025-01-${String(10 + i)}T01:00:00.000Z` }),
    );
    // Every slot twice, all at once.
    const outcomes = await Promise.all([...slots, ...slots].map((r) => store.createRun(r)));
    const created = outcomes.filter((o) => o.created);
    expect(created).toHaveLength(1);
    const winner = created[0].run;
    for (const o of outcomes) {
      if (o.created) continue;
      if (o.run.firedAt === winner.firedAt) expect(o.reason).toMatch(/duplicate|overlap/);
      else expect(o).toMatchObject({ reason: 'overlap', run: { firedAt: winner.firedAt } });
    }
    // The twin of the winning slot is a duplicate of it.
    const twins = outcomes.filter((o) => !o.created && o.reason === 'duplicate');
    expect(twins.map((o) => o.run.firedAt)).toEqual([winner.firedAt]);
    const runs = await store.listRuns('nightly');
    expect(runs).toEqual([winner]);
  });

  it('writes the run of a claimant that stopped after claiming, from the marker, and answers overlap with it', async () => {
    const stranded = scheduleRunFactory({ firedAt: '2025-01-07T01:00:00.000Z' });
    // The marker alone: its writer stopped before writing the run item.
    await dynamo.doc.send(
      new PutCommand({
        TableName: table,
        Item: {
          pk: 'SCHEDULE#nightly',
          sk: 'ACTIVE_RUN',
          firedAt: stranded.firedAt,
          _claim: 'c-1',
          run: stranded,
        },
      }),
    );
    const next = scheduleRunFactory({ firedAt: '2025-01-08T01:00:00.000Z' });

    expect(await store.createRun(next)).toEqual({
      created: false,
      reason: 'overlap',
      run: stranded,
    });
    expect(await store.getRun('nightly', stranded.firedAt)).toEqual(stranded);
    // Ending it frees the schedule, as for any run.
    await store.updateRun('nightly', stranded.firedAt, { status: 'failed', reason: 'gone' });
    expect(await store.createRun(next)).toEqual({ created: true, run: next });
  });

  it('releases a marker whose run already ended (its owner stopped before releasing it)', async () => {
    const ended = scheduleRunFactory({ status: 'rejected' });
    await store.createRun(ended);
    await dynamo.doc.send(
      new PutCommand({
        TableName: table,
        Item: {
          pk: 'SCHEDULE#nightly',
          sk: 'ACTIVE_RUN',
          firedAt: ended.firedAt,
          _claim: 'c-1',
          run: { ...ended, status: 'running' },
        },
      }),
    );
    const next = scheduleRunFactory({ firedAt: '2025-01-08T01:00:00.000Z' });

    expect(await store.createRun(next)).toEqual({ created: true, run: next });
    expect(await rawItem('SCHEDULE#nightly', 'ACTIVE_RUN')).toMatchObject({
      firedAt: next.firedAt,
    });
    expect((await store.getRun('nightly', ended.firedAt))?.status).toBe('rejected');
  });

  it('refuses to set a run running while another one runs, and finds runs by sweep only when they name it', async () => {
    await store.createRun(scheduleRunFactory());
    const skipped = scheduleRunFactory({
      firedAt: '2025-01-08T01:00:00.000Z',
      status: 'skipped',
    });
    await store.createRun(skipped);
    await expect(
      store.updateRun('nightly', skipped.firedAt, { status: 'running' }),
    ).rejects.toThrow(/already has a running run \(fired at 2025-01-07T01:00:00.000Z\)/);
    expect((await store.getRun('nightly', skipped.firedAt))?.status).toBe('skipped');

    // A pointer whose run does not name the sweep (its writer stopped between the two writes).
    await dynamo.doc.send(
      new PutCommand({
        TableName: table,
        Item: {
          pk: 'SWEEP#sw-x',
          sk: 'SCHEDULE_RUN',
          scheduleId: 'nightly',
          firedAt: skipped.firedAt,
        },
      }),
    );
    expect(await store.findRunBySweep('sw-x')).toBeUndefined();
  });

  it('lets one of two concurrent compare-and-set updates win and the other fail with ConflictError', async () => {
    const run = scheduleRunFactory();
    await store.createRun(run);
    const results = await Promise.allSettled([
      store.updateRun(
        'nightly',
        run.firedAt,
        { status: 'promoted' },
        { expectStatus: ['running'] },
      ),
      store.updateRun('nightly', run.firedAt, { status: 'failed' }, { expectStatus: ['running'] }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(ConflictError);
    const stored = await store.getRun('nightly', run.firedAt);
    const winner = (
      results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<unknown>
    ).value;
    expect(stored).toEqual(winner);
  });

  it('rejects bad input naming the field, and reports a corrupt item with its key', async () => {
    expect(() => new DynamoScheduleStore({ client: dynamo.doc, table: '' })).toThrow(
      ValidationError,
    );
    await expect(store.listRuns('nightly', { limit: -1 })).rejects.toThrow(/limit/);
    await expect(
      store.createSchedule({ ...scheduleRecordFactory(), cron: 5 as unknown as string }),
    ).rejects.toThrow(/cron/);
    await dynamo.doc.send(
      new PutCommand({
        TableName: table,
        Item: { pk: 'SCHEDULES', sk: 'SCHEDULE#broken', id: 'broken' },
      }),
    );
    const read = store.getSchedule('broken');
    await expect(read).rejects.toBeInstanceOf(FoldsweepError);
    await expect(read).rejects.toThrow(/pk 'SCHEDULES', sk 'SCHEDULE#broken'.*cron/);
  });
});
