import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ValidationError } from '../../errors.js';

/**
 * The one DynamoDB table behind DynamoStateStore, DynamoScheduleStore and DynamoModelRegistry
 * (single-table design). Infra and tests create
 * the table from this, so the key schema cannot drift from the adapter.
 *
 * - sweep: pk `SWEEP#<id>`, sk `SWEEP`; gsi1pk `SWEEPS`, gsi1sk `<createdAt>#<id>`;
 *   gsi2pk `SWEEPS#<status>`, gsi2sk `<createdAt>#<id>`
 * - trial: pk `SWEEP#<sweepId>`, sk `TRIAL#<trialIndex, 5 digits>` (`TRIAL#00042`)
 * - champion: pk `SWEEP#<sweepId>`, sk `CHAMPION`
 *
 * `gsi1` lists every sweep newest first, `gsi2` the sweeps of one status newest first. Both
 * project all attributes. Every key attribute is a string. The record's own fields sit beside
 * the key attributes as plain attributes.
 *
 * DynamoScheduleStore (no index needed: every read is a key lookup or a query of one partition):
 * - schedule: pk `SCHEDULES`, sk `SCHEDULE#<id>` (one partition: listing is a strongly
 *   consistent query in id order; there are few schedules)
 * - run: pk `SCHEDULE#<id>`, sk `RUN#<firedAt>` (ISO times sort as strings: newest first is a
 *   backwards query)
 * - the schedule's running run: pk `SCHEDULE#<id>`, sk `ACTIVE_RUN` (create-once: at most one
 *   running run per schedule)
 * - the run that started a sweep: pk `SWEEP#<sweepId>`, sk `SCHEDULE_RUN` (findRunBySweep)
 *
 * DynamoModelRegistry:
 * - model head: pk `MODELS`, sk `MODEL#<name>`: version counter, serving pointer, event
 *   counter and a revision; every registry write is one compare-and-set on it
 * - version: pk `MODEL#<name>`, sk `VERSION#<version, 10 digits>`
 * - the version a sweep was registered as: pk `MODEL#<name>`, sk `SWEEP#<sweepId>`
 * - promotion event: pk `MODEL#<name>`, sk `EVENT#<seq, 10 digits>`
 *
 * @example
 * await dynamo.send(new CreateTableCommand(stateTableInput('foldsweep-state')));
 */
export const STATE_TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Every key attribute of the table and its indexes (all strings). */
  attributes: ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk'],
  indexes: {
    /** All sweeps, newest first: gsi1pk = 'SWEEPS', gsi1sk = `<createdAt>#<id>`. */
    byCreated: { name: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
    /** Sweeps of one status, newest first: gsi2pk = `SWEEPS#<status>`, gsi2sk as gsi1sk. */
    byStatus: { name: 'gsi2', partitionKey: 'gsi2pk', sortKey: 'gsi2sk' },
  },
} as const;

/** Attributes that hold keys, not record fields: dropped before a record is validated. */
export const KEY_ATTRIBUTES: ReadonlySet<string> = new Set(STATE_TABLE.attributes);

export const sweepPk = (sweepId: string) => `SWEEP#${sweepId}`;
export const SWEEP_SK = 'SWEEP';
export const CHAMPION_SK = 'CHAMPION';
export const TRIAL_SK_PREFIX = 'TRIAL#';
/** Zero-padded so sk order is trialIndex order up to 99,999 (listTrials also sorts by number). */
export const trialSk = (trialIndex: number) =>
  `${TRIAL_SK_PREFIX}${String(trialIndex).padStart(5, '0')}`;
export const ALL_SWEEPS = 'SWEEPS';
export const sweepsWithStatus = (status: string) => `SWEEPS#${status}`;
/** Sorts by createdAt, then id, as strings (the order SqliteStateStore lists in). */
export const createdSortKey = (createdAt: string, id: string) => `${createdAt}#${id}`;

export const SCHEDULES_PK = 'SCHEDULES';
export const scheduleSk = (id: string) => `SCHEDULE#${id}`;
/** The partition of one schedule's runs (and its running-run marker). */
export const schedulePk = (id: string) => `SCHEDULE#${id}`;
export const RUN_SK_PREFIX = 'RUN#';
export const runSk = (firedAt: string) => `${RUN_SK_PREFIX}${firedAt}`;
export const ACTIVE_RUN_SK = 'ACTIVE_RUN';
/** In the sweep's partition: which schedule run started the sweep. */
export const SCHEDULE_RUN_SK = 'SCHEDULE_RUN';

export const MODELS_PK = 'MODELS';
export const modelHeadSk = (name: string) => `MODEL#${name}`;
export const modelPk = (name: string) => `MODEL#${name}`;
export const VERSION_SK_PREFIX = 'VERSION#';
export const versionSk = (version: number) =>
  `${VERSION_SK_PREFIX}${String(version).padStart(10, '0')}`;
export const modelSweepSk = (sweepId: string) => `SWEEP#${sweepId}`;
export const EVENT_SK_PREFIX = 'EVENT#';
export const eventSk = (seq: number) => `${EVENT_SK_PREFIX}${String(seq).padStart(10, '0')}`;

/** What every adapter of the state table is built from. */
export interface DynamoTableOptions {
  client: DynamoDBDocumentClient;
  table: string;
  /**
   * Query `Limit` per page (default: none, so DynamoDB pages at 1 MB). Tests set it small to
   * exercise pagination without writing megabytes.
   */
  queryPageSize?: number;
}

/** The options, checked: a ValidationError names the bad one. */
export function checkTableOptions(options: DynamoTableOptions): DynamoTableOptions {
  const { table, queryPageSize } = options;
  if (typeof table !== 'string' || table === '') {
    throw ValidationError.single('table', 'give the name of the DynamoDB state table');
  }
  if (queryPageSize !== undefined && !(Number.isInteger(queryPageSize) && queryPageSize >= 1)) {
    throw ValidationError.single(
      'queryPageSize',
      `must be a positive integer, got ${queryPageSize}`,
    );
  }
  return options;
}

/** A failed ConditionExpression (a create-once or compare-and-set write that lost). */
export function isConditionFailed(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

/**
 * A copy without `undefined` anywhere (the document client rejects them unless configured with
 * `removeUndefinedValues`, and the adapters do not own the client's configuration).
 */
export function stripUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => stripUndefined(v)) as T;
  if (
    value !== null &&
    typeof value === 'object' &&
    Object.getPrototypeOf(value) === Object.prototype
  ) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, stripUndefined(v)]),
    ) as T;
  }
  return value;
}

/** CreateTable input for the state table: on-demand billing, both indexes projecting all. */
export function stateTableInput(tableName: string): CreateTableCommandInput {
  const { indexes } = STATE_TABLE;
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: STATE_TABLE.attributes.map((name) => ({
      AttributeName: name,
      AttributeType: 'S',
    })),
    KeySchema: [
      { AttributeName: STATE_TABLE.partitionKey, KeyType: 'HASH' },
      { AttributeName: STATE_TABLE.sortKey, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [indexes.byCreated, indexes.byStatus].map((index) => ({
      IndexName: index.name,
      KeySchema: [
        { AttributeName: index.partitionKey, KeyType: 'HASH' },
        { AttributeName: index.sortKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    })),
  };
}
