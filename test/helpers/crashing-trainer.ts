// A trainer stand-in for executor tests: the trial named by FOLDSWEEP_TEST_CRASH_TRIAL dies
// with SIGKILL before writing anything (like an OOM kill), on every attempt. With
// FOLDSWEEP_TEST_KILL_AFTER_EPOCH=<trial>:<epoch>, that trial's first attempt dies with SIGKILL
// right after epoch <epoch> (0-based) was checkpointed and reported; later attempts run on.
// Every other trial runs the real trainer.
// Works as a one-trial process (FOLDSWEEP_TRIAL_INDEX) and as the pool's long-lived worker
// (FOLDSWEEP_WORKER=1: trials arrive over IPC). With FOLDSWEEP_TEST_PID_LOG set, every trial
// appends "<pid> <trial index>" to that file, so tests can see which process ran which trial.
import { appendFileSync } from 'node:fs';

const crashTrial = process.env.FOLDSWEEP_TEST_CRASH_TRIAL;
const pidLog = process.env.FOLDSWEEP_TEST_PID_LOG;
const [killTrial, killEpoch] = (process.env.FOLDSWEEP_TEST_KILL_AFTER_EPOCH ?? '').split(':');
let current: { trialIndex: string; attempt: string } | undefined;

function starting(trialIndex: string, attempt: string) {
  current = { trialIndex, attempt };
  if (pidLog) appendFileSync(pidLog, `${process.pid} ${trialIndex}\n`);
  if (trialIndex === crashTrial) {
    process.stderr.write('about to be killed\n');
    process.kill(process.pid, 'SIGKILL');
  }
}

if (killTrial !== undefined && process.send) {
  // Epoch progress goes to the parent after the epoch's checkpoint is written.
  const send = process.send.bind(process) as (message: unknown) => boolean;
  process.send = ((message: { type?: string; epoch?: number }, ...rest: unknown[]) => {
    const sent = (send as (...a: unknown[]) => boolean)(message, ...rest);
    if (
      message?.type === 'epoch' &&
      String(message.epoch) === killEpoch &&
      current?.trialIndex === killTrial &&
      current.attempt === '1'
    ) {
      // Let the IPC message leave before the process dies.
      setTimeout(() => process.kill(process.pid, 'SIGKILL'), 20);
    }
    return sent;
  }) as typeof process.send;
}

if (process.env.FOLDSWEEP_WORKER === '1') {
  // Registered before the worker's own listener, so it runs first.
  process.on('message', (m: { type?: string; trialIndex?: number; attempt?: number }) => {
    if (m?.type === 'run') starting(String(m.trialIndex), String(m.attempt ?? 1));
  });
} else {
  starting(process.env.FOLDSWEEP_TRIAL_INDEX ?? '', process.env.FOLDSWEEP_ATTEMPT ?? '1');
}
await import('../../trainer/main.js');
