/**
 * What the local pool and its trainer processes say to each other over the fork's IPC channel
 * (trainer/main.ts, trainer/worker.ts on one side, shared/adapters/local/process-pool-executor.ts
 * on the other).
 * @module
 */

/** Progress messages a trainer sends its parent over IPC (the local pool forks with one). */
export type TrainerMessage =
  | { type: 'started'; backend: string; totalEpochs: number }
  | {
      type: 'epoch';
      epoch: number;
      totalEpochs: number;
      /** null for a refit (no validation split): `accuracy` is then the training accuracy. */
      valAccuracy: number | null;
      valLoss: number | null;
      accuracy?: number;
    };

/**
 * Worker protocol (FOLDSWEEP_WORKER=1, see serveTrials): the parent waits for `ready`, then sends
 * one `run` at a time; the worker answers with TrainerMessages and one `done` per run.
 */
export interface RunTrialRequest {
  type: 'run';
  planKey: string;
  trialIndex: number;
  attempt: number;
}
export type WorkerMessage =
  | TrainerMessage
  | { type: 'ready'; pid: number }
  | {
      type: 'done';
      trialIndex: number;
      /** The exit code a one-trial trainer process would have exited with (EXIT). */
      code: number;
      /** What the trial wrote to stderr (its failure), also written to the worker's stderr. */
      error?: string;
      /** tf.memory().numTensors before the trial, after it, and after disposing leaked variables. */
      tensors?: { before: number; after: number; afterCleanup: number };
      /** The worker leaks tensors it could not free: the parent replaces it. */
      retire?: boolean;
    };
