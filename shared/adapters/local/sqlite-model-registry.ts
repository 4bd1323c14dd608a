import type Database from 'better-sqlite3';
import type { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../../errors.js';
import type { ModelRegistry, ServeRequest } from '../../ports/model-registry.js';
import {
  CURSORS,
  checkPageLimit,
  type Page,
  type PageRequest,
  pageOf,
} from '../../ports/paging.js';
import { parseOrThrow } from '../../schemas/issues.js';
import {
  type ModelSummary,
  type ModelVersion,
  ModelVersionSchema,
  type NewModelVersion,
  type PromotionEvent,
  PromotionEventSchema,
  type ServingPointer,
  ServingPointerSchema,
} from '../../schemas/registry.js';
import { decodeBody, openSqlite } from './sqlite.js';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS model_versions (
    model_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    sweep_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (model_name, version),
    UNIQUE (model_name, sweep_id)
  ) STRICT;
  CREATE TABLE IF NOT EXISTS model_serving (
    model_name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
  ) STRICT;
  CREATE TABLE IF NOT EXISTS model_events (
    model_name TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (model_name, seq)
  ) STRICT;
`;

interface Row {
  body: string;
}
interface SummaryRow {
  name: string;
  latest: number;
  versions: number;
  updated_at: string;
  serving: number | null;
}

/**
 * ModelRegistry in one SQLite file (may be the same file as the state store: its own tables
 * `model_versions`, `model_serving`, `model_events`). Every write is one `BEGIN IMMEDIATE`
 * transaction, so numbering, the serving compare-and-set and the history stay consistent across
 * processes.
 * @example
 * const registry = new SqliteModelRegistry(path.join(home, 'state.db'));
 * await registry.setServing('fashion', 2, { expectServing: 3, action: 'rollback', reason, at });
 */
export class SqliteModelRegistry implements ModelRegistry {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly sql: ReturnType<typeof prepareStatements>;

  constructor(file: string) {
    this.file = file;
    this.db = openSqlite(file, SCHEMA);
    this.sql = prepareStatements(this.db);
  }

  async register(
    input: NewModelVersion,
    options: { serve?: ServeRequest } = {},
  ): Promise<{ created: boolean; version: ModelVersion }> {
    const register = this.db.transaction(() => {
      const existing = this.sql.getVersionBySweep.get(input.modelName, input.sweepId);
      if (existing) return { created: false, version: this.versionOf(existing) };
      const next = (this.sql.maxVersion.get(input.modelName)?.max ?? 0) + 1;
      const version = parseOrThrow(
        ModelVersionSchema,
        { ...input, version: next },
        'model version',
      );
      if (options.serve) this.checkServing(input.modelName, options.serve);
      this.sql.insertVersion.run(
        version.modelName,
        version.version,
        version.sweepId,
        version.createdAt,
        JSON.stringify(version),
      );
      if (options.serve) this.moveServing(input.modelName, version.version, options.serve);
      return { created: true, version };
    });
    return register.immediate();
  }

  async getVersion(modelName: string, version: number): Promise<ModelVersion | undefined> {
    const row = this.sql.getVersion.get(modelName, version);
    return row && this.versionOf(row);
  }

  async listVersions(modelName: string): Promise<ModelVersion[]> {
    return this.sql.listVersions.all(modelName).map((row) => this.versionOf(row));
  }

  async listModels(): Promise<ModelSummary[]> {
    return this.sql.listModels.all().map(summaryOf);
  }

  async pageModels(request: PageRequest): Promise<Page<ModelSummary>> {
    const limit = checkPageLimit(request.limit);
    const after = request.cursor === undefined ? '' : CURSORS.models.decode(request.cursor).name;
    const models = this.sql.pageModels.all(after, limit + 1).map(summaryOf);
    return pageOf(models, limit, (last) => CURSORS.models.encode({ name: last.name }));
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
    const versions = this.sql.pageVersions
      .all(modelName, after?.version ?? 0, limit + 1)
      .map((row) => this.versionOf(row));
    return pageOf(versions, limit, (last) =>
      CURSORS.versions.encode({ model: modelName, version: last.version }),
    );
  }

  async getServing(modelName: string): Promise<ServingPointer | undefined> {
    const row = this.sql.getServing.get(modelName);
    return row && this.decode(ServingPointerSchema, row.body, `model_serving row '${modelName}'`);
  }

  async setServing(
    modelName: string,
    version: number,
    request: ServeRequest,
  ): Promise<PromotionEvent> {
    const serve = this.db.transaction(() => {
      if (!this.sql.getVersion.get(modelName, version)) {
        throw new NotFoundError('model version', `${modelName} v${version}`);
      }
      this.checkServing(modelName, request);
      return this.moveServing(modelName, version, request);
    });
    return serve.immediate();
  }

  async listEvents(modelName: string): Promise<PromotionEvent[]> {
    return this.sql.listEvents
      .all(modelName)
      .map((row) => this.decode(PromotionEventSchema, row.body, 'model_events row'));
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  /** Inside a transaction: ConflictError unless the serving version is `expectServing`. */
  private checkServing(modelName: string, request: ServeRequest) {
    const current = this.sql.getServing.get(modelName);
    const serving = current
      ? this.decode(ServingPointerSchema, current.body, 'model_serving row').version
      : null;
    if (serving !== request.expectServing) {
      throw new ConflictError(
        `model '${modelName}' serves ${serving === null ? 'no version' : `v${serving}`}, ` +
          `expected ${request.expectServing === null ? 'none' : `v${request.expectServing}`}: ` +
          'it changed meanwhile; nothing was changed',
      );
    }
  }

  /** Inside a transaction: points serving at `version` and appends the event. */
  private moveServing(modelName: string, version: number, request: ServeRequest): PromotionEvent {
    const pointer: ServingPointer = { modelName, version, since: request.at };
    this.sql.upsertServing.run(modelName, version, JSON.stringify(pointer));
    const seq = (this.sql.maxSeq.get(modelName)?.max ?? 0) + 1;
    const event = PromotionEventSchema.parse({
      modelName,
      seq,
      action: request.action,
      fromVersion: request.expectServing,
      toVersion: version,
      reason: request.reason,
      at: request.at,
    } satisfies PromotionEvent);
    this.sql.insertEvent.run(modelName, seq, JSON.stringify(event));
    return event;
  }

  private versionOf(row: Row): ModelVersion {
    return this.decode(ModelVersionSchema, row.body, 'model_versions row');
  }

  private decode<S extends z.ZodType>(schema: S, body: string, what: string): z.output<S> {
    return decodeBody(schema, body, `model registry ${this.file}`, what);
  }
}

const SUMMARY_SELECT = `SELECT v.model_name AS name, MAX(v.version) AS latest, COUNT(*) AS versions,
         MAX(MAX(v.created_at), COALESCE(json_extract(s.body, '$.since'), '')) AS updated_at,
         s.version AS serving
  FROM model_versions v LEFT JOIN model_serving s ON s.model_name = v.model_name`;

const summaryOf = (row: SummaryRow): ModelSummary => ({
  name: row.name,
  servingVersion: row.serving,
  latestVersion: row.latest,
  versions: row.versions,
  updatedAt: row.updated_at,
});

function prepareStatements(db: Database.Database) {
  return {
    getVersionBySweep: db.prepare<[string, string], Row>(
      'SELECT body FROM model_versions WHERE model_name = ? AND sweep_id = ?',
    ),
    maxVersion: db.prepare<[string], { max: number | null }>(
      'SELECT MAX(version) AS max FROM model_versions WHERE model_name = ?',
    ),
    insertVersion: db.prepare<[string, number, string, string, string]>(
      'INSERT INTO model_versions (model_name, version, sweep_id, created_at, body) VALUES (?, ?, ?, ?, ?)',
    ),
    getVersion: db.prepare<[string, number], Row>(
      'SELECT body FROM model_versions WHERE model_name = ? AND version = ?',
    ),
    listVersions: db.prepare<[string], Row>(
      'SELECT body FROM model_versions WHERE model_name = ? ORDER BY version',
    ),
    listModels: db.prepare<[], SummaryRow>(
      `${SUMMARY_SELECT} GROUP BY v.model_name ORDER BY v.model_name`,
    ),
    pageModels: db.prepare<[string, number], SummaryRow>(
      `${SUMMARY_SELECT} WHERE v.model_name > ? GROUP BY v.model_name ORDER BY v.model_name LIMIT ?`,
    ),
    pageVersions: db.prepare<[string, number, number], Row>(
      'SELECT body FROM model_versions WHERE model_name = ? AND version > ? ORDER BY version LIMIT ?',
    ),
    getServing: db.prepare<[string], Row>('SELECT body FROM model_serving WHERE model_name = ?'),
    upsertServing: db.prepare<[string, number, string]>(
      `INSERT INTO model_serving (model_name, version, body) VALUES (?, ?, ?)
       ON CONFLICT (model_name) DO UPDATE SET version = excluded.version, body = excluded.body`,
    ),
    maxSeq: db.prepare<[string], { max: number | null }>(
      'SELECT MAX(seq) AS max FROM model_events WHERE model_name = ?',
    ),
    insertEvent: db.prepare<[string, number, string]>(
      'INSERT INTO model_events (model_name, seq, body) VALUES (?, ?, ?)',
    ),
    listEvents: db.prepare<[string], Row>(
      'SELECT body FROM model_events WHERE model_name = ? ORDER BY seq',
    ),
  };
}
