import { z } from 'zod';
import { parseOrThrow } from '../shared/schemas/issues.js';

/**
 * Trainer process settings, from the environment (the executor sets them; on AWS Batch,
 * AWS_BATCH_JOB_ARRAY_INDEX selects the trial).
 */
export const TrainerEnvSchema = z
  .object({
    FOLDSWEEP_HOME: z.string().min(1).default('.foldsweep'),
    FOLDSWEEP_PLAN_KEY: z.string().min(1, 'set FOLDSWEEP_PLAN_KEY to the plan object key'),
    FOLDSWEEP_TRIAL_INDEX: z.coerce.number().int().nonnegative().optional(),
    AWS_BATCH_JOB_ARRAY_INDEX: z.coerce.number().int().nonnegative().optional(),
    FOLDSWEEP_ATTEMPT: z.coerce.number().int().min(1).default(1),
    FOLDSWEEP_BACKEND: z
      .enum(['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'])
      .default('auto'),
  })
  .refine(
    (e) => e.FOLDSWEEP_TRIAL_INDEX !== undefined || e.AWS_BATCH_JOB_ARRAY_INDEX !== undefined,
    {
      message: 'set FOLDSWEEP_TRIAL_INDEX (or AWS_BATCH_JOB_ARRAY_INDEX on Batch)',
      path: ['FOLDSWEEP_TRIAL_INDEX'],
    },
  );
export type TrainerEnv = z.infer<typeof TrainerEnvSchema>;

export function readTrainerEnv(env: NodeJS.ProcessEnv = process.env) {
  const e = parseOrThrow(TrainerEnvSchema, env, 'trainer environment');
  return { ...e, trialIndex: (e.FOLDSWEEP_TRIAL_INDEX ?? e.AWS_BATCH_JOB_ARRAY_INDEX) as number };
}

/** Exit codes: the executor (and Batch's evaluateOnExit) decides on retries from these. */
export const EXIT = {
  ok: 0,
  /** The trial failed for a reason a retry will not fix (bad data, diverged); result written. */
  trialFailed: 2,
  /** The process could not start the trial (bad environment, missing plan). */
  config: 3,
} as const;
