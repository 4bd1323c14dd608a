import { type ChildProcess, fork } from 'node:child_process';
import { availableParallelism, constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import type {
  Executor,
  ExecutorDescription,
  ExecutorEvent,
  SubmitOptions,
} from '../../ports/executor.js';
import type { Logger } from '../../ports/logger.js';
import { getJson, type ObjectStore } from '../../ports/object-store.js';
import type { StateStore } from '../../ports/state-store.js';
import { type Plan, planKey, type Trial, trialAt, trialResultKey } from '../../schemas/plan.js';
import type { TrialStatus } from '../../schemas/state.js';
import type { RunTrialRequest, WorkerMessage } from '../../schemas/trainer-protocol.js';
import {
  failedTrialResult,
  type TrialResult,
  TrialResultSchema,
  trialRecordOf,
} from '../../schemas/trial-result.js';
import { evaluateOnExit, TRIAL_ATTEMPTS, TRIAL_RETRY_RULES } from '../../trial-retry.js';

/**
 * tsx's loader by absolute URL: a bare `--import tsx` resolves against the working directory,
 * so trainers would fail to start when foldsweep runs from any folder but the project's.
 */
const TSX_LOADER = import.meta.resolve('tsx');
// Node 20's V8 validates WebAssembly relaxed SIMD (the trainer's FMA kernels) only behind a flag.
const TRAINER_ARGV = process.versions.node.startsWith('20.')
  ? ['--experimental-wasm-relaxed-simd']
  : [];
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
  /** A cancelled trainer gets SIGTERM, then SIGKILL after this long (ms, default 2000). */
  killGraceMs?: number;
  /** Trainer entry module (tests may point at a stand-in that crashes on purpose). */
  trainerEntry?: string;
  /**
   * 'worker' (default): up to `concurrency` long-lived trainer processes, each running trials one
   * after another (tsx, tfjs and the wasm binary load once per worker). 'per-trial': a fresh
   * trainer process for every trial. Default from FOLDSWEEP_TRAINER_PROCESS, else 'worker'.
   */
  trainerProcess?: 'worker' | 'per-trial';
  /**
   * An idle worker exits after this long without a trial (ms, default 5000); all exit as soon as
   * no trial is queued or running.
   */
  workerIdleMs?: number;
  /**
   * Attempts per trial (first run + retries; default TRIAL_ATTEMPTS, the same number Batch
   * uses). A trainer killed from outside (SIGKILL: the OOM killer, a kill -9) without writing a
   * result is run again, up to this many times, and resumes from its last checkpoint; any other
   * ending is final (shared/trial-retry.ts, the rules Batch applies).
   */
  maxAttempts?: number;
}

/** How a trial's trainer ended: like a process exit (a worker reports the code it would exit with). */
interface TrainerOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** The worker survived and reported the trial's exit code itself. */
  fromWorker?: boolean;
}

/** A long-lived trainer process (trainer/main.ts with FOLDSWEEP_WORKER=1). */
interface TrainerWorker {
  child: ChildProcess;
  ready: Promise<boolean>;
  /** The trial it runs, and how to settle it. */
  job?: { q: QueuedTrial; finish: (outcome: TrainerOutcome) => void };
  stderr: string;
  idleTimer?: NodeJS.Timeout;
  closed: boolean;
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
  /** The trials this submission runs (a halving rung's); all of the plan's when absent. */
  members?: ReadonlySet<number>;
  children: Map<number, ChildProcess>;
  cancelled: boolean;
  drained: boolean;
  done: Promise<void>;
  resolveDone: () => void;
}

/**
 * Runs the trials in trainer processes (`trainer/main.ts`), at most `concurrency` at once: by
 * default long-lived workers that run trials one after another, or one process per trial
 * (`trainerProcess: 'per-trial'`).
 * A trainer killed from outside (SIGKILL: the OOM killer, kill -9) without writing a result is
 * run again, up to `maxAttempts` times in all (TRIAL_ATTEMPTS, as on Batch), and resumes from its
 * last per-epoch checkpoint. Any other crash, or the last attempt's, fails its trial only: the
 * executor writes a failed TrialResult with the exit code/signal, the attempts and the tail of
 * its stderr. A dead worker is replaced by a fresh one.
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
  readonly trainerProcess: 'worker' | 'per-trial';
  private readonly idle: TrainerWorker[] = [];
  private readonly workers = new Set<TrainerWorker>();

  constructor(private readonly options: ProcessPoolExecutorOptions) {
    this.concurrency = Math.max(1, options.concurrency ?? availableParallelism());
    const mode = options.trainerProcess ?? process.env.FOLDSWEEP_TRAINER_PROCESS ?? 'worker';
    if (mode !== 'worker' && mode !== 'per-trial') {
      throw new Error(`trainerProcess must be 'worker' or 'per-trial', not '${mode}'`);
    }
    this.trainerProcess = mode;
  }

  /** Stops the idle workers (busy ones finish their trial first, then stop). */
  async close(): Promise<void> {
    this.closing = true;
    const exits = [...this.workers].map(
      (w) => new Promise<void>((r) => (w.closed ? r() : w.child.once('close', () => r()))),
    );
    for (const w of [...this.idle]) this.retire(w);
    await Promise.all(exits);
  }
  private closing = false;

  /**
   * Queues the plan's trials. `finished` maps trials that already ended (e.g. before a restart)
   * to their status: they are not run again.
   */
  async submit(plan: Plan, options: SubmitOptions = {}): Promise<{ jobIds: string[] }> {
    const previous = this.runs.get(plan.sweepId);
    if (previous && !previous.drained) {
      throw new Error(`sweep ${plan.sweepId} is already running in this executor`);
    }
    let resolveDone = () => {};
    const done = new Promise<void>((r) => {
      resolveDone = r;
    });
    const finished = options.finished ?? new Map();
    const members = options.rung ? new Set(options.rung.trials) : undefined;
    // The refit trial comes after the plan's (index plan.trials.length).
    const { refit } = options;
    const trials = refit
      ? [...plan.trials, trialAt(plan, refit.trialIndex, refit) as Trial]
      : plan.trials;
    this.runs.set(plan.sweepId, {
      members,
      statuses: trials.map((t) => finished.get(t.index) ?? 'pending'),
      children: new Map(),
      cancelled: false,
      drained: false,
      done,
      resolveDone,
    });
    for (const t of trials) {
      if (finished.has(t.index) || (members && !members.has(t.index))) continue;
      this.queue.push({
        sweepId: plan.sweepId,
        trialIndex: t.index,
        variantId: t.variantId,
        fold: t.fold,
        totalEpochs: t.index === refit?.trialIndex ? refit.epochs : plan.spec.training.epochs,
      });
    }
    this.pump();
    await this.maybeDrained(plan.sweepId);
    return { jobIds: [] };
  }

  /**
   * Resolves when every trial of the sweep is terminal and onDrained has returned; when
   * onDrained submitted the sweep again (the next rung of successive halving), when that
   * submission has drained too.
   */
  async waitFor(sweepId: string): Promise<void> {
    let run = this.runs.get(sweepId);
    if (!run) throw new Error(`sweep ${sweepId} was not submitted to this executor`);
    while (run) {
      await run.done;
      const next = this.runs.get(sweepId);
      run = next !== run ? next : undefined;
    }
  }

  /**
   * Queued trials of the sweep never start and its running trainers are stopped (SIGTERM, then
   * SIGKILL after `killGraceMs`): they write no result and go back to pending, so a resume runs
   * them. Resolves once none of the sweep's trainers is alive.
   */
  async cancel(sweepId: string): Promise<void> {
    const run = this.runs.get(sweepId);
    if (!run || run.drained) return;
    run.cancelled = true;
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const q = this.queue[i];
      if (q.sweepId !== sweepId) continue;
      this.queue.splice(i, 1);
      await this.setStatus(q, 'pending');
    }
    const children = [...run.children.values()];
    const exited = children.map(
      (child) =>
        new Promise<void>((r) =>
          child.exitCode !== null || child.signalCode !== null
            ? r()
            : child.once('exit', () => r()),
        ),
    );
    for (const child of children) child.kill('SIGTERM');
    const force = setTimeout(() => {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    }, this.options.killGraceMs ?? 2000);
    await Promise.all(exited);
    clearTimeout(force);
    await this.maybeDrained(sweepId);
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
        .catch((error: unknown) => this.abandon(next, error))
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
    // Nothing queued or running: the idle workers exit now (they are reaped by this process, so
    // their CPU time counts in its children's), not at the end of their idle time.
    if (this.running === 0 && this.queue.length === 0) {
      for (const w of [...this.idle]) this.retire(w);
    }
  }

  private async setStatus(q: QueuedTrial, status: TrialStatus, result?: TrialResult, attempt = 1) {
    const run = this.runs.get(q.sweepId);
    if (run) run.statuses[q.trialIndex] = status;
    const updatedAt = new Date().toISOString();
    await this.options.state.putTrial(
      result
        ? trialRecordOf(result, updatedAt)
        : {
            sweepId: q.sweepId,
            trialIndex: q.trialIndex,
            variantId: q.variantId,
            fold: q.fold,
            status,
            attempt: status === 'pending' ? 0 : attempt,
            objective: null,
            updatedAt,
          },
    );
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
    const attempts = Math.max(1, this.options.maxAttempts ?? TRIAL_ATTEMPTS);
    const earlier: string[] = [];
    let result: TrialResult | undefined;
    for (let attempt = 1; ; attempt++) {
      const { code, signal, stderr, fromWorker } =
        this.trainerProcess === 'worker'
          ? await this.runOnWorker(q, run, attempt)
          : await this.spawnTrainer(q, run, attempt);
      result = await this.readResult(q);
      if (result && result.status === 'succeeded' && code !== 0) {
        // Wrote a result, then died: keep the result, it is complete.
        logger?.warn(
          { trial: q.trialIndex, code, signal },
          'trainer exited non-zero after its result',
        );
      }
      if (!result && run.cancelled) {
        // Stopped by cancel: unfinished, not failed (a resume runs it).
        await this.setStatus(q, 'pending');
        await this.maybeDrained(q.sweepId);
        return;
      }
      if (result) {
        await this.setStatus(q, result.status, result);
        break;
      }
      const how = signal
        ? `killed by ${signal}`
        : `${fromWorker ? 'ended the trial' : 'exited'} with code ${code}`;
      // A signal is reported as a container reports it (128 + its number): the rules Batch applies.
      const exitCode = signal ? 128 + (constants.signals[signal] ?? 0) : (code ?? undefined);
      const retry = evaluateOnExit(TRIAL_RETRY_RULES, { exitCode }) === 'RETRY';
      if (retry && attempt < attempts) {
        earlier.push(how);
        logger?.warn(
          { trial: q.trialIndex, sweepId: q.sweepId, attempt, attempts, code, signal },
          'trainer died without writing a result: running the trial again from its checkpoint',
        );
        await this.setStatus(q, 'running', undefined, attempt + 1);
        continue;
      }
      const tried = earlier.length
        ? ` (attempt ${attempt} of ${attempts}; earlier attempts: ${earlier.join(', ')})`
        : ` (attempt ${attempt} of ${attempts}${retry ? '' : ', not retried'})`;
      const reason = `trainer process ${how} without writing a result${tried}${stderr ? `: ${stderr.trim()}` : ''}`;
      result = await this.recordFailure(q, reason, attempt);
      break;
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

  /**
   * The trial's bookkeeping failed (a full disk, a state store that cannot be written): the
   * trial ends failed with that reason, as far as anything can still be written, so the sweep
   * drains instead of waiting for it forever.
   */
  private async abandon(q: QueuedTrial, error: unknown) {
    const { logger, onEvent } = this.options;
    logger?.error(
      { err: error, trial: q.trialIndex, sweepId: q.sweepId },
      'trial bookkeeping failed',
    );
    const run = this.runs.get(q.sweepId);
    if (!run || run.drained) return;
    const reason = `recording the trial failed: ${(error as Error)?.message ?? String(error)}`;
    run.statuses[q.trialIndex] = 'failed';
    const result = failedTrialResult(q, reason, { at: new Date().toISOString() });
    await this.options.state
      .putTrial(trialRecordOf(result, result.finishedAt))
      .catch((err: unknown) =>
        logger?.error({ err, trial: q.trialIndex }, 'could not record the failed trial either'),
      );
    onEvent?.({
      type: 'trial-finished',
      sweepId: q.sweepId,
      trialIndex: q.trialIndex,
      status: 'failed',
      objective: null,
      reason,
    });
    await this.maybeDrained(q.sweepId).catch(() => undefined);
  }

  private async readResult(q: QueuedTrial): Promise<TrialResult | undefined> {
    try {
      return TrialResultSchema.parse(
        await getJson(this.options.objects, trialResultKey(q.sweepId, q.trialIndex)),
      );
    } catch {
      return undefined;
    }
  }

  private async recordFailure(q: QueuedTrial, reason: string, attempt = 1) {
    const result = failedTrialResult(q, reason, { attempt, at: new Date().toISOString() });
    await this.options.objects.put(trialResultKey(q.sweepId, q.trialIndex), JSON.stringify(result));
    await this.setStatus(q, 'failed', result);
    return result;
  }

  private async maybeDrained(sweepId: string) {
    const run = this.runs.get(sweepId);
    if (!run || run.drained) return;
    if (run.cancelled) {
      // Nothing to aggregate: done once none of its trainers runs.
      if (run.children.size > 0 || run.statuses.includes('running')) return;
      run.drained = true;
      run.resolveDone();
      return;
    }
    const members = run.members;
    if (
      run.statuses.some(
        (s, i) => (s === 'pending' || s === 'running') && (!members || members.has(i)),
      )
    ) {
      return;
    }
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

  /** Runs the trial on an idle worker, or on a new one. */
  private async runOnWorker(
    q: QueuedTrial,
    run: SweepRun,
    attempt: number,
  ): Promise<TrainerOutcome> {
    let worker = this.idle.pop();
    while (worker?.closed) worker = this.idle.pop();
    if (worker?.idleTimer) clearTimeout(worker.idleTimer);
    const w = worker ?? this.startWorker();
    const outcome = new Promise<TrainerOutcome>((resolve) => {
      w.job = { q, finish: resolve };
    });
    w.stderr = '';
    run.children.set(q.trialIndex, w.child);
    // Busy workers keep this process alive; idle ones do not (see parkWorker).
    w.child.ref();
    (w.child.channel as { ref?: () => void } | undefined)?.ref?.();
    if (await w.ready) {
      const request: RunTrialRequest = {
        type: 'run',
        planKey: planKey(q.sweepId),
        trialIndex: q.trialIndex,
        attempt,
      };
      if (!w.closed) w.child.send(request);
    }
    const result = await outcome;
    run.children.delete(q.trialIndex);
    return result;
  }

  private startWorker(): TrainerWorker {
    const child = fork(this.options.trainerEntry ?? TRAINER_ENTRY, [], {
      execArgv: ['--import', TSX_LOADER, ...TRAINER_ARGV],
      env: {
        ...process.env,
        FOLDSWEEP_WORKER: '1',
        FOLDSWEEP_HOME: this.options.home,
        FOLDSWEEP_BACKEND: this.options.backend ?? 'auto',
      },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let markReady: (ok: boolean) => void = () => {};
    const w: TrainerWorker = {
      child,
      ready: new Promise<boolean>((r) => {
        markReady = r;
      }),
      stderr: '',
      closed: false,
    };
    this.workers.add(w);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      w.stderr = (w.stderr + chunk).slice(-STDERR_TAIL);
    });
    child.on('message', (message: unknown) => {
      const m = message as WorkerMessage;
      if (m.type === 'ready') {
        markReady(true);
        return;
      }
      const job = w.job;
      if (!job) return;
      if (m.type === 'epoch') {
        this.options.onEvent?.({
          type: 'epoch',
          sweepId: job.q.sweepId,
          trialIndex: job.q.trialIndex,
          epoch: m.epoch,
          totalEpochs: m.totalEpochs,
          valAccuracy: m.valAccuracy,
          valLoss: m.valLoss,
        });
      } else if (m.type === 'done' && m.trialIndex === job.q.trialIndex) {
        w.job = undefined;
        if (m.retire) {
          this.options.logger?.warn(
            { trial: m.trialIndex, tensors: m.tensors, pid: child.pid },
            'trainer worker leaked tensors: replacing it',
          );
          this.retire(w);
        } else {
          this.parkWorker(w);
        }
        job.finish({
          code: m.code,
          signal: null,
          stderr: m.error ?? (m.code === 0 ? '' : w.stderr),
          fromWorker: true,
        });
      }
    });
    child.on('error', (error) => {
      w.stderr += `\n${error.message}`;
    });
    // 'close' (not 'exit') so stderr is fully read before the reason is written.
    child.on('close', (code, signal) => {
      w.closed = true;
      markReady(false);
      if (w.idleTimer) clearTimeout(w.idleTimer);
      this.workers.delete(w);
      const at = this.idle.indexOf(w);
      if (at >= 0) this.idle.splice(at, 1);
      const job = w.job;
      w.job = undefined;
      job?.finish({ code, signal, stderr: w.stderr });
    });
    return w;
  }

  /** An idle worker waits for the next trial without keeping this process alive, then exits. */
  private parkWorker(w: TrainerWorker) {
    if (w.closed) return;
    if (this.closing) {
      this.retire(w);
      return;
    }
    w.child.unref();
    (w.child.channel as { unref?: () => void } | undefined)?.unref?.();
    w.idleTimer = setTimeout(() => this.retire(w), this.options.workerIdleMs ?? 5000);
    w.idleTimer.unref();
    this.idle.push(w);
  }

  /** Asks a worker to exit (it leaves after its current trial, if any). */
  private retire(w: TrainerWorker) {
    const at = this.idle.indexOf(w);
    if (at >= 0) this.idle.splice(at, 1);
    if (w.idleTimer) clearTimeout(w.idleTimer);
    if (w.closed) return;
    // A parent-side disconnect() leaves the child's 'close' unreported: the worker disconnects.
    if (w.child.connected) w.child.send({ type: 'exit' });
    else w.child.kill('SIGTERM');
  }

  private spawnTrainer(q: QueuedTrial, run: SweepRun, attempt: number) {
    return new Promise<TrainerOutcome>((resolve) => {
      const child = fork(this.options.trainerEntry ?? TRAINER_ENTRY, [], {
        execArgv: ['--import', TSX_LOADER, ...TRAINER_ARGV],
        env: {
          ...process.env,
          FOLDSWEEP_HOME: this.options.home,
          FOLDSWEEP_PLAN_KEY: planKey(q.sweepId),
          FOLDSWEEP_TRIAL_INDEX: String(q.trialIndex),
          FOLDSWEEP_ATTEMPT: String(attempt),
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
    });
  }
}
