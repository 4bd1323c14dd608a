/**
 * The local home (FOLDSWEEP_HOME: objects/, state.db, logs/) as a place to write: checked once
 * when a process opens it, and every storage error a local adapter meets (a file where the home
 * should be, no permission, a read-only file system, a full disk) turned into one line that names
 * the place and what to do, instead of a raw ENOTDIR/EACCES/EROFS/ENOSPC stack.
 * @module
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  statfsSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { FoldsweepError } from '../../errors.js';

/** Below this much free space a home is refused at start: a sweep would fail part-way. */
export const MIN_FREE_BYTES = 4 * 1024 * 1024;

export type StorageProblem = 'not-a-folder' | 'not-writable' | 'read-only' | 'full';

/**
 * A home (or a folder in it) that cannot be written. `problem` says why; the message is one line
 * naming the place and what to do.
 */
export class HomeUnusableError extends FoldsweepError {
  constructor(
    readonly place: string,
    readonly problem: StorageProblem,
    readonly code: string,
    options?: { cause?: unknown; doing?: string; label?: string },
  ) {
    super(
      homeMessage(`${options?.label ?? 'home'} ${place}`, place, problem, code, options?.doing),
      options,
    );
    this.name = 'HomeUnusableError';
  }
}

const PROBLEMS: Record<string, StorageProblem> = {
  ENOTDIR: 'not-a-folder',
  EEXIST: 'not-a-folder',
  EACCES: 'not-writable',
  EPERM: 'not-writable',
  EROFS: 'read-only',
  ENOSPC: 'full',
  EDQUOT: 'full',
  SQLITE_READONLY: 'not-writable',
  SQLITE_READONLY_DIRECTORY: 'not-writable',
  SQLITE_CANTOPEN: 'not-writable',
  SQLITE_FULL: 'full',
};

function homeMessage(
  named: string,
  place: string,
  problem: StorageProblem,
  code: string,
  doing?: string,
) {
  const during = doing ? ` (${code} ${doing})` : ` (${code})`;
  switch (problem) {
    case 'not-a-folder':
      return `${named} is not a folder${during}: give --home (or FOLDSWEEP_HOME) a folder, or move that file away`;
    case 'not-writable':
      return `${named} is not writable by this user${during}: make it writable (chmod -R u+w ${place}) or give --home another folder`;
    case 'read-only':
      return `${named} is on a read-only file system${during}: give --home a folder on a writable disk`;
    case 'full':
      return `${named}: the disk is full${during}: free space on it or give --home a folder on another disk, then \`foldsweep resume <sweep-id>\` continues an interrupted sweep`;
  }
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The HomeUnusableError for a storage error met at `place` (a home, or a folder or file in it),
 * or undefined when `error` is another kind of error.
 */
export function storageProblem(
  error: unknown,
  place: string,
  doing?: string,
  options: { label?: string; only?: StorageProblem[] } = {},
): HomeUnusableError | undefined {
  if (error instanceof HomeUnusableError) return error;
  const code = codeOf(error);
  const problem = code ? PROBLEMS[code] : undefined;
  if (!code || !problem || (options.only && !options.only.includes(problem))) return undefined;
  return new HomeUnusableError(place, problem, code, { cause: error, doing, label: options.label });
}

/** Rethrows a storage error as a HomeUnusableError naming `place`; other errors as they are. */
export function rethrowStorageProblem(error: unknown, place: string, doing?: string): never {
  throw storageProblem(error, place, doing) ?? error;
}

/**
 * Makes the home and its logs folder and checks that this process can write there and that the
 * disk has room (MIN_FREE_BYTES): a small file is written, synced and removed.
 * @throws HomeUnusableError naming the home and what to do
 */
export function ensureWritableHome(home: string, options: { minFreeBytes?: number } = {}): void {
  const logs = path.join(home, 'logs');
  try {
    mkdirSync(logs, { recursive: true });
  } catch (error) {
    // A recursive mkdir on a read-only file system reports ENOENT: the write below says why.
    if (!statSync(home, { throwIfNoEntry: false })?.isDirectory()) {
      rethrowStorageProblem(error, home, `making ${logs}`);
    }
    probeWrite(home);
    throw error;
  }
  probeWrite(home);
  const minFree = options.minFreeBytes ?? MIN_FREE_BYTES;
  const fs = statfsSync(home);
  const free = fs.bavail * fs.bsize;
  if (free < minFree) {
    throw new HomeUnusableError(home, 'full', 'ENOSPC', {
      doing: `${Math.floor(free / 1024)} KB free, at least ${Math.ceil(minFree / 1024)} KB needed`,
    });
  }
}

/** Writes, syncs and removes a small file in `home`. */
function probeWrite(home: string) {
  const probe = path.join(home, `.write-check-${process.pid}`);
  try {
    const fd = openSync(probe, 'w');
    try {
      writeSync(fd, 'foldsweep\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    unlinkSync(probe);
  } catch (error) {
    try {
      unlinkSync(probe);
    } catch {
      // It was never created.
    }
    rethrowStorageProblem(error, home, `writing ${probe}`);
  }
}
