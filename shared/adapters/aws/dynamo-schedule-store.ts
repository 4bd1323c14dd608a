import { randomUUID } from 'node:crypto';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { z } from 'zod';
import { mapBounded } from '../../concurrency.js';
import { ConflictError, FoldsweepError, NotFoundError, ValidationError } from '../../errors.js';
import {
  CURSORS,
  checkPageLimit,
  type Page,
  type PageRequest,
  pageOf,
} from '../../ports/paging.js';
import {
  applyRunPatch,
  type CreateRunOutcome,
  type RunPatch,
  type ScheduleStore,
} from '../../ports/schedule-store.js';
import { parseOrThrow, toFieldIssues } from '../../schemas/issues.js';
import {
  type FrozenHoldout,
  FrozenHoldoutSchema,
  type RunStatus,
  type ScheduleRecord,
  ScheduleRecordSchema,
  type ScheduleRun,
  ScheduleRunSchema,
} from '../../schemas/schedule.js';
import {
  ACTIVE_RUN_SK,
  checkTableOptions,
  type DynamoTableOptions,
  isConditionFailed,
  RUN_SK_PREFIX,
  runSk,
  SCHEDULE_RUN_SK,
  SCHEDULES_PK,
  schedulePk,
  scheduleSk,
  stripUndefined,
  sweepPk,
} from './dynamo-table.js';

type Item = Record<string, unknown>;

/**
 * Attributes of a run item beside the record's fields: `_claim` names the createRun call that
 * made it (so that a call whose item another caller wrote on its behalf still knows it was its
 * own), `_rev` counts its writes (updateRun's compare-and-set).
 */
const META = new Set(['pk', 'sk', '_claim', '_rev']);

/** How often a write that lost a race is tried again before giving up. */
const MAX_ATTEMPTS = 20;

export type DynamoScheduleStoreOptions = DynamoTableOptions;

/**
 * ScheduleStore in the state table (key layout in dynamo-table.ts), with single-item
 * conditional writes only (DynamoDB transactions are not used, so dynalite runs it too):
 * - `createSchedule` and every run are create-once puts (`attribute_not_exists(pk)`).
 * - At most one running run per schedule: a `running` run first claims the schedule's
 *   `ACTIVE_RUN` item (create-once, holding a copy of the run), then writes its run item. The
 *   claim is the linearization point: a second running run finds it and answers `overlap`. If
 *   the claimant stopped between the two writes, whoever finds the claim without its run item
 *   writes the run item from the copy (create-once), so a claim never dangles; a claim whose
 *   run is no longer running (its owner stopped between finishing the run and releasing the
 *   claim) is released by whoever finds it.
 * - `updateRun` reads the run, checks `expectStatus`, validates the merged record and writes it
 *   back under a condition on the item's revision, retrying when another write came between;
 *   a run that stops running releases the claim afterwards.
 * - `findRunBySweep` reads a pointer item in the sweep's partition, written before the run
 *   records the sweep id, and trusts it only when the run does record that sweep.
 * Every read is strongly consistent (no index is used).
 * @example
 * const schedules = new DynamoScheduleStore({ client: doc, table: env.FOLDSWEEP_TABLE });
 * const outcome = await schedules.createRun(run);
 */
export class DynamoScheduleStore implements ScheduleStore {
  readonly table: string;
  private readonly client: DynamoDBDocumentClient;
  private readonly queryPageSize: number | undefined;

  constructor(options: DynamoScheduleStoreOptions) {
    const { client, table, queryPageSize } = checkTableOptions(options);
    this.client = client;
    this.table = table;
    this.queryPageSize = queryPageSize;
  }

  async createSchedule(schedule: ScheduleRecord): Promise<void> {
    const record = parseOrThrow(ScheduleRecordSchema, schedule, 'schedule record');
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...stripUndefined(record), pk: SCHEDULES_PK, sk: scheduleSk(record.id) },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      throw new ConflictError(
        `schedule '${record.id}' already exists: delete it first or choose another id`,
        { cause: error },
      );
    }
  }

  async getSchedule(id: string): Promise<ScheduleRecord | undefined> {
    const item = await this.getItem(SCHEDULES_PK, scheduleSk(id));
    return item && this.scheduleOf(item);
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    const items = await this.queryAll({
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': SCHEDULES_PK },
      ConsistentRead: true,
    });
    return items.map((item) => this.scheduleOf(item));
  }

  async pageSchedules(request: PageRequest): Promise<Page<ScheduleRecord>> {
    const limit = checkPageLimit(request.limit);
    const after =
      request.cursor === undefined ? undefined : CURSORS.schedules.decode(request.cursor);
    const items = await this.queryAll(
      {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': SCHEDULES_PK },
        ConsistentRead: true,
      },
      limit + 1,
      after && { pk: SCHEDULES_PK, sk: scheduleSk(after.id) },
    );
    return pageOf(
      items.map((item) => this.scheduleOf(item)),
      limit,
      (last) => CURSORS.schedules.encode({ id: last.id }),
    );
  }

  async setFrozenHoldout(
    id: string,
    holdout: FrozenHoldout,
  ): Promise<{ created: boolean; holdout: FrozenHoldout }> {
    const value = parseOrThrow(FrozenHoldoutSchema, holdout, 'frozen holdout');
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: SCHEDULES_PK, sk: scheduleSk(id) },
          UpdateExpression: 'SET holdout = :holdout, updatedAt = :at',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(holdout)',
          ExpressionAttributeValues: { ':holdout': stripUndefined(value), ':at': value.frozenAt },
        }),
      );
      return { created: true, holdout: value };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
    const current = await this.getSchedule(id);
    if (!current) throw new NotFoundError('schedule', id);
    if (!current.holdout) {
      throw this.corrupt(SCHEDULES_PK, scheduleSk(id), 'the holdout condition failed without one');
    }
    return { created: false, holdout: current.holdout };
  }

  async deleteSchedule(id: string): Promise<boolean> {
    const items = await this.queryAll({
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': schedulePk(id) },
      ConsistentRead: true,
    });
    await mapBounded(items, 16, async (item) => {
      const sweepId = item.sk !== ACTIVE_RUN_SK ? item.sweepId : undefined;
      if (typeof sweepId === 'string') {
        await this.deleteIf(sweepPk(sweepId), SCHEDULE_RUN_SK, {
          ConditionExpression: 'scheduleId = :id AND firedAt = :firedAt',
          ExpressionAttributeValues: { ':id': id, ':firedAt': item.firedAt },
        });
      }
      await this.deleteIf(String(item.pk), String(item.sk));
    });
    // The schedule last: a delete cut short leaves it, and deleting again finishes the job.
    const { Attributes } = await this.client.send(
      new DeleteCommand({
        TableName: this.table,
        Key: { pk: SCHEDULES_PK, sk: scheduleSk(id) },
        ReturnValues: 'ALL_OLD',
      }),
    );
    return Attributes !== undefined;
  }

  async createRun(run: ScheduleRun): Promise<CreateRunOutcome> {
    const record = parseOrThrow(ScheduleRunSchema, run, 'schedule run');
    const { scheduleId, firedAt } = record;
    if (record.status !== 'running') {
      const claim = randomUUID();
      if (await this.putRunOnce(record, claim)) return { created: true, run: record };
      return {
        created: false,
        reason: 'duplicate',
        run: await this.requireRun(scheduleId, firedAt),
      };
    }
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const claim = randomUUID();
      const held = await this.claimActive(record, claim);
      if (held) {
        // Someone else's run is active (or this very slot is being created): no claim for us.
        const same = await this.getRun(scheduleId, firedAt);
        if (same) return { created: false, reason: 'duplicate', run: same };
        const active = await this.activeRunOf(held);
        if (!active) continue; // a stale claim, released: try again
        if (active.firedAt === firedAt) return { created: false, reason: 'duplicate', run: active };
        return { created: false, reason: 'overlap', run: active };
      }
      if (await this.putRunOnce(record, claim)) return { created: true, run: record };
      const existing = await this.getItem(schedulePk(scheduleId), runSk(firedAt));
      if (!existing) throw this.corrupt(schedulePk(scheduleId), runSk(firedAt), 'it vanished');
      // Another caller found our claim first and wrote our run from it: it is ours.
      if (existing._claim === claim) return { created: true, run: this.runOf(existing) };
      // The slot ran before (and has ended): ours is a duplicate; give the claim back.
      await this.releaseActive(scheduleId, { claim });
      return { created: false, reason: 'duplicate', run: this.runOf(existing) };
    }
    throw new ConflictError(
      `schedule '${scheduleId}': could not record the run fired at ${firedAt} after ` +
        `${MAX_ATTEMPTS} attempts (other writers kept changing its running run)`,
    );
  }

  async updateRun(
    scheduleId: string,
    firedAt: string,
    patch: RunPatch,
    options: { expectStatus?: readonly RunStatus[] } = {},
  ): Promise<ScheduleRun> {
    const { expectStatus } = options;
    const pk = schedulePk(scheduleId);
    const sk = runSk(firedAt);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const item = await this.getItem(pk, sk);
      if (!item) throw new NotFoundError('schedule run', `${scheduleId}@${firedAt}`);
      const current = this.runOf(item);
      const next = applyRunPatch(current, patch, expectStatus);
      const claim = typeof item._claim === 'string' ? item._claim : randomUUID();
      if (next.status === 'running' && current.status !== 'running') {
        const held = await this.claimActive(next, claim);
        if (held) {
          const active = await this.activeRunOf(held);
          if (!active) continue;
          if (active.firedAt !== firedAt) {
            throw new ConflictError(
              `schedule '${scheduleId}' already has a running run (fired at ${active.firedAt}): ` +
                `run ${firedAt} cannot be set running; nothing was changed`,
            );
          }
        }
      }
      if (next.sweepId !== undefined && next.sweepId !== current.sweepId) {
        // Before the run names the sweep, so findRunBySweep finds it as soon as it does.
        await this.client.send(
          new PutCommand({
            TableName: this.table,
            Item: { pk: sweepPk(next.sweepId), sk: SCHEDULE_RUN_SK, scheduleId, firedAt },
          }),
        );
      }
      const rev = typeof item._rev === 'number' ? item._rev : 0;
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.table,
            Item: { ...stripUndefined(next), pk, sk, _claim: claim, _rev: rev + 1 },
            ConditionExpression:
              item._rev === undefined ? 'attribute_not_exists(#rev)' : '#rev = :rev',
            ExpressionAttributeNames: { '#rev': '_rev' },
            ...(item._rev === undefined ? {} : { ExpressionAttributeValues: { ':rev': rev } }),
          }),
        );
      } catch (error) {
        if (isConditionFailed(error)) continue; // written meanwhile: read it again
        throw error;
      }
      if (current.status === 'running' && next.status !== 'running') {
        await this.releaseActive(scheduleId, { firedAt });
      }
      return next;
    }
    throw new ConflictError(
      `run ${scheduleId}@${firedAt} changed ${MAX_ATTEMPTS} times while being updated; nothing was changed`,
    );
  }

  async getRun(scheduleId: string, firedAt: string): Promise<ScheduleRun | undefined> {
    const item = await this.getItem(schedulePk(scheduleId), runSk(firedAt));
    return item && this.runOf(item);
  }

  async findRunBySweep(sweepId: string): Promise<ScheduleRun | undefined> {
    const pointer = await this.getItem(sweepPk(sweepId), SCHEDULE_RUN_SK);
    if (typeof pointer?.scheduleId !== 'string' || typeof pointer.firedAt !== 'string') {
      return undefined;
    }
    const run = await this.getRun(pointer.scheduleId, pointer.firedAt);
    // The pointer is written first: a run that does not (yet, or any more) name the sweep
    // did not start it.
    return run?.sweepId === sweepId ? run : undefined;
  }

  async listRuns(scheduleId: string, options: { limit?: number } = {}): Promise<ScheduleRun[]> {
    const { limit } = options;
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
      throw ValidationError.single('limit', `must be a non-negative integer, got ${limit}`);
    }
    if (limit === 0) return [];
    const items = await this.queryAll(
      {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :run)',
        ExpressionAttributeValues: { ':pk': schedulePk(scheduleId), ':run': RUN_SK_PREFIX },
        ScanIndexForward: false,
        ConsistentRead: true,
      },
      limit,
    );
    return items.map((item) => this.runOf(item));
  }

  /**
   * Claims the schedule's running-run marker for `run`. Returns undefined when claimed, else
   * the marker that holds it.
   */
  private async claimActive(run: ScheduleRun, claim: string): Promise<Item | undefined> {
    const pk = schedulePk(run.scheduleId);
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk,
            sk: ACTIVE_RUN_SK,
            firedAt: run.firedAt,
            _claim: claim,
            run: stripUndefined(run),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return undefined;
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
    // Released meanwhile: an empty marker, so the caller tries again.
    return (await this.getItem(pk, ACTIVE_RUN_SK)) ?? {};
  }

  /**
   * The running run a marker stands for: its run item, written from the marker's copy when its
   * claimant stopped before writing it. Undefined when the marker was stale (its run ended, or
   * it was released meanwhile): it is released, and the caller tries again.
   */
  private async activeRunOf(marker: Item): Promise<ScheduleRun | undefined> {
    if (typeof marker.firedAt !== 'string' || typeof marker._claim !== 'string') return undefined;
    const copy = this.decode(ScheduleRunSchema, marker.run as Item, marker);
    await this.putRunOnce(copy, marker._claim);
    const run = await this.getRun(copy.scheduleId, copy.firedAt);
    if (run?.status === 'running') return run;
    await this.releaseActive(copy.scheduleId, { claim: marker._claim });
    return undefined;
  }

  /** Deletes the running-run marker if it is still the given claim's (or slot's). */
  private async releaseActive(
    scheduleId: string,
    holder: { claim: string } | { firedAt: string },
  ): Promise<void> {
    await this.deleteIf(
      schedulePk(scheduleId),
      ACTIVE_RUN_SK,
      'claim' in holder
        ? {
            ConditionExpression: '#claim = :v',
            ExpressionAttributeNames: { '#claim': '_claim' },
            ExpressionAttributeValues: { ':v': holder.claim },
          }
        : {
            ConditionExpression: 'firedAt = :v',
            ExpressionAttributeValues: { ':v': holder.firedAt },
          },
    );
  }

  /** Writes the run item unless the slot has one: true when this call wrote it. */
  private async putRunOnce(run: ScheduleRun, claim: string): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            ...stripUndefined(run),
            pk: schedulePk(run.scheduleId),
            sk: runSk(run.firedAt),
            _claim: claim,
            _rev: 0,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }

  private async requireRun(scheduleId: string, firedAt: string): Promise<ScheduleRun> {
    const run = await this.getRun(scheduleId, firedAt);
    if (!run) {
      throw this.corrupt(schedulePk(scheduleId), runSk(firedAt), 'it exists but reads as missing');
    }
    return run;
  }

  private async deleteIf(
    pk: string,
    sk: string,
    condition: {
      ConditionExpression?: string;
      ExpressionAttributeNames?: Record<string, string>;
      ExpressionAttributeValues?: Record<string, unknown>;
    } = {},
  ): Promise<void> {
    try {
      await this.client.send(
        new DeleteCommand({ TableName: this.table, Key: { pk, sk }, ...condition }),
      );
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
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

  private scheduleOf(item: Item): ScheduleRecord {
    const schedule = this.decode(ScheduleRecordSchema, item, item);
    if (item.sk !== scheduleSk(schedule.id)) {
      throw this.corrupt(item.pk, item.sk, `it has id '${schedule.id}'`);
    }
    return schedule;
  }

  private runOf(item: Item): ScheduleRun {
    const run = this.decode(ScheduleRunSchema, item, item);
    if (item.pk !== schedulePk(run.scheduleId) || item.sk !== runSk(run.firedAt)) {
      throw this.corrupt(item.pk, item.sk, `it holds run ${run.scheduleId}@${run.firedAt}`);
    }
    return run;
  }

  private decode<S extends z.ZodType>(
    schema: S,
    fields: Item | undefined,
    item: Item,
  ): z.output<S> {
    const record = Object.fromEntries(
      Object.entries(fields ?? {}).filter(([name]) => !META.has(name)),
    );
    const result = schema.safeParse(record);
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
      `schedule store DynamoDB table '${this.table}': item (pk '${String(pk)}', sk '${String(sk)}') is corrupt: ${why}`,
      { cause },
    );
  }
}
