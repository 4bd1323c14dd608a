/**
 * The state machine of a small AWS Batch: job queues, job definitions, array jobs whose children
 * run as real processes (or in-process functions) with the environment Batch sets, the job's
 * retry strategy (evaluateOnExit) and per-attempt timeout, TerminateJob, and a
 * "Batch Job State Change" event in EventBridge's shape for every transition.
 * server.ts puts Batch's REST protocol in front of it for the real @aws-sdk/client-batch.
 *
 * Job lifecycle as documented by AWS: a plain job or array child goes RUNNABLE -> STARTING ->
 * RUNNING -> SUCCEEDED | FAILED (back to RUNNABLE when an attempt is retried); an array parent
 * goes PENDING when its children become RUNNABLE, then SUCCEEDED when every child succeeded or
 * FAILED when any failed. No event is sent for the initial submission (SUBMITTED).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { constants } from 'node:os';
import { type EvaluateOnExitRule, evaluateOnExit } from '../../shared/adapters/aws/batch-retry.js';
import type { BatchJobStatus } from '../../shared/schemas/events.js';

/** How a container ended. */
export interface ContainerExit {
  exitCode: number;
  /** The container's reason (e.g. `OutOfMemoryError: Container killed due to memory usage`). */
  reason?: string;
}

export interface ContainerContext {
  jobId: string;
  attempt: number;
  env: Record<string, string>;
  /** Aborted when the job is terminated or times out. */
  signal: AbortSignal;
}

/** A registered job definition: a process to spawn, or an in-process container for fast tests. */
export interface EmulatedJobDefinition {
  /** argv: executable first. */
  command?: string[];
  cwd?: string;
  environment?: Record<string, string>;
  run?: (ctx: ContainerContext) => Promise<ContainerExit>;
}

export interface BatchApiError {
  status: number;
  type: string;
  message: string;
  /** Handle the request first, then answer with the error (a response lost after the fact). */
  afterHandling?: boolean;
}

export class BatchClientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClientException';
  }
}

export interface BatchEmulatorOptions {
  region?: string;
  accountId?: string;
  /** Queue names (SubmitJob accepts the name or the ARN). */
  jobQueues: string[];
  /** Job definitions by name (SubmitJob accepts name, name:revision or ARN). */
  jobDefinitions: Record<string, EmulatedJobDefinition>;
  /** Containers running at once: the compute environment's capacity. Default 2. */
  concurrency?: number;
  /**
   * EventBridge target: receives every state-change event (asynchronously, like an async Lambda
   * invocation; a throwing target is retried twice, as Lambda retries async invocations).
   */
  onEvent?: (event: BatchStateChangeEnvelope) => unknown;
  /** attemptDurationSeconds is multiplied by this (tests shrink Batch's 60 s minimum). */
  timeScale?: number;
  /** SIGTERM -> SIGKILL grace on termination (Batch/ECS: 30 s). Default 2 s. */
  stopTimeoutMs?: number;
  /** Environment of every container process before the job's own (PATH, credentials...). */
  baseEnv?: Record<string, string>;
  /** Answer a request with an error instead of handling it (fault injection). */
  intercept?: (operation: string, body: unknown) => BatchApiError | undefined;
}

export interface BatchStateChangeEnvelope {
  version: '0';
  id: string;
  'detail-type': 'Batch Job State Change';
  source: 'aws.batch';
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

interface Attempt {
  container: { exitCode?: number; reason?: string; taskArn: string; logStreamName: string };
  startedAt?: number;
  stoppedAt?: number;
  statusReason?: string;
}

export interface EmulatedJob {
  jobId: string;
  jobArn: string;
  jobName: string;
  jobQueue: string;
  queueName: string;
  jobDefinition: string;
  definition: EmulatedJobDefinition;
  status: BatchJobStatus;
  statusReason?: string;
  createdAt: number;
  startedAt?: number;
  stoppedAt?: number;
  retryStrategy: { attempts: number; evaluateOnExit: EvaluateOnExitRule[] };
  attemptDurationSeconds?: number;
  tags: Record<string, string>;
  propagateTags: boolean;
  environment: Record<string, string>;
  parameters: Record<string, string>;
  size?: number;
  index?: number;
  parent?: EmulatedJob;
  children: EmulatedJob[];
  attempts: Attempt[];
  container: { exitCode?: number; reason?: string };
  isCancelled: boolean;
  isTerminated: boolean;
  /** Last output lines of the current or last attempt (stdout and stderr). */
  output: string[];
  running?: { abort: AbortController; process?: ChildProcess; stop: (why: StopCause) => void };
}

type StopCause =
  | { kind: 'terminated'; reason: string }
  | { kind: 'timeout' }
  | { kind: 'host'; signal: NodeJS.Signals }
  | { kind: 'kill'; signal: NodeJS.Signals };

const TERMINAL: readonly BatchJobStatus[] = ['SUCCEEDED', 'FAILED'];
const OUTPUT_LINES = 200;

const nameOf = (arnOrName: string, kind: string) => {
  const m = new RegExp(`^arn:aws[a-z-]*:batch:[^:]*:[^:]*:${kind}/(.+)$`).exec(arnOrName);
  return m ? m[1] : arnOrName;
};

export class BatchEmulator {
  readonly region: string;
  readonly accountId: string;
  readonly jobs = new Map<string, EmulatedJob>();
  /** Every event sent to the target, in order. */
  readonly events: BatchStateChangeEnvelope[] = [];
  /** Target failures (after Lambda-style retries). */
  readonly deliveryErrors: { event: BatchStateChangeEnvelope; error: unknown }[] = [];
  private readonly queue: EmulatedJob[] = [];
  private running = 0;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly outputWatchers = new Set<(job: EmulatedJob, line: string) => void>();
  private readonly changeWatchers = new Set<() => void>();

  constructor(readonly options: BatchEmulatorOptions) {
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '123456789012';
  }

  arn(kind: 'job' | 'job-queue' | 'job-definition', name: string) {
    return `arn:aws:batch:${this.region}:${this.accountId}:${kind}/${name}`;
  }

  // ---- API operations --------------------------------------------------------------------

  submitJob(input: Record<string, unknown>) {
    const jobName = String(input.jobName ?? '');
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(jobName)) {
      throw new BatchClientError(
        `jobName '${jobName}' must be 1-128 letters, numbers, hyphens or underscores, starting alphanumeric`,
      );
    }
    const queueName = nameOf(String(input.jobQueue ?? ''), 'job-queue');
    if (!this.options.jobQueues.includes(queueName)) {
      throw new BatchClientError(`JobQueue ${input.jobQueue} not found.`);
    }
    const defName = nameOf(String(input.jobDefinition ?? ''), 'job-definition').split(':')[0];
    const definition = this.options.jobDefinitions[defName];
    if (!definition) throw new BatchClientError(`Job definition ${input.jobDefinition} not found.`);
    const size = (input.arrayProperties as { size?: number } | undefined)?.size;
    if (size !== undefined && !(Number.isInteger(size) && size >= 2 && size <= 10_000)) {
      throw new BatchClientError('Array job size must be between 2 and 10000.');
    }
    const retry = (input.retryStrategy ?? {}) as {
      attempts?: number;
      evaluateOnExit?: EvaluateOnExitRule[];
    };
    const attempts = retry.attempts ?? 1;
    if (!(Number.isInteger(attempts) && attempts >= 1 && attempts <= 10)) {
      throw new BatchClientError('retryStrategy.attempts must be between 1 and 10.');
    }
    if ((retry.evaluateOnExit?.length ?? 0) > 5) {
      throw new BatchClientError('retryStrategy.evaluateOnExit allows at most 5 conditions.');
    }
    const timeout = (input.timeout as { attemptDurationSeconds?: number } | undefined)
      ?.attemptDurationSeconds;
    if (timeout !== undefined && !(Number.isInteger(timeout) && timeout >= 60)) {
      throw new BatchClientError('timeout.attemptDurationSeconds must be at least 60 seconds.');
    }
    const overrides = (input.containerOverrides ?? {}) as {
      environment?: { name?: string; value?: string }[];
    };
    const environment: Record<string, string> = { ...definition.environment };
    for (const { name, value } of overrides.environment ?? []) {
      if (name?.startsWith('AWS_BATCH')) {
        throw new BatchClientError(
          `environment variable ${name}: names starting AWS_BATCH are reserved`,
        );
      }
      if (name) environment[name] = value ?? '';
    }
    const jobId = randomUUID();
    const job: EmulatedJob = {
      jobId,
      jobArn: this.arn('job', jobId),
      jobName,
      jobQueue: this.arn('job-queue', queueName),
      queueName,
      jobDefinition: this.arn('job-definition', `${defName}:1`),
      definition,
      status: 'SUBMITTED',
      createdAt: Date.now(),
      retryStrategy: { attempts, evaluateOnExit: retry.evaluateOnExit ?? [] },
      attemptDurationSeconds: timeout,
      tags: { ...((input.tags as Record<string, string>) ?? {}) },
      propagateTags: input.propagateTags === true,
      environment,
      parameters: { ...((input.parameters as Record<string, string>) ?? {}) },
      size,
      children: [],
      attempts: [],
      container: {},
      isCancelled: false,
      isTerminated: false,
      output: [],
    };
    this.jobs.set(jobId, job);
    // Batch answers first and schedules afterwards.
    setImmediate(() => this.schedule(job));
    return { jobArn: job.jobArn, jobName, jobId };
  }

  describeJobs(input: { jobs?: string[] }) {
    const ids = input.jobs ?? [];
    if (ids.length > 100) throw new BatchClientError('jobs: at most 100 job IDs per request.');
    return {
      jobs: ids
        .map((id) => this.jobs.get(id))
        .filter((j): j is EmulatedJob => !!j)
        .map((j) => this.detail(j)),
    };
  }

  listJobs(input: {
    jobQueue?: string;
    arrayJobId?: string;
    jobStatus?: BatchJobStatus;
    maxResults?: number;
    nextToken?: string;
    filters?: { name?: string; values?: string[] }[];
  }) {
    let jobs: EmulatedJob[];
    if (input.arrayJobId) {
      const parent = this.jobs.get(input.arrayJobId);
      if (!parent) throw new BatchClientError(`Job ${input.arrayJobId} not found.`);
      jobs = [...parent.children];
    } else if (input.jobQueue) {
      const queue = nameOf(input.jobQueue, 'job-queue');
      if (!this.options.jobQueues.includes(queue)) {
        throw new BatchClientError(`JobQueue ${input.jobQueue} not found.`);
      }
      jobs = [...this.jobs.values()].filter((j) => j.queueName === queue && !j.parent);
    } else {
      throw new BatchClientError('Specify jobQueue or arrayJobId.');
    }
    const filters = input.filters ?? [];
    if (filters.length) {
      for (const f of filters) {
        if (f.name !== 'JOB_NAME') {
          throw new BatchClientError(`filter ${f.name} is not supported by the emulator`);
        }
        const pattern = (f.values?.[0] ?? '').toLowerCase();
        jobs = jobs.filter((j) => {
          const name = j.jobName.toLowerCase();
          return pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
        });
      }
      jobs.sort((a, b) => b.createdAt - a.createdAt);
    } else {
      const status = input.jobStatus ?? 'RUNNING';
      jobs = jobs.filter((j) => j.status === status);
    }
    const max = Math.min(Math.max(input.maxResults ?? 100, 1), 1000);
    const start = input.nextToken ? Number(Buffer.from(input.nextToken, 'base64').toString()) : 0;
    const page = jobs.slice(start, start + max);
    const next =
      start + max < jobs.length ? Buffer.from(String(start + max)).toString('base64') : undefined;
    return { jobSummaryList: page.map((j) => this.summary(j)), nextToken: next };
  }

  terminateJob(input: { jobId?: string; reason?: string }) {
    if (!input.jobId || input.reason === undefined) {
      throw new BatchClientError('jobId and reason are required.');
    }
    const job = this.jobs.get(input.jobId);
    if (!job) throw new BatchClientError(`Job ${input.jobId} not found.`);
    this.terminate(job, input.reason);
    return {};
  }

  // ---- Test controls ---------------------------------------------------------------------

  /** The job or array child (`<parent id>:<index>`) with this id. */
  job(jobId: string): EmulatedJob {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    return job;
  }

  /** Kills a running container's process, as the host's kernel or an operator would. */
  kill(jobId: string, signal: NodeJS.Signals = 'SIGKILL') {
    this.job(jobId).running?.stop({ kind: 'kill', signal });
  }

  /** The container's host goes away (a Spot reclaim): status reason `Host EC2 (...) terminated.` */
  reclaimHost(jobId: string) {
    this.job(jobId).running?.stop({ kind: 'host', signal: 'SIGKILL' });
  }

  /** Calls `watch` with every output line of every container; returns an unsubscribe. */
  watchOutput(watch: (job: EmulatedJob, line: string) => void): () => void {
    this.outputWatchers.add(watch);
    return () => this.outputWatchers.delete(watch);
  }

  /** Resolves when `predicate` holds (checked after every state change). */
  waitFor(predicate: () => boolean, timeoutMs = 60_000): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.changeWatchers.delete(check);
        reject(new Error(`batch emulator: condition not met within ${timeoutMs} ms`));
      }, timeoutMs);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.changeWatchers.delete(check);
        resolve();
      };
      this.changeWatchers.add(check);
    });
  }

  /** Resolves when every job is terminal and every event has been delivered. */
  async idle(timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    // A delivery may submit another job (the next rung, a refit): idle once none is left.
    for (;;) {
      await this.waitFor(
        () => [...this.jobs.values()].every((j) => TERMINAL.includes(j.status)),
        Math.max(1, end - Date.now()),
      );
      if (!this.pending.size) return;
      await Promise.allSettled([...this.pending]);
    }
  }

  /** Stops every container (for afterAll). */
  async shutdown(): Promise<void> {
    for (const job of this.jobs.values()) {
      if (!TERMINAL.includes(job.status)) this.terminate(job, 'emulator shutting down');
    }
    await this.idle(10_000).catch(() => undefined);
  }

  // ---- State machine ---------------------------------------------------------------------

  private schedule(job: EmulatedJob) {
    if (job.status !== 'SUBMITTED') return; // terminated before it was scheduled
    if (job.size === undefined) {
      this.makeRunnable(job);
      return;
    }
    for (let index = 0; index < job.size; index++) {
      const child: EmulatedJob = {
        ...job,
        jobId: `${job.jobId}:${index}`,
        jobArn: this.arn('job', `${job.jobId}:${index}`),
        status: 'PENDING',
        createdAt: Date.now(),
        tags: { ...job.tags },
        size: undefined,
        index,
        parent: job,
        children: [],
        attempts: [],
        container: {},
        output: [],
      };
      job.children.push(child);
      this.jobs.set(child.jobId, child);
    }
    this.setStatus(job, 'PENDING');
    for (const child of job.children) this.makeRunnable(child);
  }

  private makeRunnable(job: EmulatedJob) {
    this.setStatus(job, 'RUNNABLE');
    this.queue.push(job);
    this.pump();
  }

  private pump() {
    const capacity = this.options.concurrency ?? 2;
    while (this.running < capacity && this.queue.length) {
      const job = this.queue.shift() as EmulatedJob;
      if (job.status !== 'RUNNABLE') continue;
      this.running++;
      this.runAttempt(job)
        .catch((error) => {
          job.output.push(`emulator: ${(error as Error).stack}`);
        })
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
  }

  private async runAttempt(job: EmulatedJob) {
    const attemptNo = job.attempts.length + 1;
    const taskId = randomUUID().replace(/-/g, '');
    const attempt: Attempt = {
      container: {
        taskArn: `arn:aws:ecs:${this.region}:${this.accountId}:task/emulator/${taskId}`,
        logStreamName: `foldsweep/default/${taskId}`,
      },
    };
    job.attempts.push(attempt);
    job.output = [];
    job.container = {};
    this.setStatus(job, 'STARTING');
    const env: Record<string, string> = {
      ...this.options.baseEnv,
      ...job.environment,
      AWS_BATCH_JOB_ID: job.jobId,
      AWS_BATCH_JOB_ATTEMPT: String(attemptNo),
      AWS_BATCH_JQ_NAME: job.queueName,
      AWS_BATCH_CE_NAME: 'emulator-ce',
    };
    if (job.index !== undefined) env.AWS_BATCH_JOB_ARRAY_INDEX = String(job.index);
    const abort = new AbortController();
    let cause: StopCause | undefined;
    let child: ChildProcess | undefined;
    const stopTimeout = this.options.stopTimeoutMs ?? 2000;
    const stop = (why: StopCause) => {
      // A process that already exited keeps its own outcome.
      if (child && (child.exitCode !== null || child.signalCode !== null)) return;
      cause ??= why;
      abort.abort();
      if (!child) return;
      if (why.kind === 'terminated' || why.kind === 'timeout') {
        child.kill('SIGTERM');
        setTimeout(() => child?.kill('SIGKILL'), stopTimeout).unref();
      } else {
        child.kill(why.signal);
      }
    };
    job.running = { abort, stop };
    const started = Date.now();
    attempt.startedAt = started;
    job.startedAt ??= started;
    this.setStatus(job, 'RUNNING');
    const timer =
      job.attemptDurationSeconds !== undefined
        ? setTimeout(
            () => stop({ kind: 'timeout' }),
            job.attemptDurationSeconds * 1000 * (this.options.timeScale ?? 1),
          )
        : undefined;
    let exit: ContainerExit;
    try {
      if (job.definition.run) {
        exit = await job.definition.run({
          jobId: job.jobId,
          attempt: attemptNo,
          env,
          signal: abort.signal,
        });
      } else {
        exit = await this.spawnContainer(job, env, (p) => {
          child = p;
          job.running = { abort, process: p, stop };
        });
      }
    } catch (error) {
      exit = { exitCode: 1, reason: `CannotStartContainerError: ${(error as Error).message}` };
    } finally {
      if (timer) clearTimeout(timer);
      job.running = undefined;
    }
    this.finishAttempt(job, attempt, exit, cause);
  }

  private spawnContainer(
    job: EmulatedJob,
    env: Record<string, string>,
    started: (p: ChildProcess) => void,
  ): Promise<ContainerExit> {
    const [command, ...args] = job.definition.command ?? [];
    if (!command) return Promise.reject(new Error('the job definition has no command'));
    return new Promise((resolve, reject) => {
      const p = spawn(command, args, {
        cwd: job.definition.cwd,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      started(p);
      const onData = (chunk: Buffer) => {
        for (const line of chunk.toString('utf8').split('\n')) {
          if (!line) continue;
          job.output.push(line);
          if (job.output.length > OUTPUT_LINES) job.output.shift();
          for (const watch of this.outputWatchers) watch(job, line);
        }
      };
      p.stdout?.on('data', onData);
      p.stderr?.on('data', onData);
      p.once('error', reject);
      p.once('close', (code, signal) => {
        const exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
        resolve({ exitCode });
      });
    });
  }

  private finishAttempt(
    job: EmulatedJob,
    attempt: Attempt,
    exit: ContainerExit,
    cause: StopCause | undefined,
  ) {
    attempt.stoppedAt = Date.now();
    attempt.container.exitCode = exit.exitCode;
    attempt.container.reason = exit.reason;
    job.container = { exitCode: exit.exitCode, reason: exit.reason };
    if (!cause && exit.exitCode === 0) {
      attempt.statusReason = 'Essential container in task exited';
      this.finish(job, 'SUCCEEDED', attempt.statusReason);
      return;
    }
    let statusReason = 'Essential container in task exited';
    if (cause?.kind === 'timeout') statusReason = 'Job attempt duration exceeded timeout';
    if (cause?.kind === 'terminated') statusReason = cause.reason;
    if (cause?.kind === 'host')
      statusReason = 'Host EC2 (instance i-0e4d5c6b7a8f9e0d1) terminated.';
    attempt.statusReason = statusReason;
    // Timed-out and terminated jobs are not retried.
    const final = cause?.kind === 'timeout' || cause?.kind === 'terminated';
    const action =
      final || job.attempts.length >= job.retryStrategy.attempts
        ? 'EXIT'
        : evaluateOnExit(job.retryStrategy.evaluateOnExit, {
            statusReason,
            reason: exit.reason,
            exitCode: exit.exitCode,
          });
    if (action === 'RETRY') {
      job.statusReason = statusReason;
      this.makeRunnable(job);
      return;
    }
    this.finish(job, 'FAILED', statusReason);
  }

  private terminate(job: EmulatedJob, reason: string) {
    if (TERMINAL.includes(job.status)) return;
    job.isTerminated = true;
    if (job.children.length) {
      for (const child of job.children) this.terminate(child, reason);
      if (job.status === 'SUBMITTED') this.finish(job, 'FAILED', reason);
      return;
    }
    if (job.running) {
      job.running.stop({ kind: 'terminated', reason });
      return;
    }
    // Not started yet: cancelled.
    job.isCancelled = true;
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    this.finish(job, 'FAILED', reason);
  }

  private finish(job: EmulatedJob, status: 'SUCCEEDED' | 'FAILED', reason: string) {
    job.stoppedAt = Date.now();
    job.statusReason = reason;
    this.setStatus(job, status);
    const parent = job.parent;
    if (parent && !TERMINAL.includes(parent.status)) {
      if (parent.children.every((c) => TERMINAL.includes(c.status))) {
        const ok = parent.children.every((c) => c.status === 'SUCCEEDED');
        parent.stoppedAt = Date.now();
        parent.statusReason = ok ? 'All child jobs succeeded' : 'One or more child jobs failed';
        this.setStatus(parent, ok ? 'SUCCEEDED' : 'FAILED');
      }
    }
  }

  private setStatus(job: EmulatedJob, status: BatchJobStatus) {
    job.status = status;
    this.emit(job);
    for (const check of [...this.changeWatchers]) check();
  }

  private emit(job: EmulatedJob) {
    const event: BatchStateChangeEnvelope = {
      version: '0',
      id: randomUUID(),
      'detail-type': 'Batch Job State Change',
      source: 'aws.batch',
      account: this.accountId,
      time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: this.region,
      resources: [job.jobArn],
      detail: this.detail(job),
    };
    this.events.push(event);
    const target = this.options.onEvent;
    if (!target) return;
    const delivery = (async () => {
      // Lambda's async invocation: the first try and two retries.
      for (let attempt = 1; ; attempt++) {
        try {
          await target(structuredClone(event));
          return;
        } catch (error) {
          if (attempt >= 3) {
            this.deliveryErrors.push({ event, error });
            return;
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    })();
    this.pending.add(delivery);
    void delivery.finally(() => this.pending.delete(delivery));
  }

  private statusSummary(job: EmulatedJob): Record<string, number> {
    const summary: Record<string, number> = {
      STARTING: 0,
      FAILED: 0,
      RUNNING: 0,
      SUCCEEDED: 0,
      RUNNABLE: 0,
      SUBMITTED: 0,
      PENDING: 0,
    };
    for (const c of job.children) summary[c.status]++;
    return summary;
  }

  private arrayProperties(job: EmulatedJob) {
    if (job.index !== undefined) return { index: job.index };
    if (job.size !== undefined) {
      return {
        size: job.size,
        statusSummary: this.statusSummary(job),
        statusSummaryLastUpdatedAt: Date.now(),
      };
    }
    return undefined;
  }

  /** The job as DescribeJobs returns it (and as events carry it). */
  detail(job: EmulatedJob): Record<string, unknown> {
    const environment = Object.entries(job.environment).map(([name, value]) => ({ name, value }));
    return {
      jobArn: job.jobArn,
      jobName: job.jobName,
      jobId: job.jobId,
      jobQueue: job.jobQueue,
      status: job.status,
      ...(job.statusReason ? { statusReason: job.statusReason } : {}),
      attempts: job.attempts.map((a) => structuredClone(a)),
      createdAt: job.createdAt,
      ...(job.startedAt ? { startedAt: job.startedAt } : {}),
      ...(job.stoppedAt ? { stoppedAt: job.stoppedAt } : {}),
      retryStrategy: structuredClone(job.retryStrategy),
      dependsOn: [],
      jobDefinition: job.jobDefinition,
      parameters: { ...job.parameters },
      container: {
        image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/foldsweep-trainer:latest',
        command: job.definition.command ?? [],
        environment,
        ...(job.container.exitCode !== undefined ? { exitCode: job.container.exitCode } : {}),
        ...(job.container.reason ? { reason: job.container.reason } : {}),
        resourceRequirements: [
          { value: '1', type: 'VCPU' },
          { value: '2048', type: 'MEMORY' },
        ],
      },
      ...(this.arrayProperties(job) ? { arrayProperties: this.arrayProperties(job) } : {}),
      ...(job.attemptDurationSeconds
        ? { timeout: { attemptDurationSeconds: job.attemptDurationSeconds } }
        : {}),
      tags: { ...job.tags, resourceArn: job.jobArn },
      propagateTags: job.propagateTags,
      platformCapabilities: ['EC2'],
      isCancelled: job.isCancelled,
      isTerminated: job.isTerminated,
    };
  }

  summary(job: EmulatedJob) {
    return {
      jobArn: job.jobArn,
      jobId: job.jobId,
      jobName: job.jobName,
      createdAt: job.createdAt,
      status: job.status,
      ...(job.statusReason ? { statusReason: job.statusReason } : {}),
      ...(job.startedAt ? { startedAt: job.startedAt } : {}),
      ...(job.stoppedAt ? { stoppedAt: job.stoppedAt } : {}),
      ...(job.container.exitCode !== undefined || job.container.reason
        ? { container: { exitCode: job.container.exitCode, reason: job.container.reason } }
        : {}),
      ...(this.arrayProperties(job) ? { arrayProperties: this.arrayProperties(job) } : {}),
      jobDefinition: job.jobDefinition,
      isCancelled: job.isCancelled,
      isTerminated: job.isTerminated,
    };
  }
}
