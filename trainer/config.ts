import { z } from 'zod';
import { parseOrThrow } from '../shared/schemas/issues.js';
import { TRAINER_EXIT } from '../shared/schemas/runtime-env.js';

const index = z.coerce.number().int().nonnegative();

/**
 * Trainer process settings, from the environment. Locally the process-pool executor sets
 * FOLDSWEEP_HOME, FOLDSWEEP_PLAN_KEY and FOLDSWEEP_TRIAL_INDEX. On AWS Batch the executor sets
 * FOLDSWEEP_BUCKET, FOLDSWEEP_PLAN_KEY and FOLDSWEEP_TRIAL_OFFSET, and Batch sets
 * AWS_BATCH_JOB_ID, AWS_BATCH_JOB_ARRAY_INDEX and AWS_BATCH_JOB_ATTEMPT: the trial is
 * offset + array index and objects live in S3.
 */
export const TrainerEnvSchema = z
  .object({
    FOLDSWEEP_HOME: z.string().min(1).default('.foldsweep'),
    FOLDSWEEP_PLAN_KEY: z.string().min(1, 'set FOLDSWEEP_PLAN_KEY to the plan object key'),
    FOLDSWEEP_TRIAL_INDEX: index.optional(),
    FOLDSWEEP_TRIAL_OFFSET: index.default(0),
    /**
     * Successive halving on Batch: the object listing the rung's trials; the trial is then
     * `trials[offset + array index]` (resolveTrialIndex), not offset + array index itself.
     */
    FOLDSWEEP_TRIAL_LIST_KEY: z.string().min(1).optional(),
    FOLDSWEEP_ATTEMPT: z.coerce.number().int().min(1).default(1),
    FOLDSWEEP_BACKEND: z
      .enum(['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'])
      .default('auto'),
    /** Fail instead of training without a GPU (set on the Batch job definition). */
    FOLDSWEEP_REQUIRE_GPU: z.enum(['true', 'false', '1', '0', '']).default('false'),
    FOLDSWEEP_BUCKET: z.string().min(3, 'set FOLDSWEEP_BUCKET to the S3 bucket name').optional(),
    FOLDSWEEP_S3_ENDPOINT: z.string().url().optional(),
    AWS_BATCH_JOB_ID: z.string().min(1).optional(),
    AWS_BATCH_JOB_ARRAY_INDEX: index.optional(),
    AWS_BATCH_JOB_ATTEMPT: z.coerce.number().int().min(1).optional(),
  })
  .refine(
    (e) => e.FOLDSWEEP_TRIAL_INDEX !== undefined || e.AWS_BATCH_JOB_ARRAY_INDEX !== undefined,
    {
      message: 'set FOLDSWEEP_TRIAL_INDEX (or AWS_BATCH_JOB_ARRAY_INDEX on Batch)',
      path: ['FOLDSWEEP_TRIAL_INDEX'],
    },
  )
  .refine((e) => !onBatch(e) || e.FOLDSWEEP_BUCKET !== undefined, {
    message: 'on AWS Batch, set FOLDSWEEP_BUCKET to the S3 bucket that holds the plan',
    path: ['FOLDSWEEP_BUCKET'],
  });
export type TrainerEnv = z.infer<typeof TrainerEnvSchema>;

function onBatch(e: { AWS_BATCH_JOB_ID?: string; AWS_BATCH_JOB_ARRAY_INDEX?: number }) {
  return e.AWS_BATCH_JOB_ID !== undefined || e.AWS_BATCH_JOB_ARRAY_INDEX !== undefined;
}

/** Where the trainer reads the plan and writes results: the local folder or the S3 bucket. */
export type TrainerStorage =
  | { kind: 'fs'; home: string }
  | { kind: 's3'; bucket: string; endpoint?: string };

export function readTrainerEnv(env: NodeJS.ProcessEnv = process.env) {
  const e = parseOrThrow(TrainerEnvSchema, env, 'trainer environment');
  const trialIndex =
    e.FOLDSWEEP_TRIAL_INDEX ?? e.FOLDSWEEP_TRIAL_OFFSET + (e.AWS_BATCH_JOB_ARRAY_INDEX as number);
  const storage: TrainerStorage =
    onBatch(e) && e.FOLDSWEEP_BUCKET
      ? { kind: 's3', bucket: e.FOLDSWEEP_BUCKET, endpoint: e.FOLDSWEEP_S3_ENDPOINT }
      : { kind: 'fs', home: e.FOLDSWEEP_HOME };
  return {
    ...e,
    trialIndex,
    /** 1 for the first run; Batch counts its retries in AWS_BATCH_JOB_ATTEMPT. */
    attempt: e.AWS_BATCH_JOB_ATTEMPT ?? e.FOLDSWEEP_ATTEMPT,
    requireGpu: e.FOLDSWEEP_REQUIRE_GPU === 'true' || e.FOLDSWEEP_REQUIRE_GPU === '1',
    storage,
  };
}

/**
 * The trial a trainer runs: `env.trialIndex`, or with FOLDSWEEP_TRIAL_LIST_KEY (a halving rung
 * on Batch) the entry at that position of the listed rung's trials.
 */
export async function resolveTrialIndex(
  env: Pick<ReturnType<typeof readTrainerEnv>, 'trialIndex' | 'FOLDSWEEP_TRIAL_LIST_KEY'>,
  readJson: (key: string) => Promise<unknown>,
): Promise<number> {
  if (env.FOLDSWEEP_TRIAL_LIST_KEY === undefined || env.trialIndex === undefined) {
    return env.trialIndex;
  }
  const listed = TrialListSchema.parse(await readJson(env.FOLDSWEEP_TRIAL_LIST_KEY));
  const trial = listed.trials[env.trialIndex];
  if (trial === undefined) {
    throw new Error(
      `position ${env.trialIndex} is outside ${env.FOLDSWEEP_TRIAL_LIST_KEY}'s ${listed.trials.length} trials`,
    );
  }
  return trial;
}

const TrialListSchema = z.object({ trials: z.array(index) });

/**
 * Exit codes: the local executor and the retry rules (shared/trial-retry.ts)
 * decide on retries from these; the table lives in shared/schemas/runtime-env.ts.
 */
export const EXIT = TRAINER_EXIT;
