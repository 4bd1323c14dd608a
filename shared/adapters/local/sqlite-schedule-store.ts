import type Database from 'better-sqlite3';
import type { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../../errors.js';
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
import { parseOrThrow } from '../../schemas/issues.js';
import {
  type FrozenHoldout,
  FrozenHoldoutSchema,
  type RunStatus,
  type ScheduleRecord,
  ScheduleRecordSchema,
  type ScheduleRun,
  ScheduleRunSchema,
} from '../../schemas/schedule.js';
import { decodeBody, openSqlite } from './sqlite.js';

// `active` is 1 exactly for status 'running'; the partial unique index keeps one per schedule.
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS schedules (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL
  ) STRICT;
  CREATE TABLE IF NOT EXISTS schedule_runs (
    schedule_id TEXT NOT NULL,
    fired_at TEXT NOT NULL,
    active INTEGER NOT NULL,
    sweep_id TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (schedule_id, fired_at)
  ) STRICT;
  CREATE UNIQUE INDEX IF NOT EXISTS schedule_runs_one_active
    ON schedule_runs (schedule_id) WHERE active = 1;
  CREATE INDEX IF NOT EXISTS schedule_runs_by_sweep ON schedule_runs (sweep_id)
    WHERE sweep_id IS NOT NULL;
`;

interface Row {
  body: string;
}

/**
 * ScheduleStore in one SQLite file, which may be the same file as SqliteStateStore's (its own
 * tables `schedules` and `schedule_runs`). WAL mode, 5 s busy timeout, and every
 * read-modify-write in a `BEGIN IMMEDIATE` transaction, so the API server, the CLI and the
 * scheduler may share it. The one-running-run rule is a partial unique index.
 * @example
 * const schedules = new SqliteScheduleStore(path.join(home, 'state.db'));
 */
export class SqliteScheduleStore implements ScheduleStore {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly sql: ReturnType<typeof prepareStatements>;

  constructor(file: string) {
    this.file = file;
    this.db = openSqlite(file, SCHEMA);
    this.sql = prepareStatements(this.db);
  }

  async createSchedule(schedule: ScheduleRecord): Promise<void> {
    const record = parseOrThrow(ScheduleRecordSchema, schedule, 'schedule record');
    const result = this.sql.insertSchedule.run(record.id, JSON.stringify(record));
    if (result.changes === 0) {
      throw new ConflictError(
        `schedule '${record.id}' already exists: delete it first or choose another id`,
      );
    }
  }

  async getSchedule(id: string): Promise<ScheduleRecord | undefined> {
    const row = this.sql.getSchedule.get(id);
    return row && this.decode(ScheduleRecordSchema, row.body, `schedules row '${id}'`);
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    return this.sql.listSchedules
      .all()
      .map((row) => this.decode(ScheduleRecordSchema, row.body, 'schedules row'));
  }

  async pageSchedules(request: PageRequest): Promise<Page<ScheduleRecord>> {
    const limit = checkPageLimit(request.limit);
    const after = request.cursor === undefined ? '' : CURSORS.schedules.decode(request.cursor).id;
    const schedules = this.sql.pageSchedules
      .all(after, limit + 1)
      .map((row) => this.decode(ScheduleRecordSchema, row.body, 'schedules row'));
    return pageOf(schedules, limit, (last) => CURSORS.schedules.encode({ id: last.id }));
  }

  async setFrozenHoldout(
    id: string,
    holdout: FrozenHoldout,
  ): Promise<{ created: boolean; holdout: FrozenHoldout }> {
    const value = parseOrThrow(FrozenHoldoutSchema, holdout, 'frozen holdout');
    const freeze = this.db.transaction(() => {
      const row = this.sql.getSchedule.get(id);
      if (!row) throw new NotFoundError('schedule', id);
      const current = this.decode(ScheduleRecordSchema, row.body, `schedules row '${id}'`);
      if (current.holdout) return { created: false, holdout: current.holdout };
      const next: ScheduleRecord = { ...current, holdout: value, updatedAt: value.frozenAt };
      this.sql.updateSchedule.run(JSON.stringify(next), id);
      return { created: true, holdout: value };
    });
    return freeze.immediate();
  }

  async deleteSchedule(id: string): Promise<boolean> {
    const remove = this.db.transaction(() => {
      this.sql.deleteRuns.run(id);
      return this.sql.deleteSchedule.run(id).changes > 0;
    });
    return remove.immediate();
  }

  async createRun(run: ScheduleRun): Promise<CreateRunOutcome> {
    const record = parseOrThrow(ScheduleRunSchema, run, 'schedule run');
    const create = this.db.transaction((): CreateRunOutcome => {
      const same = this.sql.getRun.get(record.scheduleId, record.firedAt);
      if (same) return { created: false, reason: 'duplicate', run: this.runOf(same) };
      if (record.status === 'running') {
        const active = this.sql.getActiveRun.get(record.scheduleId);
        if (active) return { created: false, reason: 'overlap', run: this.runOf(active) };
      }
      this.sql.insertRun.run(
        record.scheduleId,
        record.firedAt,
        record.status === 'running' ? 1 : 0,
        record.sweepId ?? null,
        JSON.stringify(record),
      );
      return { created: true, run: record };
    });
    return create.immediate();
  }

  async updateRun(
    scheduleId: string,
    firedAt: string,
    patch: RunPatch,
    options: { expectStatus?: readonly RunStatus[] } = {},
  ): Promise<ScheduleRun> {
    const { expectStatus } = options;
    const update = this.db.transaction((): ScheduleRun => {
      const row = this.sql.getRun.get(scheduleId, firedAt);
      if (!row) throw new NotFoundError('schedule run', `${scheduleId}@${firedAt}`);
      const current = this.runOf(row);
      const next = applyRunPatch(current, patch, expectStatus);
      this.sql.updateRun.run(
        next.status === 'running' ? 1 : 0,
        next.sweepId ?? null,
        JSON.stringify(next),
        scheduleId,
        firedAt,
      );
      return next;
    });
    return update.immediate();
  }

  async getRun(scheduleId: string, firedAt: string): Promise<ScheduleRun | undefined> {
    const row = this.sql.getRun.get(scheduleId, firedAt);
    return row && this.runOf(row);
  }

  async findRunBySweep(sweepId: string): Promise<ScheduleRun | undefined> {
    const row = this.sql.getRunBySweep.get(sweepId);
    return row && this.runOf(row);
  }

  async listRuns(scheduleId: string, options: { limit?: number } = {}): Promise<ScheduleRun[]> {
    const { limit } = options;
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
      throw ValidationError.single('limit', `must be a non-negative integer, got ${limit}`);
    }
    return this.sql.listRuns.all(scheduleId, limit ?? -1).map((row) => this.runOf(row));
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private runOf(row: Row): ScheduleRun {
    return this.decode(ScheduleRunSchema, row.body, 'schedule_runs row');
  }

  private decode<S extends z.ZodType>(schema: S, body: string, what: string): z.output<S> {
    return decodeBody(schema, body, `schedule store ${this.file}`, what);
  }
}

function prepareStatements(db: Database.Database) {
  return {
    insertSchedule: db.prepare<[string, string]>(
      'INSERT INTO schedules (id, body) VALUES (?, ?) ON CONFLICT (id) DO NOTHING',
    ),
    getSchedule: db.prepare<[string], Row>('SELECT body FROM schedules WHERE id = ?'),
    listSchedules: db.prepare<[], Row>('SELECT body FROM schedules ORDER BY id'),
    pageSchedules: db.prepare<[string, number], Row>(
      'SELECT body FROM schedules WHERE id > ? ORDER BY id LIMIT ?',
    ),
    updateSchedule: db.prepare<[string, string]>('UPDATE schedules SET body = ? WHERE id = ?'),
    deleteSchedule: db.prepare<[string]>('DELETE FROM schedules WHERE id = ?'),
    deleteRuns: db.prepare<[string]>('DELETE FROM schedule_runs WHERE schedule_id = ?'),
    insertRun: db.prepare<[string, string, number, string | null, string]>(
      'INSERT INTO schedule_runs (schedule_id, fired_at, active, sweep_id, body) VALUES (?, ?, ?, ?, ?)',
    ),
    getRun: db.prepare<[string, string], Row>(
      'SELECT body FROM schedule_runs WHERE schedule_id = ? AND fired_at = ?',
    ),
    getActiveRun: db.prepare<[string], Row>(
      'SELECT body FROM schedule_runs WHERE schedule_id = ? AND active = 1',
    ),
    getRunBySweep: db.prepare<[string], Row>(
      'SELECT body FROM schedule_runs WHERE sweep_id = ? LIMIT 1',
    ),
    updateRun: db.prepare<[number, string | null, string, string, string]>(
      'UPDATE schedule_runs SET active = ?, sweep_id = ?, body = ? WHERE schedule_id = ? AND fired_at = ?',
    ),
    listRuns: db.prepare<[string, number], Row>(
      'SELECT body FROM schedule_runs WHERE schedule_id = ? ORDER BY fired_at DESC LIMIT ?',
    ),
  };
}
