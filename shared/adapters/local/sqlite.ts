/**
 * What the SQLite-backed local stores share: how a file is opened (several processes may open
 * the same one) and how a stored JSON body is read back and checked.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { z } from 'zod';
import { FoldsweepError } from '../../errors.js';
import { toFieldIssues } from '../../schemas/issues.js';

/** How long a writer waits for another process's lock before failing. */
export const BUSY_TIMEOUT_MS = 5000;

/**
 * Opens (creating its folder) a SQLite file, or `':memory:'`, in WAL mode with a busy timeout,
 * and runs `schema` (idempotent `CREATE ... IF NOT EXISTS` statements).
 * Several processes may open a fresh file at once (`foldsweep run` twice on a new home). SQLite
 * then answers SQLITE_BUSY at once, without waiting in its busy handler, where waiting could
 * deadlock: switching a new file to WAL (it needs the exclusive lock while others read) and
 * a schema statement that read before it writes. So the busy timeout is set first, the journal
 * mode is changed only when it is not WAL already, the schema runs in a `BEGIN IMMEDIATE`
 * transaction (the write lock up front, where the busy handler does wait), and both are retried
 * on SQLITE_BUSY until BUSY_TIMEOUT_MS has passed.
 */
export function openSqlite(file: string, schema: string): Database.Database {
  if (file !== ':memory:' && file !== '' && !file.startsWith('file:')) {
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  }
  const db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    retryWhileBusy(() => {
      if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
    });
    retryWhileBusy(() => {
      db.exec('BEGIN IMMEDIATE');
      try {
        db.exec(schema);
        db.exec('COMMIT');
      } catch (error) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw error;
      }
    });
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/** SQLITE_BUSY and its extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_BUSY_RECOVERY, ...). */
export function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/**
 * Runs `fn` (synchronous, like better-sqlite3) again while it throws SQLITE_BUSY, with a short
 * growing pause, until `timeoutMs` has passed; then the last error is thrown.
 */
export function retryWhileBusy<T>(
  fn: () => T,
  options: { timeoutMs?: number; sleep?: (ms: number) => void } = {},
): T {
  const deadline = Date.now() + (options.timeoutMs ?? BUSY_TIMEOUT_MS);
  const sleep = options.sleep ?? sleepSync;
  for (let attempt = 1; ; attempt++) {
    try {
      return fn();
    } catch (error) {
      if (!isBusy(error) || Date.now() >= deadline) throw error;
      // Jittered, so that processes that collided do not collide again.
      sleep(Math.min(200, 5 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random()));
    }
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number) {
  Atomics.wait(pause, 0, 0, ms);
}

/** The error for a stored row that cannot be read back: names the store, file and row. */
export function corruptRow(store: string, what: string, why: string, cause?: unknown) {
  return new FoldsweepError(`${store}: ${what} is corrupt: ${why}`, { cause });
}

/**
 * Parses a row's JSON body and validates it with `schema`.
 * @param store e.g. `state store /home/.foldsweep/state.db`
 * @throws FoldsweepError naming the store, the row and every bad field
 */
export function decodeBody<S extends z.ZodType>(
  schema: S,
  body: string,
  store: string,
  what: string,
): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw corruptRow(store, what, `its body is not JSON (${(error as Error).message})`, error);
  }
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  const issues = toFieldIssues(result.error).map((i) => `${i.path}: ${i.message}`);
  throw corruptRow(
    store,
    what,
    `its body is not a valid record: ${issues.join('; ')}`,
    result.error,
  );
}
