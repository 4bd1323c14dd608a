import { type ChildProcess, fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Executor, ExecutorDescription, ExecutorEvent } from '../../ports/executor.js';
import type { Logger } from '../../ports/logger.js';
import { getJson, type ObjectStore } from '../../ports/object-store.js';
import type { StateStore } from '../../ports/state-store.js';
import { type Plan, planKey, trialResultKey } from '../../schemas/plan.js';
import type { TrialStatus } from '../../schemas/state.js';
import { type TrialResult, TrialResultSchema } from '../../schemas/trial-result.js';

const TRAINER_ENTRY = fileURLToPath(new URL('../../../trainer/main.ts', import.meta.url));
const STDERR_TAIL = 4000;

export interface ProcessPoolExecutorOptions {
  /** FOLDSWEEP_HOME the trainer processes open (objects under `<home>/objects`). */
  home: string;
  objects: ObjectStore;
  state: StateStore;
  /** Trainer processes at once; default one per core. */
  concurrency?: number;
  /** Backend forced on the trainers (default auto: best present). */
  backend?: 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
  logger?: Logger;
  onEvent?: (event: ExecutorEvent) => void;
  /** Called once when every trial of a sweep is terminal: the local aggregation trigger. */
  onDrained?: (sweepId: string) => Promise<void>;
  /** Trainer entry module (tests may point at a stand-in that crashes on purpose). */
  trainerEntry?: string;
}

interface QueuedTrial {
  sweepId: string;
  trialIndex: number;
  variantId: string;
  fold: number;
  totalEpochs: number;
}

interface SweepRun {
  statuses: TrialStatus[];
  children: Map<number, ChildProcess>;
  cancelled: boolean;
  drained: boolean;
  done: Promise<void>;
  resolveDone: () => void;
}

/**
 * Runs each trial in its own trainer process (`trainer/main.ts`), at most `concurrency` at once.
 * A crashing trainer fails its trial only: if it exits without writing a result, the executor
 * writes a failed TrialResult with the exit code/signal and the tail of its stderr.
 * @example
 * const executor = new ProcessPoolExecutor({ home, objects, state, onDrained: aggregate });
 * await executor.submit(plan);
 * await executor.waitFor(plan.sweepId);
 */
export class ProcessPoolExecutor implements Executor {
  readonly concurrency: number;
  private readonly queue: QueuedTrial[] = [];
  private readonly runs = new Map<string, SweepRun>();
  private running = 0;

  constructor(private readonly options: ProcessPoolExecutorOptions) {
    this.concurrency = Math.max(1, options.concurrency ?? availableParallelism());
  }

  /**
   * Queues the plan's trials. `finished` maps trials that already ended (e.g. before a restart)
   * to their status: they are not run again.
   */
  async submit(
    plan: Plan,
    options: { finished?: ReadonlyMap<number, 'succeeded' | 'failed'> } = {},
  ): Promise<void> {
    if (this.runs.has(plan.sweepId)) throw new Error(`sweep ${plan.sweepId} was already submitted`);
    let resolveDone = () => {};
    const done = new Promise<void>((r) => {
      resolveDone = r;
    });
    const finished = options.finished ?? new Map();
    this.runs.set(plan.sweepId, {
      statuses: plan.trials.map((t) => finished.get(t.index) ?? 'pending'),
      children: new Map(),
      cancelled: false,
      drained: false,
      done,
      resolveDone,
    });
    for (const t of plan.trials) {
      if (finished.has(t.index)) continue;
      this.queue.push({
        sweepId: plan.sweepId,
        trialIndex: t.index,
        variantId: t.variantId,
        fold: t.fold,
        totalEpochs: plan.spec.training.epochs,
      });
    }
    this.pump();
    await this.maybeDrained(plan.sweepId);
  }

  /** Resolves when every trial of the sweep is terminal and onDrained has returned. */
  async waitFor(sweepId: string): Promise<void> {
    const run = this.runs.get(sweepId);
    if (!run) throw new Error(`sweep ${sweepId} was not submitted to this executor`);
    await run.done;
  }

  async cancel(sweepId: string): Promise<void> {
    const run = this.runs.get(sweepId);
    if (!run) return;
    run.cancelled = true;
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const q = this.queue[i];
      if (q.sweepId !== sweepId) continue;
      this.queue.splice(i, 1);
      await this.recordFailure(q, 'cancelled before it started', 0);
    }
    for (const child of run.children.values()) child.kill('SIGTERM');
  }

  async describe(sweepId: string): Promise<ExecutorDescription> {
    const run = this.runs.get(sweepId);
    if (run) return { sweepId, trials: run.statuses.map((status, index) => ({ index, status })) };
    const trials = await this.options.state.listTrials(sweepId);
    return { sweepId, trials: trials.map((t) => ({ index: t.trialIndex, status: t.status })) };
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const next = this.queue.shift() as QueuedTrial;
      this.running++;
      this.runTrial(next)
        .catch((error) =>
          this.options.logger?.error(
            { err: error, trial: next.trialIndex },
            'trial bookkeeping failed',
          ),
        )
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
  }

  private async setStatus(q: QueuedTrial, status: TrialStatus, result?: TrialResult) {
    const run = this.runs.get(q.sweepId);
    if (run) run.statuses[q.trialIndex] = status;
    await this.options.state.putTrial({
      sweepId: q.sweepId,
      trialIndex: q.trialIndex,
      variantId: q.variantId,
      fold: q.fold,
      status,
      attempt: result?.attempt ?? (status === 'pending' ? 0 : 1),
      objective: result?.objective ?? null,
      reason: result?.reason,
      backend: result?.backend,
      updatedAt: new Date().toISOString(),
    });
  }

  private async runTrial(q: QueuedTrial): Promise<void> {
    const { logger, onEvent } = this.options;
    const run = this.runs.get(q.sweepId);
    if (!run || run.cancelled) return;
    await this.setStatus(q, 'running');
    onEvent?.({
      type: 'trial-started',
      sweepId: q.sweepId,
      trialIndex: q.trialIndex,
      totalEpochs: q.totalEpochs,
    });
    const { code, signal, stderr } = await this.spawnTrainer(q, run);
    let result: TrialResult | undefined;
    try {
      result = TrialResultSchema.parse(
        await getJson(this.options.objects, trialResultKey(q.sweepId, q.trialIndex)),
      );
    } catch {
      result = undefined;
    }
    if (result && result.status === 'succeeded' && code !== 0) {
      // Wrote a result, then died: keep the result, it is complete.
      logger?.warn(
        { trial: q.trialIndex, code, signal },
        'trainer exited non-zero after its result',
      );
    }
    if (!result) {
      const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
      const reason = run.cancelled
        ? 'cancelled while running'
        : `trainer process ${how} without writing a result${stderr ? `: ${stderr.trim()}` : ''}`;
      result = await this.recordFailure(q, reason, 1, false);
    } else {
      await this.setStatus(q, result.status, result);
    }
    onEvent?.({
      type: 'trial-finished',
      sweepId: q.sweepId,
      trialIndex: q.trialIndex,
      status: result.status,
      objective: result.objective,
      reason: result.reason,
    });
    await this.maybeDrained(q.sweepId);
  }

  private async recordFailure(q: QueuedTrial, reason: string, attempt: number, check = true) {
    const at = new Date().toISOString();
    const result: TrialResult = {
      sweepId: q.sweepId,
      trialIndex: q.trialIndex,
      variantId: q.variantId,
      fold: q.fold,
      status: 'failed',
      reason,
      attempt: Math.max(1, attempt),
      startedAt: at,
      finishedAt: at,
      durationMs: 0,
      epochs: [],
      objective: null,
    };
    await this.options.objects.put(trialResultKey(q.sweepId, q.trialIndex), JSON.stringify(result));
    await this.setStatus(q, 'failed', result);
    if (check) await this.maybeDrained(q.sweepId);
    return result;
  }

  private async maybeDrained(sweepId: string) {
    const run = this.runs.get(sweepId);
    if (!run || run.statuses.some((s) => s === 'pending' || s === 'running')) return;
    if (run.drained) return;
    run.drained = true;
    this.options.onEvent?.({ type: 'sweep-drained', sweepId });
    try {
      await this.options.onDrained?.(sweepId);
    } catch (error) {
      this.options.logger?.error(
        { err: error, sweepId },
        'aggregation after the pool drained failed',
      );
    } finally {
      run.resolveDone();
    }
  }

  private spawnTrainer(q: QueuedTrial, run: SweepRun) {
    return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
      (resolve) => {
        const child = fork(this.options.trainerEntry ?? TRAINER_ENTRY, [], {
          execArgv: ['--import', 'tsx'],
          env: {
            ...process.env,
            FOLDSWEEP_HOME: this.options.home,
            FOLDSWEEP_PLAN_KEY: planKey(q.sweepId),
            FOLDSWEEP_TRIAL_INDEX: String(q.trialIndex),
            FOLDSWEEP_ATTEMPT: '1',
            FOLDSWEEP_BACKEND: this.options.backend ?? 'auto',
          },
          stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        });
        run.children.set(q.trialIndex, child);
        let stderr = '';
        child.stderr?.setEncoding('utf8');
        child.stderr?.on('data', (chunk: string) => {
          stderr = (stderr + chunk).slice(-STDERR_TAIL);
        });
        child.on('message', (message: unknown) => {
          const m = message as { type?: string } & Record<string, number>;
          if (m.type === 'epoch') {
            this.options.onEvent?.({
              type: 'epoch',
              sweepId: q.sweepId,
              trialIndex: q.trialIndex,
              epoch: m.epoch,
              totalEpochs: m.totalEpochs,
              valAccuracy: m.valAccuracy,
              valLoss: m.valLoss,
            });
          }
        });
        child.on('error', (error) => {
          stderr += `\n${error.message}`;
        });
        // 'close' (not 'exit') so stderr is fully read before the reason is written.
        child.on('close', (code, signal) => {
          run.children.delete(q.trialIndex);
          resolve({ code, signal, stderr });
        });
      },
    );
  }
}
