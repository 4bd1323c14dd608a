/** The Executor contract on the local process pool (trainer workers on the wasm backend). */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { ProcessPoolExecutor } from '../../shared/adapters/local/process-pool-executor.js';
import { settleSweep } from '../../shared/service/lifecycle.js';
import { createSweep } from '../../shared/service/sweeps.js';
import { executorContract } from '../contracts/executor.contract.js';
import { makeWorkspace, RecordingExecutor } from '../helpers/workspace.js';

const CRASHING_TRAINER = fileURLToPath(new URL('../helpers/crashing-trainer.ts', import.meta.url));

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
let n = 0;

beforeAll(async () => {
  ws = await makeWorkspace({ samples: 60 });
});

afterAll(async () => {
  await ws?.cleanup();
});

function alive(pid: number) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

executorContract('ProcessPoolExecutor', async () => {
  // Every trainer start is logged as "<pid> <trial index>" (test/helpers/crashing-trainer.ts).
  const pidLog = join(ws.dir, `trainers-${++n}.log`);
  process.env.FOLDSWEEP_TEST_PID_LOG = pidLog;
  const starts = async () =>
    (await readFile(pidLog, 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' ').map(Number) as [number, number]);
  const executor = new ProcessPoolExecutor({
    home: ws.home,
    objects: ws.objects,
    state: ws.state,
    concurrency: 2,
    backend: 'wasm',
    trainerEntry: CRASHING_TRAINER,
    killGraceMs: 1000,
    onDrained: async (id) => {
      await settleSweep({ ...ws.deps, executor }, id);
    },
  });
  const planning = { ...ws.deps, executor: new RecordingExecutor() };
  return {
    executor,
    objects: ws.objects,
    state: ws.state,
    plan: async (spec) => (await createSweep(planning, ws.spec(spec))).plan,
    jobIdsFor: () => 0,
    crash: (trialIndex) => {
      process.env.FOLDSWEEP_TEST_CRASH_TRIAL = String(trialIndex);
    },
    waitUntilTerminal: (sweepId) => executor.waitFor(sweepId),
    startedTrials: async () => (await starts()).map(([, trial]) => trial),
    liveTrainers: async () =>
      [...new Set((await starts()).map(([pid]) => pid))].filter(alive).length,
    resumeFinished: 'skipped',
    cleanup: async () => {
      delete process.env.FOLDSWEEP_TEST_CRASH_TRIAL;
      delete process.env.FOLDSWEEP_TEST_PID_LOG;
      await executor.close();
    },
  };
});
