import type Database from 'better-sqlite3';
import type { z } from 'zod';
import {
  ConflictError,
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
import { parseOrThrow } from '../../schemas/issues.js';
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
import { corruptRow, decodeBody, openSqlite } from './sqlite.js';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body TEXT NOT NULL
  ) STRICT;
  CREATE INDEX IF NOT EXISTS sweeps_newest ON sweeps (created_at DESC, id DESC);
  CREATE INDEX IF NOT EXISTS sweeps_status_newest ON sweeps (status, created_at DESC, id DESC);
  CREATE TABLE IF NOT EXISTS trials (
    sweep_id TEXT NOT NULL,
    trial_index INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (sweep_id, trial_index)
  ) STRICT;
  CREATE TABLE IF NOT EXISTS champions (
    sweep_id TEXT PRIMARY KEY,
    body TEXT NOT NULL
  ) STRICT;
`;

type SweepPatch = Parameters<StateStore['updateSweep']>[1];
interface SweepRow {
  id: string;
  body: string;
}
interface TrialRow {
  sweep_id: string;
  trial_index: number;
  body: string;
}
interface ChampionRow {
  sweep_id: string;
  body: string;
}

/**
 * StateStore in one SQLite file (or `':memory:'`). Each record is kept as its JSON body, with the
 * key and filter columns beside it, and validated with its zod schema when read back.
 * Several processes (trainer workers, the API server) may open the same file: it uses WAL mode and
 * waits up to 5 s for a lock, and every read-modify-write runs in a `BEGIN IMMEDIATE` transaction.
 * @example
 * const state = new SqliteStateStore(path.join(home, 'state.db'));
 * await state.updateSweep(id, { status: 'aggregating', updatedAt }, { expectStatus: ['running'] });
 * await state.close();
 */
export class SqliteStateStore implements StateStore {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly sql: ReturnType<typeof prepareStatements>;

  constructor(file: string) {
    this.file = file;
    this.db = openSqlite(file, SCHEMA);
    this.sql = prepareStatements(this.db);
  }

  async createSweep(sweep: SweepRecord): Promise<void> {
    const record = parseOrThrow(SweepRecordSchema, sweep, 'sweep record');
    const result = this.sql.insertSweep.run(
      record.id,
      record.status,
      record.createdAt,
      JSON.stringify(record),
    );
    if (result.changes === 0) throw new SweepAlreadyExistsError(record.id);
  }

  async getSweep(id: string): Promise<SweepRecord | undefined> {
    const row = this.sql.getSweep.get(id);
    return row && this.sweepOf(row);
  }

  async listSweeps(options: { limit?: number; status?: SweepStatus } = {}): Promise<SweepRecord[]> {
    const { limit, status } = options;
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
      throw ValidationError.single('limit', `must be a non-negative integer, got ${limit}`);
    }
    const sqlLimit = limit ?? -1; // -1: no limit
    const rows =
      status === undefined
        ? this.sql.listSweeps.all(sqlLimit)
        : this.sql.listSweepsByStatus.all(status, sqlLimit);
    return rows.map((row) => this.sweepOf(row));
  }

  async pageSweeps(request: PageRequest & { status?: SweepStatus }): Promise<Page<SweepRecord>> {
    const { status } = request;
    const limit = checkPageLimit(request.limit);
    const after = sweepsCursorAfter(request.cursor, status);
    const rows =
      status === undefined
        ? after
          ? this.sql.pageSweepsAfter.all(after.createdAt, after.id, limit + 1)
          : this.sql.listSweeps.all(limit + 1)
        : after
          ? this.sql.pageSweepsByStatusAfter.all(status, after.createdAt, after.id, limit + 1)
          : this.sql.listSweepsByStatus.all(status, limit + 1);
    return pageOf(
      rows.map((row) => this.sweepOf(row)),
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
    const { expectStatus, expectLease } = options;
    const update = this.db.transaction((): SweepRecord => {
      const row = this.sql.getSweep.get(id);
      if (!row) throw new NotFoundError('sweep', id);
      const current = this.sweepOf(row);
      if (expectStatus && !expectStatus.includes(current.status)) {
        const expected =
          expectStatus.length === 0
            ? '(none given)'
            : expectStatus.map((s) => `'${s}'`).join(' or ');
        throw new ConflictError(
          `sweep '${id}' has status '${current.status}', expected ${expected}; nothing was changed`,
        );
      }
      if (expectLease && !leaseAllows(current.owner, expectLease)) {
        throw leaseConflict(id, current);
      }
      const next = parseOrThrow(
        SweepRecordSchema,
        {
          ...current,
          ...definedFields(patch),
          id: current.id,
          createdAt: current.createdAt,
          spec: current.spec,
        },
        `update of sweep '${id}'`,
      );
      this.sql.updateSweep.run(next.status, JSON.stringify(next), id);
      return next;
    });
    return update.immediate();
  }

  async putTrial(trial: TrialRecord): Promise<void> {
    const record = parseOrThrow(TrialRecordSchema, trial, 'trial record');
    this.sql.upsertTrial.run(record.sweepId, record.trialIndex, JSON.stringify(record));
  }

  async listTrials(sweepId: string): Promise<TrialRecord[]> {
    return this.sql.listTrials.all(sweepId).map((row) => {
      const what = `trials row ('${row.sweep_id}', ${row.trial_index})`;
      const trial = this.decode(TrialRecordSchema, row.body, what);
      if (trial.sweepId !== row.sweep_id || trial.trialIndex !== row.trial_index) {
        throw this.corrupt(what, `its body is for ('${trial.sweepId}', ${trial.trialIndex})`);
      }
      return trial;
    });
  }

  async promoteChampion(
    champion: ChampionRecord,
  ): Promise<{ created: boolean; champion: ChampionRecord }> {
    const record = parseOrThrow(ChampionRecordSchema, champion, 'champion record');
    const promote = this.db.transaction(() => {
      const result = this.sql.insertChampion.run(record.sweepId, JSON.stringify(record));
      if (result.changes === 1) return { created: true, champion: record };
      const stored = this.championOf(this.sql.getChampion.get(record.sweepId));
      if (!stored) throw this.corrupt(`champions row '${record.sweepId}'`, 'it vanished');
      return { created: false, champion: stored };
    });
    return promote.immediate();
  }

  async deleteSweep(id: string): Promise<void> {
    this.db
      .transaction(() => {
        this.sql.deleteTrials.run(id);
        this.sql.deleteSweep.run(id);
      })
      .immediate();
  }

  async getChampion(sweepId: string): Promise<ChampionRecord | undefined> {
    return this.championOf(this.sql.getChampion.get(sweepId));
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private sweepOf(row: SweepRow): SweepRecord {
    const what = `sweeps row '${row.id}'`;
    const sweep = this.decode(SweepRecordSchema, row.body, what);
    if (sweep.id !== row.id) throw this.corrupt(what, `its body has id '${sweep.id}'`);
    return sweep;
  }

  private championOf(row: ChampionRow | undefined): ChampionRecord | undefined {
    if (!row) return undefined;
    const what = `champions row '${row.sweep_id}'`;
    const champion = this.decode(ChampionRecordSchema, row.body, what);
    if (champion.sweepId !== row.sweep_id) {
      throw this.corrupt(what, `its body has sweepId '${champion.sweepId}'`);
    }
    return champion;
  }

  private decode<S extends z.ZodType>(schema: S, body: string, what: string): z.output<S> {
    return decodeBody(schema, body, `state store ${this.file}`, what);
  }

  private corrupt(what: string, why: string, cause?: unknown) {
    return corruptRow(`state store ${this.file}`, what, why, cause);
  }
}

function prepareStatements(db: Database.Database) {
  return {
    insertSweep: db.prepare<[string, string, string, string]>(
      'INSERT INTO sweeps (id, status, created_at, body) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
    ),
    getSweep: db.prepare<[string], SweepRow>('SELECT id, body FROM sweeps WHERE id = ?'),
    listSweeps: db.prepare<[number], SweepRow>(
      'SELECT id, body FROM sweeps ORDER BY created_at DESC, id DESC LIMIT ?',
    ),
    listSweepsByStatus: db.prepare<[string, number], SweepRow>(
      'SELECT id, body FROM sweeps WHERE status = ? ORDER BY created_at DESC, id DESC LIMIT ?',
    ),
    pageSweepsAfter: db.prepare<[string, string, number], SweepRow>(
      'SELECT id, body FROM sweeps WHERE (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?',
    ),
    pageSweepsByStatusAfter: db.prepare<[string, string, string, number], SweepRow>(
      'SELECT id, body FROM sweeps WHERE status = ? AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?',
    ),
    updateSweep: db.prepare<[string, string, string]>(
      'UPDATE sweeps SET status = ?, body = ? WHERE id = ?',
    ),
    upsertTrial: db.prepare<[string, number, string]>(
      `INSERT INTO trials (sweep_id, trial_index, body) VALUES (?, ?, ?)
       ON CONFLICT (sweep_id, trial_index) DO UPDATE SET body = excluded.body`,
    ),
    listTrials: db.prepare<[string], TrialRow>(
      'SELECT sweep_id, trial_index, body FROM trials WHERE sweep_id = ? ORDER BY trial_index',
    ),
    insertChampion: db.prepare<[string, string]>(
      'INSERT INTO champions (sweep_id, body) VALUES (?, ?) ON CONFLICT (sweep_id) DO NOTHING',
    ),
    deleteSweep: db.prepare<[string]>('DELETE FROM sweeps WHERE id = ?'),
    deleteTrials: db.prepare<[string]>('DELETE FROM trials WHERE sweep_id = ?'),
    getChampion: db.prepare<[string], ChampionRow>(
      'SELECT sweep_id, body FROM champions WHERE sweep_id = ?',
    ),
  };
}
