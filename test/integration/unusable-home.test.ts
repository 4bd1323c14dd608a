/**
 * `foldsweep` on a home it cannot use, as a user meets it (bin/foldsweep.mjs in a child process):
 * a path that is a file, a read-only home, a full disk. Each gives exit code 2 and one line that
 * names the home and what to do (no stack), and leaves what the home held intact.
 * Read-only and full disks are real where this process may mount a tmpfs (root with
 * CAP_SYS_ADMIN, as on the project's machines); elsewhere a non-root user gets a chmod'ed folder,
 * and root without mount (chmod does not stop root) asserts that root still writes there, as
 * the test titles say.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureWritableHome, storageProblem } from '../../shared/adapters/local/home.js';
import { ProcessPoolExecutor } from '../../shared/adapters/local/process-pool-executor.js';
import type { ObjectStore } from '../../shared/ports/object-store.js';
import { settleSweep } from '../../shared/service/lifecycle.js';
import { createSweep, getSweep } from '../../shared/service/sweeps.js';
import { foldsweep } from '../helpers/cli.js';
import { makeWorkspace } from '../helpers/workspace.js';

const OPEN_HOME = fileURLToPath(new URL('../helpers/open-home.ts', import.meta.url));
const CRASHING_TRAINER = fileURLToPath(new URL('../helpers/crashing-trainer.ts', import.meta.url));

/** Whether this process may mount a tmpfs (decided once, before the tests are named). */
function tmpfsMountable(): boolean {
  const dir = join(tmpdir(), `foldsweep-mount-probe-${process.pid}`);
  try {
    execFileSync('mkdir', ['-p', dir]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
    execFileSync('umount', [dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    execFileSync('rm', ['-rf', dir]);
  }
}
const MOUNT = tmpfsMountable();
const ROOT = process.getuid?.() === 0;
const READ_ONLY = MOUNT ? 'a read-only tmpfs' : ROOT ? 'root, no mount: chmod' : 'chmod 555';
const FULL = MOUNT ? 'a 1 MB tmpfs' : 'no tmpfs: the free-space check in process';

const mounts: string[] = [];
function mountTmpfs(dir: string, options: string) {
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  mounts.push(dir);
}

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
let scratch: string;
beforeAll(async () => {
  ws = await makeWorkspace({ samples: 30 });
  scratch = await mkdtemp(join(tmpdir(), 'foldsweep-unusable-'));
});
afterAll(async () => {
  for (const dir of mounts.reverse()) {
    try {
      execFileSync('umount', [dir]);
    } catch {
      // Already gone.
    }
  }
  await ws.cleanup();
  await rm(scratch, { recursive: true, force: true });
});

/** Exactly one line on stderr, `error: home <home> ...`, and no stack. */
function expectOneLine(result: { code: number; stdout: string; stderr: string }, home: string) {
  expect(result.code, result.stderr).toBe(2);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^error: home ${home.replace(/[/.]/g, '\\$&')}[ :]`));
  expect(result.stderr).not.toMatch(/^\s+at /m);
  return lines[0];
}

describe('an unusable home', () => {
  it('--home naming a file: one line, and the file is untouched', async () => {
    const file = join(scratch, 'a-file');
    await writeFile(file, 'mine');
    const result = await foldsweep(['list', '--home', file], scratch);
    const line = expectOneLine(result, file);
    expect(line).toMatch(/is not a folder \((ENOTDIR|EEXIST) .*\): give --home/);
  });

  it(`a read-only home (${READ_ONLY}): one line; its sweeps are intact once writable again`, async () => {
    const dir = join(scratch, 'ro');
    await mkdir(dir, { recursive: true });
    if (MOUNT) mountTmpfs(dir, 'size=8m');
    const home = join(dir, 'home');
    // A home in use: its state.db holds a row.
    execFileSync(process.execPath, ['--import', 'tsx', OPEN_HOME, join(home, 'state.db'), '0']);
    const files = (await readdir(home)).sort();

    if (MOUNT) execFileSync('mount', ['-o', 'remount,ro', dir]);
    else await chmod(home, 0o555);
    const result = await foldsweep(['list', '--home', home], scratch);
    if (MOUNT) execFileSync('mount', ['-o', 'remount,rw', dir]);
    else await chmod(home, 0o755);

    if (!MOUNT && ROOT) {
      // chmod does not stop root: the home is writable for it, and it is used.
      expect(result.code, result.stderr).toBe(0);
    } else {
      const line = expectOneLine(result, home);
      expect(line).toMatch(
        MOUNT
          ? /is on a read-only file system \(EROFS .*\): give --home a folder on a writable disk/
          : /is not writable by this user \(EACCES .*\): make it writable/,
      );
    }
    expect((await readdir(home)).sort()).toEqual(files);
    const db = new Database(join(home, 'state.db'), { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.prepare('SELECT count(*) AS n FROM trials').get()).toEqual({ n: 1 });
    db.close();
  }, 60_000);

  it(`a full disk (${FULL}): foldsweep run refuses with one line and stores nothing`, async () => {
    if (!MOUNT) {
      expect(() =>
        ensureWritableHome(join(scratch, 'nospace'), { minFreeBytes: Number.MAX_SAFE_INTEGER }),
      ).toThrow(/the disk is full \(ENOSPC \d+ KB free, at least \d+ KB needed\): free space/);
      return;
    }
    const dir = join(scratch, 'full');
    await mkdir(dir, { recursive: true });
    mountTmpfs(dir, 'size=1m');
    const home = join(dir, 'home');
    const specFile = join(scratch, 'spec.json');
    await writeFile(specFile, JSON.stringify(ws.spec({ searchSpace: { strategy: ['scratch'] } })));

    const result = await foldsweep(['run', specFile, '--home', home], scratch);

    const line = expectOneLine(result, home);
    expect(line).toMatch(
      /the disk is full \(ENOSPC \d+ KB free, at least 4096 KB needed\): free space on it or give --home a folder on another disk/,
    );
    expect(await readdir(home)).toEqual(['logs']);
  }, 60_000);

  it('a disk that fills mid-sweep (ENOSPC injected into the executor object store): the trial fails with the reason and the sweep still ends', async () => {
    // Trial 0's trainer dies on every attempt, so the pool writes its failed result itself; that
    // write finds the disk full.
    process.env.FOLDSWEEP_TEST_CRASH_TRIAL = '0';
    const full: ObjectStore = Object.create(ws.objects);
    full.put = async (key, body) => {
      if (key.endsWith('/trials/00000/result.json')) {
        const enospc = Object.assign(new Error('ENOSPC: no space left on device'), {
          code: 'ENOSPC',
        });
        throw storageProblem(enospc, ws.objects.root, `writing ${key}`, {
          label: 'object store',
        });
      }
      return ws.objects.put(key, body);
    };
    const executor = new ProcessPoolExecutor({
      home: ws.home,
      objects: full,
      state: ws.state,
      concurrency: 1,
      backend: 'wasm',
      trainerEntry: CRASHING_TRAINER,
      maxAttempts: 1,
      onDrained: async (id) => {
        await settleSweep({ ...ws.deps, executor }, id);
      },
    });
    try {
      const { sweep } = await createSweep(
        { ...ws.deps, executor },
        ws.spec({ searchSpace: { strategy: ['scratch'] } }),
      );
      await executor.waitFor(sweep.id);

      const trials = await ws.state.listTrials(sweep.id);
      expect(trials.map((t) => t.status)).toEqual(['failed', 'succeeded', 'succeeded']);
      expect(trials[0].reason).toMatch(
        /^recording the trial failed: object store \S+: the disk is full \(ENOSPC writing sweeps\/\S+\/trials\/00000\/result.json\): free space/,
      );
      // Not stuck: the sweep was settled (its variant is incomplete, so no champion).
      expect(['completed', 'failed']).toContain((await getSweep(ws.deps, sweep.id)).status);
    } finally {
      delete process.env.FOLDSWEEP_TEST_CRASH_TRIAL;
      await executor.close();
    }
  }, 120_000);
});
