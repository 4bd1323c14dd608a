import type { Plan, Refit } from '../schemas/plan.js';
import type { TrialStatus } from '../schemas/state.js';

/** Progress reported by an executor while trials run (locally: per epoch). */
export type ExecutorEvent =
  | { type: 'trial-started'; sweepId: string; trialIndex: number; totalEpochs: number }
  | {
      type: 'epoch';
      sweepId: string;
      trialIndex: number;
      epoch: number;
      totalEpochs: number;
      /** null for a refit (no validation split): `accuracy` is the training accuracy. */
      valAccuracy: number | null;
      valLoss: number | null;
      accuracy?: number;
    }
  | {
      type: 'trial-finished';
      sweepId: string;
      trialIndex: number;
      status: 'succeeded' | 'failed';
      objective: number | null;
      reason?: string;
    }
  | { type: 'sweep-drained'; sweepId: string };

export interface ExecutorDescription {
  sweepId: string;
  trials: { index: number; status: TrialStatus }[];
}

/** Trial counts an executor can tell while its jobs run (AWS: the array jobs' status summary). */
export interface ExecutorProgress {
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
}

export interface SubmitOptions {
  /** Trials that already ended (a resumed sweep): not run again. */
  finished?: ReadonlyMap<number, 'succeeded' | 'failed'>;
  /**
   * Successive halving: run only these trial indices, the trials of rung `rung` (listed in
   * `rungKey(sweepId, rung)` in the object store before submit). A sweep is submitted once per
   * rung, each time after the previous rung drained; the drained path runs after each rung.
   */
  rung?: { rung: number; trials: readonly number[] };
  /**
   * The refit trial (shared/planner/refit.ts), which is not in `plan.trials`: submitted as a
   * rung of one trial (`rung.trials` = [refit.trialIndex]) once every fold trial finished.
   */
  refit?: Refit;
}

/**
 * Runs one trainer per trial of a plan. Local: a process pool; AWS: one Batch array job per part.
 * Contract (test/contracts/executor.contract.ts):
 * - `submit` returns once the trials are accepted (not when they finish), with the job ids the
 *   sweep stores (events of other jobs are ignored); trials in `finished` are not run again;
 * - each trial ends with a TrialResult in the object store, failed trials included, and when
 *   every trial of a sweep is terminal the deployment's drained path runs (locally the executor
 *   calls back, on AWS an EventBridge rule invokes the aggregator);
 * - `cancel` starts no further trial of the sweep and stops the running ones (a stopped trial
 *   writes no result: it is unfinished, and a resume runs it);
 * - `progress` counts the trials of a running sweep when the executor knows better than the
 *   trial records (undefined otherwise).
 * @example
 * const { jobIds } = await executor.submit(plan);
 * await executor.cancel(plan.sweepId, jobIds);
 */
export interface Executor {
  submit(plan: Plan, options?: SubmitOptions): Promise<{ jobIds: string[] }>;
  cancel(sweepId: string, jobIds?: readonly string[]): Promise<void>;
  describe(sweepId: string): Promise<ExecutorDescription>;
  progress?(sweepId: string, jobIds: readonly string[]): Promise<ExecutorProgress | undefined>;
}
