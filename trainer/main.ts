/**
 * Trainer process entry point. By default it runs ONE trial of a plan and exits: on AWS Batch it
 * is the container's command, the trial is FOLDSWEEP_TRIAL_OFFSET + AWS_BATCH_JOB_ARRAY_INDEX and
 * the objects live in S3; locally FOLDSWEEP_TRIAL_INDEX names the trial and the objects live under
 * FOLDSWEEP_HOME. Forked by the local process pool with FOLDSWEEP_WORKER=1 and an IPC channel, it
 * stays up and runs the trials the pool sends, one after another (trainer/worker.ts serveTrials).
 * Training is reproducible: the random source (weight initialisation, shuffling) is seeded from
 * the plan's seed and the trial index, so a trial gives the same result on either path.
 * With FOLDSWEEP_REQUIRE_GPU=true (the Batch job definition) a trainer that would train without
 * a GPU writes a failed result and exits with EXIT.config instead of training for hours on CPUs.
 */
import { runTrialFromEnv, serveTrials, type TrainerMessage } from './worker.js';

export type { TrainerMessage };

if (process.env.FOLDSWEEP_WORKER === '1' && process.send) {
  serveTrials();
} else {
  // Forked by the local pool: a parent that died (kill -9) takes its trainer with it, so a
  // process taking the sweep over never trains the same trial beside an orphan.
  if (process.send) process.on('disconnect', () => process.exit());
  runTrialFromEnv(process.env, {
    send: (message) => {
      if (process.send) process.send(message);
    },
  }).then(
    (code) => {
      process.exitCode = code;
      if (process.connected) process.disconnect();
    },
    (error) => {
      process.stderr.write(`foldsweep trainer: ${(error as Error).stack}\n`);
      process.exitCode = 1;
    },
  );
}
