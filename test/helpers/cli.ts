/** Runs the real bin/foldsweep.mjs in a child process, as a user does. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const FOLDSWEEP_BIN = join(import.meta.dirname, '../../bin/foldsweep.mjs');

/** Exit code, stdout and stderr of `foldsweep <args>` run in `cwd` (2 minutes at most). */
export async function foldsweep(args: string[], cwd: string) {
  try {
    const { stdout, stderr } = await run(process.execPath, [FOLDSWEEP_BIN, ...args], {
      cwd,
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
