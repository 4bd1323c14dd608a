import {
  DescribeTableCommand,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DynamoStateStore } from '../../../shared/adapters/aws/dynamo-state-store.js';
import { STATE_TABLE } from '../../../shared/adapters/aws/dynamo-table.js';
import {
  ConflictError,
  FoldsweepError,
  NotFoundError,
  ValidationError,
} from '../../../shared/errors.js';
import type { SweepRecord } from '../../../shared/schemas/state.js';
import {
  championRecordFactory,
  stateStoreContract,
  sweepRecordFactory,
  trialRecordFactory,
} from '../../contracts/state-store.contract.js';
import { type LocalDynamo, startLocalDynamo } from '../../helpers/local-aws.js';

let dynamo: LocalDynamo;

beforeAll(async () => {
  dynamo = await startLocalDynamo();
});

afterAll(async () => {
  await dynamo?.stop();
});

stateStoreContract(
  'DynamoStateStore on dynalite',
  async () => {
    const table = await dynamo.createTable();
    return {
      store: new DynamoStateStore({ client: dynamo.doc, table }),
      cleanup: () => dynamo.deleteTable(table),
    };
    // 2,500 sweeps take ~50 s on dynalite under load (SQLite pages 2,500): 300 keep it quick.
  },
  { bulkSweeps: 300 },
);

stateStoreContract(
  'DynamoStateStore on dynalite, 2-item query pages',
  async () => {
    const table = await dynamo.createTable();
    return {
      store: new DynamoStateStore({ client: dynamo.doc, table, queryPageSize: 2 }),
      cleanup: () => dynamo.deleteTable(table),
    };
  },
  { bulkSweeps: 300 },
);

describe('DynamoStateStore', () => {
  let table: string;
  let store: DynamoStateStore;

  beforeEach(async () => {
    table = await dynamo.createTable();
    store = new DynamoStateStore({ client: dynamo.doc, table });
  });

  afterEach(async () => {
    await dynamo.deleteTable(table);
  });

  const rawItem = async (pk: string, sk: string) =>
    (await dynamo.doc.send(new GetCommand({ TableName: table, Key: { pk, sk } }))).Item;

  describe('table layout', () => {
    it('creates the table with the key schema and both indexes of STATE_TABLE', async () => {
      const { Table } = await dynamo.client.send(new DescribeTableCommand({ TableName: table }));

      expect(Table?.KeySchema).toEqual([
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ]);
      expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName).sort()).toEqual([
        STATE_TABLE.indexes.byCreated.name,
        STATE_TABLE.indexes.byStatus.name,
      ]);
    });

    it('keeps a sweep, its trials and its champion in the partition SWEEP#<id>', async () => {
      // Prepare
      const sweep = sweepRecordFactory({ id: 'sw-1', status: 'running' });

      // Act
      await store.createSweep(sweep);
      await store.putTrial(trialRecordFactory({ sweepId: 'sw-1', trialIndex: 7 }));
      await store.promoteChampion(championRecordFactory({ sweepId: 'sw-1' }));

      // Assess
      expect(await rawItem('SWEEP#sw-1', 'SWEEP')).toMatchObject({
        ...sweep,
        gsi1pk: 'SWEEPS',
        gsi1sk: `${sweep.createdAt}#sw-1`,
        gsi2pk: 'SWEEPS#running',
        gsi2sk: `${sweep.createdAt}#sw-1`,
      });
      expect(await rawItem('SWEEP#sw-1', 'TRIAL#00007')).toMatchObject({ trialIndex: 7 });
      expect(await rawItem('SWEEP#sw-1', 'CHAMPION')).toMatchObject({ sweepId: 'sw-1' });
    });

    it('moves a sweep to its new status partition of gsi2 on a status update', async () => {
      await store.createSweep(sweepRecordFactory({ id: 'sw-1', status: 'running' }));

      await store.updateSweep('sw-1', { status: 'completed' });

      expect(await rawItem('SWEEP#sw-1', 'SWEEP')).toMatchObject({
        status: 'completed',
        gsi2pk: 'SWEEPS#completed',
      });
    });

    it('stores a record without the fields it leaves undefined', async () => {
      const sweep = { ...sweepRecordFactory({ id: 'sw-1' }), name: undefined, error: undefined };

      await store.createSweep(sweep);

      const item = await rawItem('SWEEP#sw-1', 'SWEEP');
      expect(item).not.toHaveProperty('name');
      expect(item).not.toHaveProperty('error');
    });
  });

  describe('updateSweep()', () => {
    it('names the sweep, the expected statuses and the actual one in a ConflictError', async () => {
      await store.createSweep(sweepRecordFactory({ id: 'sw-1', status: 'completed' }));

      const update = store.updateSweep(
        'sw-1',
        { status: 'aggregating' },
        { expectStatus: ['running', 'pending'] },
      );

      await expect(update).rejects.toBeInstanceOf(ConflictError);
      await expect(update).rejects.toThrow(
        "sweep 'sw-1' has status 'completed', expected 'running' or 'pending'; nothing was changed",
      );
    });

    it('writes with one conditional UpdateItem, without reading first', async () => {
      await store.createSweep(sweepRecordFactory({ id: 'sw-1', status: 'running' }));
      const send = vi.spyOn(dynamo.doc, 'send');

      try {
        await store.updateSweep(
          'sw-1',
          { status: 'aggregating', updatedAt: '2025-01-01T10:05:00.000Z' },
          { expectStatus: ['running', 'aggregating'] },
        );

        expect(send).toHaveBeenCalledTimes(1);
        const [command] = send.mock.calls[0];
        expect(command).toBeInstanceOf(UpdateCommand);
        expect((command as UpdateCommand).input.ConditionExpression).toBe(
          'attribute_exists(#pk) AND #status IN (:s0, :s1)',
        );
      } finally {
        send.mockRestore();
      }
    });

    it('keeps id, createdAt and spec, and ignores undefined patch fields', async () => {
      const sweep = sweepRecordFactory({ id: 'sw-1', error: 'keep me' });
      await store.createSweep(sweep);
      const sneaky = {
        id: 'other',
        createdAt: '1999-01-01T00:00:00.000Z',
        spec: { ...sweep.spec, folds: 9 },
        error: undefined,
        trialsTotal: 12,
        pk: 'SWEEP#other',
        gsi1sk: '0000',
      } as unknown as Partial<SweepRecord>;

      const updated = await store.updateSweep('sw-1', sneaky);

      expect(updated).toEqual({ ...sweep, trialsTotal: 12 });
      expect(await store.getSweep('other')).toBeUndefined();
      expect(await rawItem('SWEEP#sw-1', 'SWEEP')).toMatchObject({
        gsi1sk: `${sweep.createdAt}#sw-1`,
      });
    });

    it('returns the stored record for an empty patch, still checking expectStatus', async () => {
      const sweep = sweepRecordFactory({ id: 'sw-1', status: 'running' });
      await store.createSweep(sweep);

      expect(await store.updateSweep('sw-1', {}, { expectStatus: ['running'] })).toEqual(sweep);
      await expect(
        store.updateSweep('sw-1', { error: undefined }, { expectStatus: ['pending'] }),
      ).rejects.toBeInstanceOf(ConflictError);
      await expect(store.updateSweep('missing', {})).rejects.toBeInstanceOf(NotFoundError);
    });

    it('always conflicts for an empty expectStatus, unless the sweep is missing', async () => {
      const sweep = sweepRecordFactory({ id: 'sw-1', status: 'running' });
      await store.createSweep(sweep);

      const update = store.updateSweep('sw-1', { status: 'failed' }, { expectStatus: [] });

      await expect(update).rejects.toThrow(/expected \(none given\)/);
      expect(await store.getSweep('sw-1')).toEqual(sweep);
      await expect(
        store.updateSweep('missing', { status: 'failed' }, { expectStatus: [] }),
      ).rejects.toBeInstanceOf(NotFoundError);
    });

    it('rejects a patch that makes the record invalid and changes nothing', async () => {
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
      for (const id of ['b', 'c', 'a']) {
        await store.createSweep(sweepRecordFactory({ id, createdAt: '2025-01-01T10:00:00.000Z' }));
      }

      expect((await store.listSweeps()).map((s) => s.id)).toEqual(['c', 'b', 'a']);
    });

    it('pages through the index and stops once it has `limit` sweeps', async () => {
      const paged = new DynamoStateStore({ client: dynamo.doc, table, queryPageSize: 2 });
      for (let minute = 0; minute < 7; minute++) {
        await paged.createSweep(
          sweepRecordFactory({
            id: `s${minute}`,
            status: minute % 2 ? 'running' : 'completed',
            createdAt: `2025-01-01T10:0${minute}:00.000Z`,
          }),
        );
      }
      const send = vi.spyOn(dynamo.doc, 'send');

      try {
        const all = await paged.listSweeps();
        const queriesForAll = send.mock.calls.length;
        send.mockClear();
        const newestThree = await paged.listSweeps({ limit: 3 });
        const queriesForThree = send.mock.calls.length;
        const completed = await paged.listSweeps({ status: 'completed' });

        expect(all.map((s) => s.id)).toEqual(['s6', 's5', 's4', 's3', 's2', 's1', 's0']);
        expect(queriesForAll).toBe(4);
        expect(newestThree.map((s) => s.id)).toEqual(['s6', 's5', 's4']);
        expect(queriesForThree).toBe(2);
        expect(completed.map((s) => s.id)).toEqual(['s6', 's4', 's2', 's0']);
      } finally {
        send.mockRestore();
      }
    });

    it('returns nothing for limit 0 and rejects a negative or fractional limit', async () => {
      await store.createSweep(sweepRecordFactory());

      expect(await store.listSweeps({ limit: 0 })).toEqual([]);
      await expect(store.listSweeps({ limit: -1 })).rejects.toBeInstanceOf(ValidationError);
      await expect(store.listSweeps({ limit: 1.5 })).rejects.toThrow(/limit/);
    });
  });

  describe('listTrials()', () => {
    it('pages through a sweep of many trials, in trialIndex order past 99,999', async () => {
      const paged = new DynamoStateStore({ client: dynamo.doc, table, queryPageSize: 4 });
      const indexes = [100_000, 3, 99_999, 0, 12, 1, 5, 250_000, 42, 7];
      for (const trialIndex of indexes) {
        await paged.putTrial(trialRecordFactory({ sweepId: 'sw-1', trialIndex }));
      }
      await paged.createSweep(sweepRecordFactory({ id: 'sw-1' }));
      await paged.promoteChampion(championRecordFactory({ sweepId: 'sw-1' }));

      const trials = await paged.listTrials('sw-1');

      expect(trials.map((t) => t.trialIndex)).toEqual([...indexes].sort((a, b) => a - b));
    });
  });

  describe('writes', () => {
    it('rejects invalid records with a ValidationError naming the field, storing nothing', async () => {
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

  describe('bad items', () => {
    const putRaw = (item: Record<string, unknown>) =>
      dynamo.doc.send(new PutCommand({ TableName: table, Item: item }));

    it('fails reading a sweep that breaks the schema, naming the table, item and field', async () => {
      await store.createSweep(sweepRecordFactory({ id: 'broken' }));
      const item = await rawItem('SWEEP#broken', 'SWEEP');
      await putRaw({ ...item, trialsTotal: 'six' });

      const read = store.getSweep('broken');

      await expect(read).rejects.toBeInstanceOf(FoldsweepError);
      await expect(read).rejects.toThrow(
        `state store DynamoDB table '${table}': item (pk 'SWEEP#broken', sk 'SWEEP') is corrupt`,
      );
      await expect(read).rejects.toThrow(/trialsTotal/);
      await expect(store.listSweeps()).rejects.toThrow(/trialsTotal/);
    });

    it('fails reading an item whose fields belong to another key', async () => {
      await store.createSweep(sweepRecordFactory({ id: 'one' }));
      const item = await rawItem('SWEEP#one', 'SWEEP');
      await putRaw({ ...item, id: 'two' });

      await expect(store.getSweep('one')).rejects.toThrow(/'SWEEP#one'.*id 'two'/);
    });

    it('fails reading bad trial and champion items', async () => {
      await store.putTrial(trialRecordFactory({ sweepId: 's', trialIndex: 3 }));
      await store.promoteChampion(championRecordFactory({ sweepId: 's' }));
      await putRaw({ ...(await rawItem('SWEEP#s', 'TRIAL#00003')), status: 'exploded' });
      const { modelPrefix: _dropped, ...champion } = (await rawItem('SWEEP#s', 'CHAMPION')) ?? {};
      await putRaw(champion);

      await expect(store.listTrials('s')).rejects.toThrow(/'TRIAL#00003'.*status/);
      await expect(store.getChampion('s')).rejects.toThrow(/'CHAMPION'.*modelPrefix/);
    });
  });

  describe('constructor', () => {
    it('rejects an empty table name and a bad page size', () => {
      expect(() => new DynamoStateStore({ client: dynamo.doc, table: '' })).toThrow(/table/);
      expect(
        () => new DynamoStateStore({ client: dynamo.doc, table: 't', queryPageSize: 0 }),
      ).toThrow(/queryPageSize/);
    });
  });

  describe('errors that no local server produces (mocked client)', () => {
    const doc = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        region: 'us-east-1',
        credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      }),
    );
    const mock = mockClient(doc);
    const mocked = new DynamoStateStore({ client: doc, table: 'state' });
    const throttled = new ProvisionedThroughputExceededException({
      message: 'Rate of requests exceeds the allowed throughput (mocked)',
      $metadata: { httpStatusCode: 400 },
    });

    afterEach(() => {
      mock.reset();
    });

    afterAll(() => {
      mock.restore();
      doc.destroy();
    });

    it('rethrows ProvisionedThroughputExceeded from every operation as the SDK raised it', async () => {
      mock.on(PutCommand).rejects(throttled);
      mock.on(GetCommand).rejects(throttled);
      mock.on(UpdateCommand).rejects(throttled);
      mock.on(QueryCommand).rejects(throttled);

      await expect(mocked.createSweep(sweepRecordFactory())).rejects.toBe(throttled);
      await expect(mocked.getSweep('s')).rejects.toBe(throttled);
      await expect(mocked.listSweeps()).rejects.toBe(throttled);
      await expect(mocked.updateSweep('s', { status: 'running' })).rejects.toBe(throttled);
      await expect(mocked.putTrial(trialRecordFactory())).rejects.toBe(throttled);
      await expect(mocked.listTrials('s')).rejects.toBe(throttled);
      await expect(mocked.promoteChampion(championRecordFactory())).rejects.toBe(throttled);
      await expect(mocked.getChampion('s')).rejects.toBe(throttled);
    });

    it('rethrows a failed read after a lost condition, not a ConflictError', async () => {
      mock.on(UpdateCommand).rejects(
        Object.assign(new Error('The conditional request failed'), {
          name: 'ConditionalCheckFailedException',
        }),
      );
      mock.on(GetCommand).rejects(throttled);

      await expect(
        mocked.updateSweep('s', { status: 'running' }, { expectStatus: ['pending'] }),
      ).rejects.toBe(throttled);
    });
  });
});
