/**
 * When a trial's trainer is run again, defined once for both executors: the local process pool
 * (shared/adapters/local/process-pool-executor.ts) applies these rules itself, and AWS Batch
 * applies them as the job's retryStrategy (shared/adapters/aws/batch-retry.ts, infra/policies.ts).
 * A new attempt is made only for what it can fix (the host went away: Spot reclaim, instance
 * terminated, the process SIGKILLed from outside, e.g. by the OOM killer) and resumes from the
 * trial's last per-epoch checkpoint (trainer/checkpoint.ts).
 * @module
 */
import { TRAINER_EXIT } from './schemas/runtime-env.js';

/** Exit code of a process killed with SIGKILL (128 + 9), as a container reports it. */
export const SIGKILL_EXIT_CODE = 137;

/** Attempts per trial (first run + retries), locally and on Batch (at most 10 there). */
export const TRIAL_ATTEMPTS = 3;

export type RetryAction = 'RETRY' | 'EXIT';

export interface EvaluateOnExitRule {
  onStatusReason?: string;
  onReason?: string;
  onExitCode?: string;
  action: RetryAction;
}

/**
 * Rules are evaluated in order, first match wins; when none matches Batch RETRIES, hence the
 * catch-all EXIT at the end. Batch allows at most 5 rules.
 * - `Host EC2*` on the status reason: Spot reclaim or instance termination ("Host EC2 (instance
 *   i-0abc) terminated.") -> retry.
 * - `OutOfMemoryError*` on the container reason: the same trial would run out of memory again.
 * - exit 137: the process was SIGKILLed from outside (host drain, manual kill) -> retry.
 * - everything else -> exit: TRAINER_EXIT.trialFailed (2) and TRAINER_EXIT.config (3) mean a
 *   retry cannot help (a failed trial has already written its result).
 */
export const TRIAL_RETRY_RULES: readonly EvaluateOnExitRule[] = [
  { onStatusReason: 'Host EC2*', action: 'RETRY' },
  { onReason: 'OutOfMemoryError*', action: 'EXIT' },
  { onExitCode: String(SIGKILL_EXIT_CODE), action: 'RETRY' },
  { onReason: '*', action: 'EXIT' },
];

/** Exit codes that the rules above must treat as final (checked by the unit tests). */
export const FINAL_EXIT_CODES = [TRAINER_EXIT.trialFailed, TRAINER_EXIT.config] as const;

/** Batch's pattern match: exact, or a prefix when the pattern ends with `*`. */
export function matchesPattern(pattern: string, value: string | undefined): boolean {
  if (pattern.endsWith('*')) return (value ?? '').startsWith(pattern.slice(0, -1));
  return value === pattern;
}

/**
 * What to do with a finished attempt under `rules`: the action of the first rule whose given
 * conditions all match, else RETRY (Batch's default). The local pool and the Batch emulator in
 * test/ use it, so both run the rules that run on AWS.
 * @example
 * evaluateOnExit(TRIAL_RETRY_RULES, { exitCode: 137 }); // 'RETRY'
 */
export function evaluateOnExit(
  rules: readonly EvaluateOnExitRule[],
  attempt: { statusReason?: string; reason?: string; exitCode?: number },
): RetryAction {
  for (const rule of rules) {
    if (
      rule.onStatusReason !== undefined &&
      !matchesPattern(rule.onStatusReason, attempt.statusReason)
    )
      continue;
    if (rule.onReason !== undefined && !matchesPattern(rule.onReason, attempt.reason)) continue;
    if (
      rule.onExitCode !== undefined &&
      !matchesPattern(
        rule.onExitCode,
        attempt.exitCode === undefined ? undefined : String(attempt.exitCode),
      )
    )
      continue;
    return rule.action.toUpperCase() as RetryAction;
  }
  return 'RETRY';
}
