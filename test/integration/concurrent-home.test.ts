/**
 * Several processes on one home at once, as users start them: the real bin/foldsweep.mjs in
 * child processes. A fresh home's state.db opened by four processes together (SQLite's switch to
 * WAL and the schema race there), and two `foldsweep run` on one fresh home at the same time.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsObjectStore } from '../../shared/adapters/local/fs-object-store.js';
import { SqliteStateStore } from '../../shared/adapters/local/sqlite-state-store.js';
import { getJson } from '../../shared/ports/object-store.js';
import { trialResultKey } from '../../shared/schemas/plan.js';
import { TrialResultSchema } from '../../shared/schemas/trial-result.js';
import { FOLDSWEEP_BIN } from '../helpers/cli.js';
import { makeWorkspace } from '../helpers/workspace.js';

const exec = promisify(execFile);
const OPEN_HOME = fileURLToPath(new URL('../helpers/open-home.ts', import.meta.url));

/** `foldsweep <args>`: exit code and output, never throws. */
async function foldsweep(args: string[]) {
  try {
    const { stdout, stderr } = await exec(process.execPath, [FOLDSWEEP_BIN, ...args], {
      timeout: 150_000,
    });
    return { code: 0, out: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: `${e.stdout}${e.stderr}` };
  }
}

function integrityOf(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    return {
      integrity: db.pragma('integrity_check', { simple: true }),
      journal: db.pragma('journal_mode', { simple: true }),
    };
  } finally {
    db.close();
  }
}

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
let scratch: string;
beforeAll(async () => {
  ws = await makeWorkspace({ samples: 45 });
  scratch = await mkdtemp(join(tmpdir(), 'foldsweep-concurrent-'));
});
afterAll(async () => {
  await ws.cleanup();
  await rm(scratch, { recursive: true, force: true });
});

describe('one home, several processes', () => {
  it('four processes opening a fresh home together all succeed, five times over', async () => {
    for (let round = 1; round <= 5; round++) {
      const file = join(scratch, `fresh-${round}`, 'state.db');
      // Started together: each waits for the same instant after its imports.
      const at = String(Date.now() + 3000);
      const outcomes = await Promise.all(
        Array.from({ length: 4 }, () =>
          exec(process.execPath, ['--import', 'tsx', OPEN_HOME, file, at]).then(
            (r) => ({ code: 0, out: r.stdout + r.stderr }),
            (e: { code: number; stdout: string; stderr: string }) => ({
              code: e.code,
              out: `${e.stdout}${e.stderr}`,
            }),
          ),
        ),
      );
      for (const o of outcomes) {
        expect(o.out, `round ${round}`).not.toMatch(/database is locked|SqliteError/);
        expect(o, `round ${round}`).toEqual({ code: 0, out: 'opened\n' });
      }
      expect(integrityOf(file)).toEqual({ integrity: 'ok', journal: 'wal' });
      const state = new SqliteStateStore(file);
      expect((await state.listSweeps()).length).toBe(0);
      await state.close();
    }
  }, 240_000);

  it('two foldsweep run on one fresh home at once both complete; no trial is trained twice', async () => {
    const home = join(scratch, 'two-runs');
    const specFile = join(scratch, 'two-runs.json');
    await writeFile(
      specFile,
      JSON.stringify(
        ws.spec({ searchSpace: { strategy: ['scratch', 'finetune'], freezeDepth: [0] } }),
      ),
    );
    const runs = await Promise.all([
      foldsweep(['run', specFile, '--home', home, '--concurrency', '1', '--backend', 'wasm']),
      foldsweep(['run', specFile, '--home', home, '--concurrency', '1', '--backend', 'wasm']),
    ]);
    for (const r of runs) {
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/Sweep \S+ \(tiny\): completed/);
    }

    expect(integrityOf(join(home, 'state.db'))).toEqual({ integrity: 'ok', journal: 'wal' });
    const state = new SqliteStateStore(join(home, 'state.db'));
    const objects = new FsObjectStore(join(home, 'objects'));
    try {
      const sweeps = await state.listSweeps();
      expect(sweeps.map((s) => s.status)).toEqual(['completed', 'completed']);
      for (const sweep of sweeps) {
        const trials = await state.listTrials(sweep.id);
        expect(trials).toHaveLength(6);
        for (const t of trials) {
          expect(t).toMatchObject({ status: 'succeeded', attempt: 1 });
          const result = TrialResultSchema.parse(
            await getJson(objects, trialResultKey(sweep.id, t.trialIndex)),
          );
          // Trained once, by its own sweep's process, on its first attempt.
          expect(result).toMatchObject({ sweepId: sweep.id, attempt: 1, status: 'succeeded' });
        }
        expect(await state.getChampion(sweep.id)).toBeDefined();
      }
    } finally {
      await state.close();
    }
  }, 300_000);
});
