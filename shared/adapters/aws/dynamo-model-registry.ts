import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { ConflictError, FoldsweepError, NotFoundError, ValidationError } from '../../errors.js';
import type { ModelRegistry, ServeRequest } from '../../ports/model-registry.js';
import {
  CURSORS,
  checkPageLimit,
  type Page,
  type PageRequest,
  pageOf,
} from '../../ports/paging.js';
import { parseOrThrow, toFieldIssues } from '../../schemas/issues.js';
import {
  type ModelSummary,
  type ModelVersion,
  ModelVersionSchema,
  type NewModelVersion,
  type PromotionEvent,
  PromotionEventSchema,
  type ServingPointer,
} from '../../schemas/registry.js';
import {
  checkTableOptions,
  type DynamoTableOptions,
  EVENT_SK_PREFIX,
  eventSk,
  isConditionFailed,
  MODELS_PK,
  modelHeadSk,
  modelPk,
  modelSweepSk,
  stripUndefined,
  VERSION_SK_PREFIX,
  versionSk,
} from './dynamo-table.js';

type Item = Record<string, unknown>;

/**
 * The head item of a model: everything a registry write decides on, in one item, so that every
 * write is one compare-and-set on `rev`. `pending` holds what the last write committed but may
 * not have copied into its own items yet (the version, its sweep claim, the event).
 */
const HeadSchema = z.object({
  modelName: z.string(),
  latestVersion: z.number().int().nonnegative(),
  versions: z.number().int().nonnegative(),
  /** The latest createdAt of any version (ISO strings compare as times). */
  lastCreatedAt: z.string(),
  serving: z.object({ version: z.number().int().positive(), since: z.string() }).optional(),
  eventSeq: z.number().int().nonnegative(),
  rev: z.number().int().nonnegative(),
  pending: z
    .object({
      version: ModelVersionSchema.optional(),
      event: PromotionEventSchema.optional(),
    })
    .optional(),
});
type Head = z.infer<typeof HeadSchema>;

/** How often a write that lost the compare-and-set to another writer is tried again. */
const MAX_ATTEMPTS = 20;

export type DynamoModelRegistryOptions = DynamoTableOptions;

/**
 * ModelRegistry in the state table (key layout in dynamo-table.ts), atomic without DynamoDB
 * transactions (dynalite has none): each model has one head item (`MODELS` / `MODEL#<name>`)
 * with the version counter, the serving pointer, the event counter and a revision. A write
 * (register, setServing) reads the head, decides (next number, `expectServing` check), and
 * commits with one put conditioned on the revision it read; the committed version and event
 * travel inside the head as `pending` and are then copied into their own create-once items
 * (version, sweep claim, event), after which `pending` is cleared. Whoever reads a head with a
 * `pending` (a writer that stopped half-way) finishes that copy first, so the items always
 * catch up with the head, and readers of versions and events never miss a committed one.
 * The once-per-(model, sweep) rule holds because a writer checks the sweep claim only after the
 * head it read had nothing pending, and its commit fails if any other commit came between.
 * Every read is strongly consistent (no index is used).
 * @example
 * const registry = new DynamoModelRegistry({ client: doc, table: env.FOLDSWEEP_TABLE });
 * await registry.setServing('fashion', 2, { expectServing: 3, action: 'rollback', reason, at });
 */
export class DynamoModelRegistry implements ModelRegistry {
  readonly table: string;
  private readonly client: DynamoDBDocumentClient;
  private readonly queryPageSize: number | undefined;

  constructor(options: DynamoModelRegistryOptions) {
    const { client, table, queryPageSize } = checkTableOptions(options);
    this.client = client;
    this.table = table;
    this.queryPageSize = queryPageSize;
  }

  async register(
    input: NewModelVersion,
    options: { serve?: ServeRequest } = {},
  ): Promise<{ created: boolean; version: ModelVersion }> {
    const name = input.modelName;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const head = await this.settledHead(name);
      const existing = await this.versionOfSweep(name, input.sweepId);
      if (existing) return { created: false, version: existing };
      const next = (head?.latestVersion ?? 0) + 1;
      const version = parseOrThrow(
        ModelVersionSchema,
        { ...input, version: next },
        'model version',
      );
      const { serve } = options;
      if (serve) checkServing(name, head, serve);
      const event = serve && this.eventFor(head, name, next, serve);
      const committed: Head = {
        modelName: name,
        latestVersion: next,
        versions: (head?.versions ?? 0) + 1,
        lastCreatedAt: maxString(head?.lastCreatedAt ?? '', version.createdAt),
        serving: serve ? { version: next, since: serve.at } : head?.serving,
        eventSeq: event ? event.seq : (head?.eventSeq ?? 0),
        rev: (head?.rev ?? 0) + 1,
        pending: { version, event },
      };
      if (!(await this.commit(committed, head))) continue;
      await this.copyPending(committed);
      return { created: true, version };
    }
    throw this.contended(name);
  }

  async getVersion(modelName: string, version: number): Promise<ModelVersion | undefined> {
    const item = await this.getItem(modelPk(modelName), versionSk(version));
    if (item) return this.versionOf(item);
    // Committed but not copied yet (its writer is on it, or stopped): finish the copy.
    const head = await this.settledHead(modelName);
    if (!head || version > head.latestVersion) return undefined;
    const copied = await this.getItem(modelPk(modelName), versionSk(version));
    return copied && this.versionOf(copied);
  }

  async listVersions(modelName: string): Promise<ModelVersion[]> {
    await this.settledHead(modelName);
    const items = await this.queryPrefix(modelPk(modelName), VERSION_SK_PREFIX);
    return items.map((item) => this.versionOf(item));
  }

  async listModels(): Promise<ModelSummary[]> {
    const items = await this.queryAll({
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': MODELS_PK },
      ConsistentRead: true,
    });
    return this.summariesOf(items);
  }

  /** Heads whose first version never committed are skipped, as listModels does. */
  async pageModels(request: PageRequest): Promise<Page<ModelSummary>> {
    const limit = checkPageLimit(request.limit);
    const after = request.cursor === undefined ? undefined : CURSORS.models.decode(request.cursor);
    const items = await this.queryAll(
      {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': MODELS_PK },
        ConsistentRead: true,
      },
      {
        from: after && { pk: MODELS_PK, sk: modelHeadSk(after.name) },
        until: limit + 1,
        keep: (item) => this.headOf(item).latestVersion > 0,
      },
    );
    return pageOf(this.summariesOf(items), limit, (last) =>
      CURSORS.models.encode({ name: last.name }),
    );
  }

  async pageVersions(modelName: string, request: PageRequest): Promise<Page<ModelVersion>> {
    const limit = checkPageLimit(request.limit);
    const after =
      request.cursor === undefined ? undefined : CURSORS.versions.decode(request.cursor);
    if (after && after.model !== modelName) {
      throw ValidationError.single(
        'cursor',
        `this cursor pages the versions of model '${after.model}', not '${modelName}'`,
      );
    }
    const head = await this.settledHead(modelName);
    if (!head) return { items: [] };
    const items = await this.queryAll(
      {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': modelPk(modelName), ':prefix': VERSION_SK_PREFIX },
        ConsistentRead: true,
      },
      {
        from: after && { pk: modelPk(modelName), sk: versionSk(after.version) },
        until: limit + 1,
      },
    );
    return pageOf(
      items.map((item) => this.versionOf(item)),
      limit,
      (last) => CURSORS.versions.encode({ model: modelName, version: last.version }),
    );
  }

  private summariesOf(items: Item[]): ModelSummary[] {
    return items
      .map((item) => this.headOf(item))
      .filter((head) => head.latestVersion > 0)
      .map((head) => ({
        name: head.modelName,
        servingVersion: head.serving?.version ?? null,
        latestVersion: head.latestVersion,
        versions: head.versions,
        updatedAt: maxString(head.lastCreatedAt, head.serving?.since ?? ''),
      }));
  }

  async getServing(modelName: string): Promise<ServingPointer | undefined> {
    const head = await this.readHead(modelName);
    if (!head?.serving) return undefined;
    return { modelName, version: head.serving.version, since: head.serving.since };
  }

  async setServing(
    modelName: string,
    version: number,
    request: ServeRequest,
  ): Promise<PromotionEvent> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const head = await this.settledHead(modelName);
      if (!head || !Number.isInteger(version) || version < 1 || version > head.latestVersion) {
        throw new NotFoundError('model version', `${modelName} v${version}`);
      }
      checkServing(modelName, head, request);
      const event = this.eventFor(head, modelName, version, request);
      const committed: Head = {
        ...head,
        serving: { version, since: request.at },
        eventSeq: event.seq,
        rev: head.rev + 1,
        pending: { event },
      };
      if (!(await this.commit(committed, head))) continue;
      await this.copyPending(committed);
      return event;
    }
    throw this.contended(modelName);
  }

  async listEvents(modelName: string): Promise<PromotionEvent[]> {
    await this.settledHead(modelName);
    const items = await this.queryPrefix(modelPk(modelName), EVENT_SK_PREFIX);
    return items.map((item) => this.decode(PromotionEventSchema, item));
  }

  private eventFor(
    head: Head | undefined,
    modelName: string,
    toVersion: number,
    request: ServeRequest,
  ): PromotionEvent {
    return PromotionEventSchema.parse({
      modelName,
      seq: (head?.eventSeq ?? 0) + 1,
      action: request.action,
      fromVersion: request.expectServing,
      toVersion,
      reason: request.reason,
      at: request.at,
    } satisfies PromotionEvent);
  }

  /** Writes the head if it is still at the revision read (`previous`): true when it was. */
  private async commit(head: Head, previous: Head | undefined): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...stripUndefined(head), pk: MODELS_PK, sk: modelHeadSk(head.modelName) },
          ...(previous
            ? {
                ConditionExpression: 'rev = :rev',
                ExpressionAttributeValues: { ':rev': previous.rev },
              }
            : { ConditionExpression: 'attribute_not_exists(pk)' }),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }

  /**
   * Copies a committed head's `pending` into the version, sweep-claim and event items
   * (create-once: a copy made by another reader is identical), then clears it.
   */
  private async copyPending(head: Head): Promise<void> {
    const { pending } = head;
    if (!pending) return;
    const pk = modelPk(head.modelName);
    const writes: Item[] = [];
    if (pending.version) {
      writes.push({ ...pending.version, pk, sk: versionSk(pending.version.version) });
      writes.push({
        pk,
        sk: modelSweepSk(pending.version.sweepId),
        version: pending.version.version,
      });
    }
    if (pending.event) writes.push({ ...pending.event, pk, sk: eventSk(pending.event.seq) });
    await Promise.all(writes.map((item) => this.putOnce(item)));
    const { pending: _, ...rest } = head;
    await this.commit({ ...rest, rev: head.rev + 1 }, head);
  }

  /** The head with nothing pending (copying what is), or undefined for an unknown model. */
  private async settledHead(modelName: string): Promise<Head | undefined> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const head = await this.readHead(modelName);
      if (!head?.pending) return head;
      await this.copyPending(head);
    }
    throw this.contended(modelName);
  }

  private async versionOfSweep(
    modelName: string,
    sweepId: string,
  ): Promise<ModelVersion | undefined> {
    const claim = await this.getItem(modelPk(modelName), modelSweepSk(sweepId));
    if (!claim) return undefined;
    const item = await this.getItem(modelPk(modelName), versionSk(Number(claim.version)));
    if (!item) {
      throw this.corrupt(claim.pk, claim.sk, `it names version ${claim.version}, which is missing`);
    }
    return this.versionOf(item);
  }

  private async readHead(modelName: string): Promise<Head | undefined> {
    const item = await this.getItem(MODELS_PK, modelHeadSk(modelName));
    return item && this.headOf(item);
  }

  private async putOnce(item: Item): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.table,
          Item: stripUndefined(item),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
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

  private queryPrefix(pk: string, prefix: string): Promise<Item[]> {
    return this.queryAll({
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
      ConsistentRead: true,
    });
  }

  /**
   * Every item the query matches, following LastEvaluatedKey: from after the key `from`, and
   * stopping once `until` items that `keep` accepts were read.
   */
  private async queryAll(
    input: QueryCommandInput,
    options: { from?: Item; until?: number; keep?: (item: Item) => boolean } = {},
  ): Promise<Item[]> {
    const { until, keep = () => true } = options;
    const items: Item[] = [];
    let startKey: Item | undefined = options.from;
    do {
      const left = until === undefined ? undefined : until - items.length;
      const pageSize =
        left === undefined ? this.queryPageSize : Math.min(left, this.queryPageSize ?? left);
      const page = await this.client.send(
        new QueryCommand({ ...input, Limit: pageSize, ExclusiveStartKey: startKey }),
      );
      items.push(...(page.Items ?? []).filter(keep));
      startKey = page.LastEvaluatedKey;
    } while (startKey && (until === undefined || items.length < until));
    return until === undefined ? items : items.slice(0, until);
  }

  private headOf(item: Item): Head {
    const head = this.decode(HeadSchema, item);
    if (item.sk !== modelHeadSk(head.modelName)) {
      throw this.corrupt(item.pk, item.sk, `it is the head of model '${head.modelName}'`);
    }
    return head;
  }

  private versionOf(item: Item): ModelVersion {
    const version = this.decode(ModelVersionSchema, item);
    if (item.pk !== modelPk(version.modelName) || item.sk !== versionSk(version.version)) {
      throw this.corrupt(item.pk, item.sk, `it holds ${version.modelName} v${version.version}`);
    }
    return version;
  }

  private decode<S extends z.ZodType>(schema: S, item: Item): z.output<S> {
    const { pk: _pk, sk: _sk, ...fields } = item;
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

  private contended(modelName: string): ConflictError {
    return new ConflictError(
      `model '${modelName}': other writers kept changing it; nothing was changed after ${MAX_ATTEMPTS} attempts`,
    );
  }

  private corrupt(pk: unknown, sk: unknown, why: string, cause?: unknown): FoldsweepError {
    return new FoldsweepError(
      `model registry DynamoDB table '${this.table}': item (pk '${String(pk)}', sk '${String(sk)}') is corrupt: ${why}`,
      { cause },
    );
  }
}

/** ConflictError unless the serving version is `expectServing` (the SQLite adapter's words). */
function checkServing(modelName: string, head: Head | undefined, request: ServeRequest): void {
  const serving = head?.serving?.version ?? null;
  if (serving !== request.expectServing) {
    throw new ConflictError(
      `model '${modelName}' serves ${serving === null ? 'no version' : `v${serving}`}, ` +
        `expected ${request.expectServing === null ? 'none' : `v${request.expectServing}`}: ` +
        'it changed meanwhile; nothing was changed',
    );
  }
}

function maxString(a: string, b: string): string {
  return a > b ? a : b;
}
