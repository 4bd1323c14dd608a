// A trainer stand-in for executor tests: the trial named by FOLDSWEEP_TEST_CRASH_TRIAL dies
// with SIGKILL before writing anything (like an OOM kill); every other trial runs the real trainer.
// Works as a one-trial process (FOLDSWEEP_TRIAL_INDEX) and as the pool's long-lived worker
// (FOLDSWEEP_WORKER=1: trials arrive over IPC). With FOLDSWEEP_TEST_PID_LOG set, every trial
// appends "<pid> <trial index>" to that file, so tests can see which process ran which trial.
import { appendFileSync } from 'node:fs';

const crashTrial = process.env.FOLDSWEEP_TEST_CRASH_TRIAL;
const pidLog = process.env.FOLDSWEEP_TEST_PID_LOG;

function starting(trialIndex: string) {
  if (pidLog) appendFileSync(pidLog, `${process.pid} ${trialIndex}\n`);
  if (trialIndex === crashTrial) {
    process.stderr.write('about to be killed\n');
    process.kill(process.pid, 'SIGKILL');
  }
}

if (process.env.FOLDSWEEP_WORKER === '1') {
  // Registered before the worker's own listener, so it runs first.
  process.on('message', (m: { type?: string; trialIndex?: number }) => {
    if (m?.type === 'run') starting(String(m.trialIndex));
  });
} else {
  starting(process.env.FOLDSWEEP_TRIAL_INDEX ?? '');
}
await import('../../trainer/main.js');
