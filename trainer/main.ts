/**
 * Trainer process entry point: runs ONE trial of a plan and exits.
 * Locally the process-pool executor forks it with an IPC channel for progress; on AWS Batch it
 * is the container's command and AWS_BATCH_JOB_ARRAY_INDEX selects the trial.
 */
import { resolve } from 'node:path';
import { FsObjectStore } from '../shared/adapters/local/fs-object-store.js';
import { getJson } from '../shared/ports/object-store.js';
import { PlanSchema } from '../shared/schemas/plan.js';
import { selectBackend } from './backend.js';
import { EXIT, readTrainerEnv } from './config.js';
import { runTrial } from './run-trial.js';

export type TrainerMessage =
  | { type: 'started'; backend: string; totalEpochs: number }
  | { type: 'epoch'; epoch: number; totalEpochs: number; valAccuracy: number; valLoss: number };

const send = (message: TrainerMessage) => {
  if (process.send) process.send(message);
};

async function main(): Promise<number> {
  let env: ReturnType<typeof readTrainerEnv>;
  let plan: import('../shared/schemas/plan.js').Plan;
  const objects = (home: string) => new FsObjectStore(resolve(home, 'objects'));
  try {
    env = readTrainerEnv();
    plan = PlanSchema.parse(await getJson(objects(env.FOLDSWEEP_HOME), env.FOLDSWEEP_PLAN_KEY));
  } catch (error) {
    process.stderr.write(`foldsweep trainer: ${(error as Error).message}\n`);
    return EXIT.config;
  }
  const backend = await selectBackend({ prefer: env.FOLDSWEEP_BACKEND });
  send({ type: 'started', backend: backend.name, totalEpochs: plan.spec.training.epochs });
  try {
    await runTrial(
      {
        tf: backend.tf,
        backend: backend.name,
        objects: objects(env.FOLDSWEEP_HOME),
        onEpoch: (m, totalEpochs) =>
          send({
            type: 'epoch',
            epoch: m.epoch,
            totalEpochs,
            valAccuracy: m.valAccuracy,
            valLoss: m.valLoss,
          }),
      },
      plan,
      env.trialIndex,
      env.FOLDSWEEP_ATTEMPT,
    );
    return EXIT.ok;
  } catch (error) {
    process.stderr.write(
      `foldsweep trainer: trial ${env.trialIndex} failed: ${(error as Error).stack}\n`,
    );
    return EXIT.trialFailed;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
    if (process.connected) process.disconnect();
  },
  (error) => {
    process.stderr.write(`foldsweep trainer: ${(error as Error).stack}\n`);
    process.exitCode = 1;
  },
);
