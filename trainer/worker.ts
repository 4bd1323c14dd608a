/**
 * What a trainer process does: run one trial named by its environment (`runTrialFromEnv`: the
 * one-trial process of trainer/main.ts, AWS Batch's container command) or, as the local pool's
 * long-lived worker, the trials its parent sends over IPC one after another (`serveTrials`).
 */
import { resolve } from 'node:path';
import pino from 'pino';
import { FsObjectStore } from '../shared/adapters/local/fs-object-store.js';
import { readRefit } from '../shared/planner/refit.js';
import { getJson, type ObjectStore } from '../shared/ports/object-store.js';
import { mulberry32 } from '../shared/random.js';
import {
  type Plan,
  PlanSchema,
  type Refit,
  trialAt,
  trialResultKey,
} from '../shared/schemas/plan.js';
import type {
  RunTrialRequest,
  TrainerMessage,
  WorkerMessage,
} from '../shared/schemas/trainer-protocol.js';
import { failedTrialResult, TrialResultSchema } from '../shared/schemas/trial-result.js';
import { type SelectedBackend, selectBackend } from './backend.js';
import { Checkpointer } from './checkpoint.js';
import { EXIT, readTrainerEnv, resolveTrialIndex, type TrainerStorage } from './config.js';
import { runTrial } from './run-trial.js';
import type { Tf } from './tf.js';

export type { RunTrialRequest, TrainerMessage, WorkerMessage };

// JSON lines on stdout: CloudWatch Logs on Batch (the local pool ignores stdout).
let rootLogger: pino.Logger | undefined;
function getLogger() {
  rootLogger ??= pino(
    { level: process.env.FOLDSWEEP_LOG_LEVEL ?? 'info', base: { component: 'trainer' } },
    pino.destination({ dest: 1, sync: true }),
  );
  return rootLogger;
}

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
  refit?: Refit,
) {
  const trial = trialAt(plan, trialIndex, refit);
  if (!trial) return;
  const result = failedTrialResult(
    { sweepId: plan.sweepId, trialIndex, variantId: trial.variantId, fold: trial.fold },
    reason,
    { attempt, at: new Date().toISOString() },
  );
  await objects.put(trialResultKey(plan.sweepId, trialIndex), JSON.stringify(result, null, 1));
}

export interface TrialRunOptions {
  /** Progress for the parent process (default: none). */
  send?: (message: TrainerMessage) => void;
  /** Failure text; default process.stderr. */
  writeError?: (text: string) => void;
  /** Called with the backend's tf once it is selected (the worker measures its tensors). */
  onBackend?: (tf: Tf) => void;
}

/**
 * Runs ONE trial named by a trainer environment (trainer/config.ts: plan key, trial index,
 * storage, backend) and returns the exit code a trainer process exits with (EXIT). The trial's
 * random source is seeded from the plan's seed and the trial index, so the result does not depend
 * on what the process ran before.
 */
export async function runTrialFromEnv(
  environment: NodeJS.ProcessEnv,
  options: TrialRunOptions = {},
): Promise<number> {
  const send = options.send ?? (() => {});
  const writeError = options.writeError ?? ((text: string) => process.stderr.write(text));
  const logger = getLogger();
  let env: ReturnType<typeof readTrainerEnv>;
  let plan: Plan;
  let objects: ObjectStore;
  let refit: Refit | undefined;
  try {
    env = readTrainerEnv(environment);
    objects = await openObjectStore(env.storage);
    plan = PlanSchema.parse(await getJson(objects, env.FOLDSWEEP_PLAN_KEY));
    // Successive halving on Batch: the array index is a position in the rung's trial list.
    env.trialIndex = await resolveTrialIndex(env, (key) => getJson(objects, key));
    // The refit trial (index plan.trials.length) is described beside the plan.
    if (env.trialIndex >= plan.trials.length) refit = await readRefit(objects, plan.sweepId);
    if (!trialAt(plan, env.trialIndex, refit)) {
      throw new Error(
        `trial index ${env.trialIndex} is outside the plan (0..${plan.trials.length - 1}) and is not its refit`,
      );
    }
  } catch (error) {
    writeError(`foldsweep trainer: ${(error as Error).message}\n`);
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
    writeError(`foldsweep trainer: ${reason}\n`);
    await writeFailure(objects, plan, env.trialIndex, env.attempt, reason, refit).catch(
      () => undefined,
    );
    return EXIT.config;
  }
  options.onBackend?.(backend.tf);
  const totalEpochs =
    refit?.trialIndex === env.trialIndex ? refit.epochs : plan.spec.training.epochs;
  send({ type: 'started', backend: backend.name, totalEpochs });
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
        onEpoch: (m, epochs) => {
          log.info(
            {
              epoch: m.epoch,
              totalEpochs: epochs,
              valAccuracy: m.valAccuracy,
              accuracy: m.accuracy,
            },
            'epoch',
          );
          send({
            type: 'epoch',
            epoch: m.epoch,
            totalEpochs: epochs,
            valAccuracy: m.valAccuracy,
            valLoss: m.valLoss,
            accuracy: m.accuracy,
          });
        },
      },
      plan,
      env.trialIndex,
      env.attempt,
      refit,
    );
    log.info({ objective: result.objective, bestEpoch: result.bestEpoch }, 'trial succeeded');
    await clearCheckpoints(checkpoints, log);
    return EXIT.ok;
  } catch (error) {
    writeError(`foldsweep trainer: trial ${env.trialIndex} failed: ${(error as Error).stack}\n`);
    // Its failed result is written and Batch does not retry it: nothing will resume.
    await clearCheckpoints(checkpoints, log);
    return EXIT.trialFailed;
  }
}

async function clearCheckpoints(checkpoints: Checkpointer, log: pino.Logger) {
  await checkpoints.clear().catch((error: unknown) => {
    log.warn({ err: error }, 'could not delete the checkpoints of the finished trial');
  });
}

/**
 * The local pool's long-lived trainer (trainer/main.ts with FOLDSWEEP_WORKER=1 and an IPC
 * channel): runs the trials its parent sends, one after another, so that tsx, tfjs and the wasm
 * binary load once per worker instead of once per trial. Each trial gets the environment a
 * one-trial process would (`run`'s plan key, trial index and attempt over the fork's env) and its
 * own seeded random source. After each trial, tensors must be back to the count before it:
 * leaked variables (e.g. an optimizer a model did not own) are disposed; if tensors still leak,
 * `done` says retire and the parent starts a fresh worker for the next trial. Exits when the
 * parent disconnects.
 */
export function serveTrials(): void {
  const send = (message: WorkerMessage) => {
    if (process.connected) process.send?.(message);
  };
  let busy = false;
  let exitWhenIdle = false;
  process.on('message', (raw: unknown) => {
    const m = raw as RunTrialRequest | { type: 'exit' };
    if (m?.type === 'exit') {
      // The parent retires this worker (idle, or closing): leave once the current trial is done.
      exitWhenIdle = true;
      if (!busy) process.disconnect();
      return;
    }
    if (m?.type !== 'run') return;
    if (busy) {
      process.stderr.write(`foldsweep worker: run of trial ${m.trialIndex} while busy: ignored\n`);
      return;
    }
    busy = true;
    let tf: Tf | undefined;
    let before = 0;
    let error = '';
    void runTrialFromEnv(
      {
        ...process.env,
        FOLDSWEEP_PLAN_KEY: m.planKey,
        FOLDSWEEP_TRIAL_INDEX: String(m.trialIndex),
        FOLDSWEEP_ATTEMPT: String(m.attempt),
      },
      {
        send,
        writeError: (text) => {
          error = (error + text).slice(-4000);
          process.stderr.write(text);
        },
        onBackend: (backendTf) => {
          tf = backendTf;
          before = backendTf.memory().numTensors;
        },
      },
    )
      .catch((err: unknown) => {
        const text = `foldsweep trainer: ${(err as Error).stack ?? String(err)}\n`;
        error = (error + text).slice(-4000);
        process.stderr.write(text);
        return 1;
      })
      .then((code) => {
        let tensors: { before: number; after: number; afterCleanup: number } | undefined;
        let retire = false;
        if (tf) {
          const after = tf.memory().numTensors;
          // Nothing of a finished trial stays registered: what is left is a leak.
          if (after > before) tf.disposeVariables();
          const afterCleanup = tf.memory().numTensors;
          tensors = { before, after, afterCleanup };
          retire = afterCleanup > before;
        }
        busy = false;
        send({
          type: 'done',
          trialIndex: m.trialIndex,
          code,
          error: error || undefined,
          tensors,
          retire,
        });
        if (exitWhenIdle && process.connected) process.disconnect();
      });
  });
  // The parent retired this worker or went away.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', pid: process.pid });
}
