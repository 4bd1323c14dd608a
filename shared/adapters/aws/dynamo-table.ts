import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/**
 * The one DynamoDB table behind DynamoStateStore (single-table design). Infra and tests create
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
