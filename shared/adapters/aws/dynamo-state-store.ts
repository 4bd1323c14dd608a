import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { z } from 'zod';
import {
  ConflictError,
  FoldsweepError,
  NotFoundError,
  SweepAlreadyExistsError,
  ValidationError,
} from '../../errors.js';
import {
  CURSORS,
  checkPageLimit,
  type Page,
  type PageRequest,
  pageOf,
  sweepsCursorAfter,
} from '../../ports/paging.js';
import {
  leaseAllows,
  leaseConflict,
  type StateStore,
  type UpdateSweepOptions,
} from '../../ports/state-store.js';
import { parseOrThrow, toFieldIssues } from '../../schemas/issues.js';
import { definedFields } from '../../schemas/patch.js';
import {
  type ChampionRecord,
  ChampionRecordSchema,
  type SweepRecord,
  SweepRecordSchema,
  type SweepStatus,
  type TrialRecord,
  TrialRecordSchema,
} from '../../schemas/state.js';
import {
  ALL_SWEEPS,
  CHAMPION_SK,
  checkTableOptions,
  createdSortKey,
  type DynamoTableOptions,
  isConditionFailed,
  KEY_ATTRIBUTES,
  STATE_TABLE,
  SWEEP_SK,
  stripUndefined,
  sweepPk,
  sweepsWithStatus,
  TRIAL_SK_PREFIX,
  trialSk,
} from './dynamo-table.js';

type SweepPatch = Parameters<StateStore['updateSweep']>[1];
type Item = Record<string, unknown>;

/** The fields a patch may set: id, createdAt and spec are fixed at creation. */
const SweepPatchSchema = SweepRecordSchema.omit({
  id: true,
  createdAt: true,
  spec: true,
}).partial();

export type DynamoStateStoreOptions = DynamoTableOptions;

/**
 * StateStore over one DynamoDB table laid out by `STATE_TABLE` (see dynamo-table.ts): sweeps,
 * trials and the champion of a sweep share the partition `SWEEP#<id>`. Create-once writes use
 * `attribute_not_exists(pk)`; `updateSweep` sets only the patched attributes under a
 * `#status IN (...)` condition, so it is a compare-and-set without a read first. Every item read
 * back is validated with its zod schema.
 * Reads of one sweep, its trials and its champion are strongly consistent; `listSweeps` queries a
 * GSI, which on DynamoDB is eventually consistent (a sweep created a moment ago may be missing,
 * or listed under its old status).
 * @example
 * const state = new DynamoStateStore({
 *   client: DynamoDBDocumentClient.from(new DynamoDBClient({})),
 *   table: process.env.STATE_TABLE,
 * });
 * await state.updateSweep(id, { status: 'aggregating', updatedAt }, { expectStatus: ['running'] });
 */
export class DynamoStateStore implements StateStore {
  readonly table: string;
  private readonly client: DynamoDBDocumentClient;
  private readonly queryPageSize: number | undefined;

  constructor(options: DynamoStateStoreOptions) {
    const { client, table, queryPageSize } = checkTableOptions(options);
    this.client = client;
    this.table = table;
    this.queryPageSize = queryPageSize;
  }

  async createSweep(sweep: SweepRecord): Promise<void> {
    const record = parseOrThrow(SweepRecordSchema, sweep, 'sweep record');
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.table,
          Item: sweepItem(record),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (isConditionFailed(error)) throw new SweepAlreadyExistsError(record.id);
      throw error;
    }
  }

  async getSweep(id: string): Promise<SweepRecord | undefined> {
    const item = await this.getItem(sweepPk(id), SWEEP_SK);
    return item && this.sweepOf(item);
  }

  async listSweeps(options: { limit?: number; status?: SweepStatus } = {}): Promise<SweepRecord[]> {
    const { limit, status } = options;
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
      throw ValidationError.single('limit', `must be a non-negative integer, got ${limit}`);
    }
    if (limit === 0) return [];
    const index =
      status === undefined ? STATE_TABLE.indexes.byCreated : STATE_TABLE.indexes.byStatus;
    const items = await this.queryAll(
      {
        TableName: this.table,
        IndexName: index.name,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': index.partitionKey },
        ExpressionAttributeValues: {
          ':pk': status === undefined ? ALL_SWEEPS : sweepsWithStatus(status),
        },
        ScanIndexForward: false,
      },
      limit,
    );
    return items.map((item) => this.sweepOf(item));
  }

  /**
   * A cursor holds the last sweep's (createdAt, id); the next query starts after it with the
   * ExclusiveStartKey that sweep has in the index (its table key plus the index key).
   */
  async pageSweeps(request: PageRequest & { status?: SweepStatus }): Promise<Page<SweepRecord>> {
    const { status } = request;
    const limit = checkPageLimit(request.limit);
    const after = sweepsCursorAfter(request.cursor, status);
    const index =
      status === undefined ? STATE_TABLE.indexes.byCreated : STATE_TABLE.indexes.byStatus;
    const indexPk = status === undefined ? ALL_SWEEPS : sweepsWithStatus(status);
    const startKey = after && {
      pk: sweepPk(after.id),
      sk: SWEEP_SK,
      [index.partitionKey]: indexPk,
      [index.sortKey]: createdSortKey(after.createdAt, after.id),
    };
    const items = await this.queryAll(
      {
        TableName: this.table,
        IndexName: index.name,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': index.partitionKey },
        ExpressionAttributeValues: { ':pk': indexPk },
        ScanIndexForward: false,
      },
      limit + 1,
      startKey,
    );
    return pageOf(
      items.map((item) => this.sweepOf(item)),
      limit,
      (last) =>
        CURSORS.sweeps.encode({ createdAt: last.createdAt, id: last.id, status: status ?? null }),
    );
  }

  async updateSweep(
    id: string,
    patch: SweepPatch,
    options: UpdateSweepOptions = {},
  ): Promise<SweepRecord> {
    const expectStatus = options.expectStatus && [...new Set(options.expectStatus)];
    const { expectLease } = options;
    const fields = definedFields(
      parseOrThrow(SweepPatchSchema, definedFields(patch), `update of sweep '${id}'`),
    );
    // Nothing can satisfy an empty expectStatus, and an empty patch writes nothing: one read
    // decides both (it is linearizable, as no write happens).
    if (expectStatus?.length === 0 || Object.keys(fields).length === 0) {
      const current = await this.getSweep(id);
      if (!current) throw new NotFoundError('sweep', id);
      if (expectStatus && !expectStatus.includes(current.status)) {
        throw conflict(id, current.status, expectStatus);
      }
      if (expectLease && !leaseAllows(current.owner, expectLease)) throw leaseConflict(id, current);
      return current;
    }

    const names: Record<string, string> = { '#pk': STATE_TABLE.partitionKey };
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    Object.entries({
      ...stripUndefined(fields),
      ...(fields.status !== undefined && { gsi2pk: sweepsWithStatus(fields.status) }),
    }).forEach(([name, value], i) => {
      names[`#f${i}`] = name;
      values[`:f${i}`] = value;
      sets.push(`#f${i} = :f${i}`);
    });
    let condition = 'attribute_exists(#pk)';
    if (expectStatus) {
      names['#status'] = 'status';
      expectStatus.forEach((status, i) => {
        values[`:s${i}`] = status;
      });
      condition += ` AND #status IN (${expectStatus.map((_, i) => `:s${i}`).join(', ')})`;
    }
    if (expectLease) {
      Object.assign(names, { '#owner': 'owner', '#oid': 'id', '#until': 'leaseUntil' });
      Object.assign(values, {
        ':nullType': 'NULL',
        ':owner': expectLease.owner,
        ':now': expectLease.now,
      });
      condition +=
        ' AND (attribute_not_exists(#owner) OR attribute_type(#owner, :nullType)' +
        ' OR #owner.#oid = :owner OR #owner.#until < :now)';
    }
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: sweepPk(id), sk: SWEEP_SK },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      if (!Attributes) throw this.corrupt(sweepPk(id), SWEEP_SK, 'the update returned no item');
      return this.sweepOf(Attributes);
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      // dynalite (and DynamoDB without ReturnValuesOnConditionCheckFailure) returns no item: read
      // it to say why the write lost.
      const current = await this.getSweep(id);
      if (!current) throw new NotFoundError('sweep', id);
      if (expectLease && !leaseAllows(current.owner, expectLease)) throw leaseConflict(id, current);
      throw conflict(id, current.status, expectStatus ?? [], error);
    }
  }

  async putTrial(trial: TrialRecord): Promise<void> {
    const record = parseOrThrow(TrialRecordSchema, trial, 'trial record');
    await this.client.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          ...stripUndefined(record),
          pk: sweepPk(record.sweepId),
          sk: trialSk(record.trialIndex),
        },
      }),
    );
  }

  async listTrials(sweepId: string): Promise<TrialRecord[]> {
    const items = await this.queryAll({
      TableName: this.table,
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :trial)',
      ExpressionAttributeNames: { '#pk': STATE_TABLE.partitionKey, '#sk': STATE_TABLE.sortKey },
      ExpressionAttributeValues: { ':pk': sweepPk(sweepId), ':trial': TRIAL_SK_PREFIX },
      ConsistentRead: true,
    });
    const trials = items.map((item) => {
      const trial = this.decode(TrialRecordSchema, item);
      if (item.pk !== sweepPk(trial.sweepId) || item.sk !== trialSk(trial.trialIndex)) {
        throw this.corrupt(
          item.pk,
          item.sk,
          `it holds trial ('${trial.sweepId}', ${trial.trialIndex})`,
        );
      }
      return trial;
    });
    // sk order is index order below 100,000 only; a numeric sort makes it hold everywhere.
    return trials.sort((a, b) => a.trialIndex - b.trialIndex);
  }

  async promoteChampion(
    champion: ChampionRecord,
  ): Promise<{ created: boolean; champion: ChampionRecord }> {
    const record = parseOrThrow(ChampionRecordSchema, champion, 'champion record');
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...stripUndefined(record), pk: sweepPk(record.sweepId), sk: CHAMPION_SK },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return { created: true, champion: record };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
    const stored = await this.getChampion(record.sweepId);
    if (!stored) {
      throw this.corrupt(
        sweepPk(record.sweepId),
        CHAMPION_SK,
        'it exists for the condition but reads as missing',
      );
    }
    return { created: false, champion: stored };
  }

  async getChampion(sweepId: string): Promise<ChampionRecord | undefined> {
    const item = await this.getItem(sweepPk(sweepId), CHAMPION_SK);
    if (!item) return undefined;
    const champion = this.decode(ChampionRecordSchema, item);
    if (champion.sweepId !== sweepId) {
      throw this.corrupt(item.pk, item.sk, `it has sweepId '${champion.sweepId}'`);
    }
    return champion;
  }

  private async getItem(pk: string, sk: string): Promise<Item | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.table, Key: { pk, sk }, ConsistentRead: true }),
    );
    return Item;
  }

  /** Every item the query matches, following LastEvaluatedKey, stopping at `limit` items. */
  private async queryAll(input: QueryCommandInput, limit?: number, from?: Item): Promise<Item[]> {
    const items: Item[] = [];
    let startKey: Item | undefined = from;
    do {
      const left = limit === undefined ? undefined : limit - items.length;
      const pageSize =
        left === undefined ? this.queryPageSize : Math.min(left, this.queryPageSize ?? left);
      const page = await this.client.send(
        new QueryCommand({ ...input, Limit: pageSize, ExclusiveStartKey: startKey }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey && (limit === undefined || items.length < limit));
    return limit === undefined ? items : items.slice(0, limit);
  }

  private sweepOf(item: Item): SweepRecord {
    const sweep = this.decode(SweepRecordSchema, item);
    if (item.pk !== sweepPk(sweep.id)) {
      throw this.corrupt(item.pk, item.sk, `it has id '${sweep.id}'`);
    }
    return sweep;
  }

  private decode<S extends z.ZodType>(schema: S, item: Item): z.output<S> {
    const fields = Object.fromEntries(
      Object.entries(item).filter(([name]) => !KEY_ATTRIBUTES.has(name)),
    );
    const result = schema.safeParse(fields);
    if (result.success) return result.data;
    const issues = toFieldIssues(result.error).map((i) => `${i.path}: ${i.message}`);
    throw this.corrupt(
      item.pk,
      item.sk,
      `it is not a valid record: ${issues.join('; ')}`,
      result.error,
    );
  }

  private corrupt(pk: unknown, sk: unknown, why: string, cause?: unknown): FoldsweepError {
    return new FoldsweepError(
      `state store DynamoDB table '${this.table}': item (pk '${String(pk)}', sk '${String(sk)}') is corrupt: ${why}`,
      { cause },
    );
  }
}

function sweepItem(record: SweepRecord): Item {
  const sortKey = createdSortKey(record.createdAt, record.id);
  return {
    ...stripUndefined(record),
    pk: sweepPk(record.id),
    sk: SWEEP_SK,
    gsi1pk: ALL_SWEEPS,
    gsi1sk: sortKey,
    gsi2pk: sweepsWithStatus(record.status),
    gsi2sk: sortKey,
  };
}

function conflict(
  id: string,
  actual: SweepStatus,
  expectStatus: readonly SweepStatus[],
  cause?: unknown,
): ConflictError {
  const expected =
    expectStatus.length === 0 ? '(none given)' : expectStatus.map((s) => `'${s}'`).join(' or ');
  return new ConflictError(
    `sweep '${id}' has status '${actual}', expected ${expected}; nothing was changed`,
    { cause },
  );
}
