/**
 * Trainer process entry point: runs ONE trial of a plan and exits.
 * Locally the process-pool executor forks it with an IPC channel for progress and the objects
 * live under FOLDSWEEP_HOME; on AWS Batch it is the container's command, the trial is
 * FOLDSWEEP_TRIAL_OFFSET + AWS_BATCH_JOB_ARRAY_INDEX and the objects live in S3.
 * Training is reproducible: the random source (weight initialisation, shuffling) is seeded from
 * the plan's seed and the trial index, so a trial gives the same result on either path.
 * With FOLDSWEEP_REQUIRE_GPU=true (the Batch job definition) a trainer that would train without
 * a GPU writes a failed result and exits with EXIT.config instead of training for hours on CPUs.
 */
import { resolve } from 'node:path';
import pino from 'pino';
import { FsObjectStore } from '../shared/adapters/local/fs-object-store.js';
import { getJson, type ObjectStore } from '../shared/ports/object-store.js';
import { mulberry32 } from '../shared/random.js';
import { type Plan, PlanSchema, trialResultKey } from '../shared/schemas/plan.js';
import { type TrialResult, TrialResultSchema } from '../shared/schemas/trial-result.js';
import { type SelectedBackend, selectBackend } from './backend.js';
import { Checkpointer } from './checkpoint.js';
import { EXIT, readTrainerEnv, type TrainerStorage } from './config.js';
import { runTrial } from './run-trial.js';

export type TrainerMessage =
  | { type: 'started'; backend: string; totalEpochs: number }
  | { type: 'epoch'; epoch: number; totalEpochs: number; valAccuracy: number; valLoss: number };

const send = (message: TrainerMessage) => {
  if (process.send) process.send(message);
};

// JSON lines on stdout: CloudWatch Logs on Batch (the local pool ignores stdout).
const logger = pino(
  { level: process.env.FOLDSWEEP_LOG_LEVEL ?? 'info', base: { component: 'trainer' } },
  pino.destination({ dest: 1, sync: true }),
);

async function openObjectStore(storage: TrainerStorage): Promise<ObjectStore> {
  if (storage.kind === 'fs') return new FsObjectStore(resolve(storage.home, 'objects'));
  // Loaded only on Batch, so the local path never pays for the AWS SDK.
  const [{ S3Client }, { S3ObjectStore }] = await Promise.all([
    import('@aws-sdk/client-s3'),
    import('../shared/adapters/aws/s3-object-store.js'),
  ]);
  const client = new S3Client(
    storage.endpoint
      ? {
          endpoint: storage.endpoint,
          forcePathStyle: true,
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        }
      : {},
  );
  return new S3ObjectStore({ client, bucket: storage.bucket });
}

/** Seeds Math.random (tfjs draws its initialiser seeds and fit's shuffles from it). */
function seedRandomness(seed: number, trialIndex: number) {
  Math.random = mulberry32((Math.imul(seed >>> 0, 0x9e3779b1) ^ trialIndex) >>> 0);
}

/** tfjs-node-gpu reports whether libtensorflow found a CUDA device. */
function usesGpu(backend: SelectedBackend): boolean {
  if (backend.name !== 'tensorflow-gpu') return false;
  return (backend.tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === true;
}

/** A failed TrialResult for a trial that could not start. */
async function writeFailure(
  objects: ObjectStore,
  plan: Plan,
  trialIndex: number,
  attempt: number,
  reason: string,
) {
  const trial = plan.trials[trialIndex];
  if (!trial) return;
  const at = new Date().toISOString();
  const result: TrialResult = {
    sweepId: plan.sweepId,
    trialIndex,
    variantId: trial.variantId,
    fold: trial.fold,
    status: 'failed',
    reason,
    attempt,
    startedAt: at,
    finishedAt: at,
    durationMs: 0,
    epochs: [],
    objective: null,
  };
  await objects.put(trialResultKey(plan.sweepId, trialIndex), JSON.stringify(result, null, 1));
}

async function main(): Promise<number> {
  let env: ReturnType<typeof readTrainerEnv>;
  let plan: Plan;
  let objects: ObjectStore;
  try {
    env = readTrainerEnv();
    objects = await openObjectStore(env.storage);
    plan = PlanSchema.parse(await getJson(objects, env.FOLDSWEEP_PLAN_KEY));
  } catch (error) {
    process.stderr.write(`foldsweep trainer: ${(error as Error).message}\n`);
    return EXIT.config;
  }
  const log = logger.child({
    sweepId: plan.sweepId,
    trial: env.trialIndex,
    attempt: env.attempt,
    batchJobId: env.AWS_BATCH_JOB_ID,
  });
  log.info(
    env.storage.kind === 's3'
      ? { storage: 's3', bucket: env.storage.bucket, endpoint: env.storage.endpoint }
      : { storage: 'fs', home: env.storage.home },
    'trainer starting',
  );
  // A retried Batch attempt of a trial that already finished (killed after writing its result)
  // must not train again: the stored result is complete.
  const existing = await getJson(objects, trialResultKey(plan.sweepId, env.trialIndex))
    .then((json) => TrialResultSchema.safeParse(json))
    .catch(() => undefined);
  if (existing?.success && existing.data.status === 'succeeded') {
    log.info({ previousAttempt: existing.data.attempt }, 'trial already succeeded: nothing to do');
    return EXIT.ok;
  }
  seedRandomness(plan.spec.seed, env.trialIndex);
  let backend: SelectedBackend;
  try {
    backend = await selectBackend({ prefer: env.FOLDSWEEP_BACKEND });
    log.info({ backend: backend.name, detail: backend.detail }, 'tensorflow backend selected');
    if (env.requireGpu && !usesGpu(backend)) {
      throw new Error(
        `FOLDSWEEP_REQUIRE_GPU is set but training would run on ${backend.detail} without a GPU: check the image's CUDA libraries and the instance type`,
      );
    }
  } catch (error) {
    // A host or image problem, not the trial's: fail loudly, with the reason in the result.
    const reason = (error as Error).message;
    process.stderr.write(`foldsweep trainer: ${reason}\n`);
    await writeFailure(objects, plan, env.trialIndex, env.attempt, reason).catch(() => undefined);
    return EXIT.config;
  }
  send({ type: 'started', backend: backend.name, totalEpochs: plan.spec.training.epochs });
  // Per-epoch checkpoints: a retried attempt (Spot reclaim, SIGKILL) resumes from the last one.
  const checkpoints = new Checkpointer({
    tf: backend.tf,
    objects,
    sweepId: plan.sweepId,
    trialIndex: env.trialIndex,
    attempt: env.attempt,
    logger: log,
  });
  try {
    const result = await runTrial(
      {
        tf: backend.tf,
        backend: backend.name,
        objects,
        checkpoints,
        onEpoch: (m, totalEpochs) => {
          log.info({ epoch: m.epoch, totalEpochs, valAccuracy: m.valAccuracy }, 'epoch');
          send({
            type: 'epoch',
            epoch: m.epoch,
            totalEpochs,
            valAccuracy: m.valAccuracy,
            valLoss: m.valLoss,
          });
        },
      },
      plan,
      env.trialIndex,
      env.attempt,
    );
    log.info({ objective: result.objective, bestEpoch: result.bestEpoch }, 'trial succeeded');
    await clearCheckpoints(checkpoints, log);
    return EXIT.ok;
  } catch (error) {
    process.stderr.write(
      `foldsweep trainer: trial ${env.trialIndex} failed: ${(error as Error).stack}\n`,
    );
    // Its failed result is written and Batch does not retry it: nothing will resume.
    await clearCheckpoints(checkpoints, log);
    return EXIT.trialFailed;
  }
}

async function clearCheckpoints(checkpoints: Checkpointer, log: typeof logger) {
  await checkpoints.clear().catch((error: unknown) => {
    log.warn({ err: error }, 'could not delete the checkpoints of the finished trial');
  });
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
