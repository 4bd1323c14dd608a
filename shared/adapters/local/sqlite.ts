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
 */
export function openSqlite(file: string, schema: string): Database.Database {
  if (file !== ':memory:' && file !== '' && !file.startsWith('file:')) {
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  }
  const db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.pragma('journal_mode = WAL');
  db.exec(schema);
  return db;
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
