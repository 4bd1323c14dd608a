import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoModelRegistry } from '../../../shared/adapters/aws/dynamo-model-registry.js';
import { ConflictError, FoldsweepError, ValidationError } from '../../../shared/errors.js';
import { modelRegistryContract } from '../../contracts/model-registry.contract.js';
import { type LocalDynamo, startLocalDynamo } from '../../helpers/local-aws.js';
import { modelVersionFactory } from '../../helpers/retrain-fixtures.js';

let dynamo: LocalDynamo;

beforeAll(async () => {
  dynamo = await startLocalDynamo();
});

afterAll(async () => {
  await dynamo?.stop();
});

modelRegistryContract('DynamoModelRegistry on dynalite', async () => {
  const table = await dynamo.createTable();
  return {
    store: new DynamoModelRegistry({ client: dynamo.doc, table }),
    cleanup: () => dynamo.deleteTable(table),
  };
});

modelRegistryContract('DynamoModelRegistry on dynalite, 1-item query pages', async () => {
  const table = await dynamo.createTable();
  return {
    store: new DynamoModelRegistry({ client: dynamo.doc, table, queryPageSize: 1 }),
    cleanup: () => dynamo.deleteTable(table),
  };
});

describe('DynamoModelRegistry', () => {
  let table: string;
  let registry: DynamoModelRegistry;
  const at = '2025-01-07T01:05:00.000Z';

  beforeEach(async () => {
    table = await dynamo.createTable();
    registry = new DynamoModelRegistry({ client: dynamo.doc, table });
  });

  afterEach(async () => {
    await dynamo.deleteTable(table);
  });

  const rawItem = async (pk: string, sk: string) =>
    (await dynamo.doc.send(new GetCommand({ TableName: table, Key: { pk, sk } }))).Item;
  const keysOf = async (pk: string) =>
    (
      (
        await dynamo.doc.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': pk },
          }),
        )
      ).Items ?? []
    ).map((item) => item.sk);

  it('keeps a head per model and the versions, sweep claims and events in MODEL#<name>', async () => {
    await registry.register(modelVersionFactory({ sweepId: 's1' }), {
      serve: { expectServing: null, action: 'promote', reason: 'first', at },
    });
    await registry.register(modelVersionFactory({ sweepId: 's2', decision: 'rejected' }));

    expect(await rawItem('MODELS', 'MODEL#bands')).toEqual({
      pk: 'MODELS',
      sk: 'MODEL#bands',
      modelName: 'bands',
      latestVersion: 2,
      versions: 2,
      lastCreatedAt: at,
      serving: { version: 1, since: at },
      eventSeq: 1,
      // two commits, each followed by clearing what it had pending
      rev: 4,
    });
    expect(await keysOf('MODEL#bands')).toEqual([
      'EVENT#0000000001',
      'SWEEP#s1',
      'SWEEP#s2',
      'VERSION#0000000001',
      'VERSION#0000000002',
    ]);
  });

  it('numbers concurrent registrations 1..n without gaps, and registers a sweep once however many race', async () => {
    const sweeps = Array.from({ length: 6 }, (_, i) => `s${i}`);
    // Each sweep three times, all at once (duplicate aggregation events on AWS).
    const outcomes = await Promise.all(
      [...sweeps, ...sweeps, ...sweeps].map((sweepId) =>
        registry.register(modelVersionFactory({ sweepId })),
      ),
    );
    expect(outcomes.filter((o) => o.created)).toHaveLength(6);
    const versions = await registry.listVersions('bands');
    expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Set(versions.map((v) => v.sweepId))).toEqual(new Set(sweeps));
    for (const o of outcomes) {
      expect(o.version).toEqual(versions.find((v) => v.sweepId === o.version.sweepId));
    }
  });

  it('lets exactly one of concurrent promotions against the same serving version win', async () => {
    await registry.register(modelVersionFactory({ sweepId: 's1' }), {
      serve: { expectServing: null, action: 'promote', reason: 'first', at },
    });
    const results = await Promise.allSettled(
      ['s2', 's3', 's4'].map((sweepId) =>
        registry.register(modelVersionFactory({ sweepId }), {
          serve: { expectServing: 1, action: 'promote', reason: sweepId, at },
        }),
      ),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConflictError);
    }
    // Losers stored nothing.
    expect(await registry.listVersions('bands')).toHaveLength(2);
    expect((await registry.getServing('bands'))?.version).toBe(2);
    expect((await registry.listEvents('bands')).map((e) => [e.seq, e.toVersion])).toEqual([
      [1, 1],
      [2, 2],
    ]);
  });

  it('finishes a commit whose writer stopped before copying it into its items', async () => {
    await registry.register(modelVersionFactory({ sweepId: 's1' }), {
      serve: { expectServing: null, action: 'promote', reason: 'first', at },
    });
    // The head after a committed promotion of v2 whose version, claim and event were not
    // written yet.
    const v2 = { ...modelVersionFactory({ sweepId: 's2' }), version: 2 };
    const event = {
      modelName: 'bands',
      seq: 2,
      action: 'promote',
      fromVersion: 1,
      toVersion: 2,
      reason: 'better',
      at,
    };
    await dynamo.doc.send(
      new PutCommand({
        TableName: table,
        Item: {
          pk: 'MODELS',
          sk: 'MODEL#bands',
          modelName: 'bands',
          latestVersion: 2,
          versions: 2,
          lastCreatedAt: at,
          serving: { version: 2, since: at },
          eventSeq: 2,
          rev: 9,
          pending: { version: v2, event },
        },
      }),
    );

    // The same sweep again is the committed version (a redelivered aggregation event).
    expect(await registry.register(modelVersionFactory({ sweepId: 's2' }))).toEqual({
      created: false,
      version: v2,
    });
    expect(await rawItem('MODELS', 'MODEL#bands')).not.toHaveProperty('pending');
    expect(await registry.getVersion('bands', 2)).toEqual(v2);
    expect(await registry.listEvents('bands')).toEqual([expect.anything(), event]);
    const v3 = await registry.register(modelVersionFactory({ sweepId: 's3' }));
    expect(v3.version.version).toBe(3);
  });

  it('reads a committed version before its copy exists', async () => {
    const v1 = { ...modelVersionFactory({ sweepId: 's1' }), version: 1 };
    await dynamo.doc.send(
      new PutCommand({
        TableName: table,
        Item: {
          pk: 'MODELS',
          sk: 'MODEL#bands',
          modelName: 'bands',
          latestVersion: 1,
          versions: 1,
          lastCreatedAt: at,
          eventSeq: 0,
          rev: 1,
          pending: { version: v1 },
        },
      }),
    );
    expect(await registry.getVersion('bands', 1)).toEqual(v1);
    expect(await registry.getVersion('bands', 2)).toBeUndefined();
    expect(await rawItem('MODEL#bands', 'SWEEP#s1')).toMatchObject({ version: 1 });
  });

  it('rejects bad input naming the field, and reports a corrupt item with its key', async () => {
    expect(() => new DynamoModelRegistry({ client: dynamo.doc, table: '' })).toThrow(
      ValidationError,
    );
    await expect(
      registry.register(modelVersionFactory({ modelName: 'no spaces' })),
    ).rejects.toThrow(/modelName/);
    await expect(
      registry.setServing('bands', 1, { expectServing: null, action: 'rollback', reason: 'x', at }),
    ).rejects.toThrow(/bands v1/);
    await dynamo.doc.send(
      new PutCommand({
        TableName: table,
        Item: { pk: 'MODELS', sk: 'MODEL#bands', modelName: 'bands', latestVersion: 'x' },
      }),
    );
    const read = registry.listModels();
    await expect(read).rejects.toBeInstanceOf(FoldsweepError);
    await expect(read).rejects.toThrow(/pk 'MODELS', sk 'MODEL#bands'.*latestVersion/);
  });
});
