/**
 * The trainer job's retry strategy on Batch: BatchExecutor sends it with every SubmitJob and
 * infra/ puts the same value on the job definition. The rules and the number of attempts are
 * shared/trial-retry.ts's, which the local process pool applies too; a retried attempt resumes
 * from the trial's last checkpoint.
 * @module
 */
import type { RetryStrategy } from '@aws-sdk/client-batch';
import { TRIAL_ATTEMPTS, TRIAL_RETRY_RULES } from '../../trial-retry.js';

export {
  type EvaluateOnExitRule,
  evaluateOnExit,
  FINAL_EXIT_CODES,
  matchesPattern,
  type RetryAction,
  SIGKILL_EXIT_CODE,
} from '../../trial-retry.js';

/** Batch's evaluateOnExit rules: the shared trial retry rules. */
export const BATCH_RETRY_RULES = TRIAL_RETRY_RULES;

/** Attempts per trial (first run + retries): the shared TRIAL_ATTEMPTS. */
export const BATCH_ATTEMPTS = TRIAL_ATTEMPTS;

/** The retryStrategy of SubmitJob and of the job definition. */
export const BATCH_RETRY_STRATEGY: RetryStrategy = {
  attempts: BATCH_ATTEMPTS,
  evaluateOnExit: BATCH_RETRY_RULES.map((rule) => ({ ...rule })),
};
