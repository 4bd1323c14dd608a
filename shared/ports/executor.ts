import type { Plan } from '../schemas/plan.js';
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
      valAccuracy: number;
      valLoss: number;
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

/**
 * Runs one trainer per trial of a plan. Local: a process pool; AWS: one Batch array job.
 * Contract: `submit` returns once the trials are accepted (not when they finish); each trial
 * ends with a TrialResult in the object store, failed trials included; when every trial of a
 * sweep is terminal, the deployment's aggregation runs (locally the executor calls back, on AWS
 * an EventBridge rule invokes the aggregator).
 * @example
 * await executor.submit(plan);
 * const { trials } = await executor.describe(plan.sweepId);
 */
export interface Executor {
  submit(plan: Plan): Promise<void>;
  cancel(sweepId: string): Promise<void>;
  describe(sweepId: string): Promise<ExecutorDescription>;
}
