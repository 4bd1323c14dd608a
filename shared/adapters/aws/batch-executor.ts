import {
  type BatchClient,
  DescribeJobsCommand,
  type JobStatus,
  type JobSummary,
  ListJobsCommand,
  type RetryStrategy,
  SubmitJobCommand,
  type SubmitJobCommandInput,
  TerminateJobCommand,
} from '@aws-sdk/client-batch';
import type {
  Executor,
  ExecutorDescription,
  ExecutorProgress,
  SubmitOptions,
} from '../../ports/executor.js';
import type { Logger } from '../../ports/logger.js';
import type { StateStore } from '../../ports/state-store.js';
import { BATCH_JOB_TAGS, batchJobName, sweepJobRef } from '../../schemas/events.js';
import { type Plan, planKey, rungKey } from '../../schemas/plan.js';
import { DEFAULT_ATTEMPT_TIMEOUT_SECONDS, TRAINER_JOB_ENV } from '../../schemas/runtime-env.js';
import type { TrialStatus } from '../../schemas/state.js';
import { BATCH_RETRY_STRATEGY } from './batch-retry.js';

/** Batch's limit on the children of one array job. */
export const MAX_ARRAY_SIZE = 10_000;

export interface BackoffOptions {
  /** Calls per request, the first included. Default 8. */
  maxAttempts?: number;
  /** First retry waits up to this long; each retry doubles it (full jitter). Default 200 ms. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export interface BatchExecutorOptions {
  /**
   * The Batch client. Create it with `maxAttempts: 1`: the executor retries itself, and checks
   * before resubmitting a SubmitJob whose outcome is unknown (the SDK's own retry would submit
   * the array job twice).
   */
  client: BatchClient;
  jobQueue: string;
  jobDefinition: string;
  /** The bucket holding the plan (passed to the trainer with the plan's key). */
  bucket: string;
  /** More environment for every trainer (e.g. FOLDSWEEP_S3_ENDPOINT for a stand-in). */
  environment?: Record<string, string>;
  /** Per-attempt timeout of each trial; Batch applies it to each child. Default 4 h. */
  attemptTimeoutSeconds?: number;
  /** Default BATCH_RETRY_STRATEGY (the job definition's). */
  retryStrategy?: RetryStrategy;
  /** Children per array job, at most 10,000 (Batch's limit); tests lower it. */
  maxArraySize?: number;
  backoff?: BackoffOptions;
  /** describe() falls back to the trial records once Batch has forgotten a sweep's jobs. */
  state?: StateStore;
  logger?: Logger;
}

/** One array job of a sweep: trials `offset .. offset + size - 1`. */
export interface ArrayPart {
  part: number;
  parts: number;
  offset: number;
  size: number;
  /**
   * Successive halving: the rung this part belongs to and the rung's trial indices; `offset`
   * then indexes `trials` (the trainer reads the list from `rungKey(sweepId, rung)`).
   */
  rung?: { rung: number; trials: readonly number[] };
}

/**
 * Splits `trials` into as few array jobs as Batch allows, sizes balanced so that none is smaller
 * than 2 (Batch's minimum array size); a single trial is one plain (non-array) job.
 * @example
 * splitTrials(10_001); // [{ offset: 0, size: 5001 }, { offset: 5001, size: 5000 }] (plus part numbers)
 */
export function splitTrials(trials: number, maxArraySize = MAX_ARRAY_SIZE): ArrayPart[] {
  if (!Number.isInteger(trials) || trials < 1) throw new Error(`cannot split ${trials} trials`);
  const parts = Math.ceil(trials / maxArraySize);
  const base = Math.floor(trials / parts);
  const extra = trials % parts;
  const out: ArrayPart[] = [];
  let offset = 0;
  for (let part = 0; part < parts; part++) {
    const size = base + (part < extra ? 1 : 0);
    out.push({ part, parts, offset, size });
    offset += size;
  }
  return out;
}

const TERMINAL: readonly string[] = ['SUCCEEDED', 'FAILED'];

/** Child status -> trial status; children Batch does not list yet are pending. */
const CHILD_STATUSES: readonly [JobStatus, TrialStatus][] = [
  ['STARTING', 'running'],
  ['RUNNING', 'running'],
  ['SUCCEEDED', 'succeeded'],
  ['FAILED', 'failed'],
];

interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

function errorStatus(error: unknown): number | undefined {
  return (error as SdkError)?.$metadata?.httpStatusCode;
}

/** Throttled: Batch did not act on the request, so sending it again is safe. */
export function isThrottle(error: unknown): boolean {
  const e = error as SdkError;
  return (
    errorStatus(error) === 429 ||
    e?.name === 'TooManyRequestsException' ||
    e?.name === 'ThrottlingException' ||
    /too many requests|rate exceeded|throttl/i.test(e?.message ?? '')
  );
}

/** A server error or a broken connection: Batch may or may not have acted on the request. */
export function isTransient(error: unknown): boolean {
  const e = error as SdkError;
  const status = errorStatus(error);
  if (status !== undefined) return status >= 500;
  return (
    e?.name === 'TimeoutError' ||
    ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET'].includes(
      e?.code ?? '',
    )
  );
}

/**
 * Runs a sweep's trials on AWS Batch: ONE SubmitJob per sweep, an array job whose child `i` runs
 * trial `i` (a sweep of more than 10,000 trials becomes several array jobs, trial offset in the
 * environment). The plan's location goes in `containerOverrides.environment`; the job name and
 * tags name the sweep (the aggregator reads the tags from Batch's state-change events); every
 * job carries the retry strategy (BATCH_RETRY_STRATEGY) and a per-attempt timeout. Calls back
 * off exponentially on throttling (SubmitJob: 50 requests/s per account) and server errors.
 * `cancel` terminates the array parents (Batch terminates their children); `describe` lists the
 * children's statuses.
 * @example
 * const executor = new BatchExecutor({ client: new BatchClient({ maxAttempts: 1 }),
 *   jobQueue: 'foldsweep-gpu', jobDefinition: 'foldsweep-trainer', bucket: 'foldsweep-data' });
 * await executor.submit(plan); // 1 SubmitJob for up to 10,000 trials
 */
export class BatchExecutor implements Executor {
  private readonly client: BatchClient;
  private readonly maxArraySize: number;

  constructor(private readonly options: BatchExecutorOptions) {
    this.client = options.client;
    this.maxArraySize = options.maxArraySize ?? MAX_ARRAY_SIZE;
    if (
      !Number.isInteger(this.maxArraySize) ||
      this.maxArraySize < 2 ||
      this.maxArraySize > MAX_ARRAY_SIZE
    ) {
      throw new Error(`maxArraySize must be 2..${MAX_ARRAY_SIZE}, got ${options.maxArraySize}`);
    }
  }

  /**
   * One array job per part of the plan, all trials (a resumed sweep's finished trials included:
   * a trainer finds a succeeded trial's result and exits at once). Returns the job ids by part.
   * Successive halving (`options.rung`): the rung's trials only, ONE array SubmitJob per rung (per
   * 10,000 of its trials), named and tagged with the rung; child i runs the rung list's trial
   * `offset + i`.
   */
  async submit(plan: Plan, options: SubmitOptions = {}): Promise<{ jobIds: string[] }> {
    const rung = options.rung;
    const parts = splitTrials(
      rung ? rung.trials.length : plan.trials.length,
      this.maxArraySize,
    ).map((part) => (rung ? { ...part, rung } : part));
    const submitted: string[] = [];
    try {
      for (const part of parts) submitted.push(await this.submitPart(plan, part));
    } catch (error) {
      // Do not leave half a sweep running: its results could never be aggregated.
      for (const jobId of submitted) {
        await this.terminate(jobId, 'foldsweep: the rest of the sweep failed to submit').catch(
          () => undefined,
        );
      }
      throw error;
    }
    this.options.logger?.info(
      {
        sweepId: plan.sweepId,
        trials: rung ? rung.trials.length : plan.trials.length,
        ...(rung ? { rung: rung.rung } : {}),
        jobIds: submitted,
      },
      'sweep submitted to AWS Batch',
    );
    return { jobIds: submitted };
  }

  /** The SubmitJob request of one part (exported for infra tests and the docs). */
  submitJobInput(plan: Plan, part: ArrayPart): SubmitJobCommandInput {
    const env: Record<string, string> = {
      ...this.options.environment,
      [TRAINER_JOB_ENV.planKey]: planKey(plan.sweepId),
      [TRAINER_JOB_ENV.bucket]: this.options.bucket,
      [TRAINER_JOB_ENV.sweepId]: plan.sweepId,
    };
    if (part.rung && part.size > 1) {
      env[TRAINER_JOB_ENV.trialListKey] = rungKey(plan.sweepId, part.rung.rung);
      env[TRAINER_JOB_ENV.trialOffset] = String(part.offset);
    } else if (part.rung) {
      env[TRAINER_JOB_ENV.trialIndex] = String(part.rung.trials[part.offset]);
    } else if (part.size > 1) env[TRAINER_JOB_ENV.trialOffset] = String(part.offset);
    else env[TRAINER_JOB_ENV.trialIndex] = String(part.offset);
    return {
      jobName: batchJobName(plan.sweepId, part.part, part.parts, part.rung?.rung),
      jobQueue: this.options.jobQueue,
      jobDefinition: this.options.jobDefinition,
      ...(part.size > 1 ? { arrayProperties: { size: part.size } } : {}),
      containerOverrides: {
        environment: Object.entries(env).map(([name, value]) => ({ name, value })),
      },
      retryStrategy: this.options.retryStrategy ?? BATCH_RETRY_STRATEGY,
      timeout: {
        attemptDurationSeconds:
          this.options.attemptTimeoutSeconds ?? DEFAULT_ATTEMPT_TIMEOUT_SECONDS,
      },
      tags: {
        [BATCH_JOB_TAGS.sweepId]: plan.sweepId,
        [BATCH_JOB_TAGS.part]: String(part.part),
        [BATCH_JOB_TAGS.parts]: String(part.parts),
        [BATCH_JOB_TAGS.trialOffset]: String(part.offset),
        ...(part.rung ? { [BATCH_JOB_TAGS.rung]: String(part.rung.rung) } : {}),
      },
      propagateTags: true,
    };
  }

  /**
   * TerminateJob on the sweep's array jobs (the stored ids; without them, the jobs found by
   * name): Batch cancels the children not started and terminates the running ones.
   */
  async cancel(sweepId: string, jobIds: readonly string[] = []): Promise<void> {
    const ids =
      jobIds.length > 0
        ? [...jobIds]
        : (await this.findParents(sweepId))
            .filter((job) => !(job.status && TERMINAL.includes(job.status)))
            .map((job) => job.jobId as string);
    for (const jobId of ids) await this.terminate(jobId, 'foldsweep: sweep cancelled');
    this.options.logger?.info({ sweepId, jobIds: ids }, 'sweep cancelled on AWS Batch');
  }

  /**
   * Live counts from DescribeJobs on the stored array jobs (one call, whatever the number of
   * children): each array parent's status summary; a plain job counts as one trial.
   */
  async progress(_sweepId: string, jobIds: readonly string[]): Promise<ExecutorProgress> {
    const out: ExecutorProgress = { pending: 0, running: 0, succeeded: 0, failed: 0 };
    if (jobIds.length === 0) return out;
    const { jobs = [] } = await this.withBackoff('DescribeJobs', () =>
      this.client.send(new DescribeJobsCommand({ jobs: [...jobIds] })),
    );
    for (const job of jobs) {
      const summary: Record<string, number | undefined> = job.arrayProperties?.statusSummary ?? {
        [job.status ?? 'SUBMITTED']: 1,
      };
      for (const [status, n = 0] of Object.entries(summary)) {
        const trial = trialStatusOf(status);
        out[trial] += n;
      }
    }
    return out;
  }

  async describe(sweepId: string): Promise<ExecutorDescription> {
    const parents = await this.findParents(sweepId);
    if (parents.length === 0) {
      const trials = (await this.options.state?.listTrials(sweepId)) ?? [];
      return { sweepId, trials: trials.map((t) => ({ index: t.trialIndex, status: t.status })) };
    }
    // List summaries carry no tags: DescribeJobs gives each parent's trial offset.
    const details = await this.withBackoff('DescribeJobs', () =>
      this.client.send(new DescribeJobsCommand({ jobs: parents.map((p) => p.jobId as string) })),
    );
    // Successive halving: rung jobs index their rung's list; the trial records say it all.
    if ((details.jobs ?? []).some((p) => sweepJobRef(p.tags)?.rung !== undefined)) {
      const trials = (await this.options.state?.listTrials(sweepId)) ?? [];
      return { sweepId, trials: trials.map((t) => ({ index: t.trialIndex, status: t.status })) };
    }
    const statuses = new Map<number, TrialStatus>();
    let total = 0;
    for (const parent of details.jobs ?? []) {
      const offset = sweepJobRef(parent.tags)?.trialOffset ?? 0;
      const size = parent.arrayProperties?.size ?? 1;
      total = Math.max(total, offset + size);
      if (!parent.arrayProperties?.size) {
        statuses.set(offset, trialStatusOf(parent.status));
        continue;
      }
      for (const [jobStatus, status] of CHILD_STATUSES) {
        for (const child of await this.listAll({ arrayJobId: parent.jobId, jobStatus })) {
          const index = child.arrayProperties?.index;
          if (index !== undefined) statuses.set(offset + index, status);
        }
      }
    }
    return {
      sweepId,
      trials: Array.from({ length: total }, (_, index) => ({
        index,
        status: statuses.get(index) ?? 'pending',
      })),
    };
  }

  private async submitPart(plan: Plan, part: ArrayPart): Promise<string> {
    const input = this.submitJobInput(plan, part);
    let unsure = false;
    return this.withBackoff('SubmitJob', async () => {
      if (unsure) {
        // The previous SubmitJob may have gone through before the error: do not submit twice.
        const existing = await this.findByName(input.jobName as string);
        if (existing?.jobId) return existing.jobId;
      }
      try {
        const out = await this.client.send(new SubmitJobCommand(input));
        return out.jobId as string;
      } catch (error) {
        if (isTransient(error)) unsure = true;
        throw error;
      }
    });
  }

  private terminate(jobId: string, reason: string) {
    return this.withBackoff('TerminateJob', () =>
      this.client.send(new TerminateJobCommand({ jobId, reason })),
    );
  }

  private async findByName(jobName: string): Promise<JobSummary | undefined> {
    const jobs = await this.listAll({
      jobQueue: this.options.jobQueue,
      filters: [{ name: 'JOB_NAME', values: [jobName] }],
    });
    return jobs.find((j) => j.jobName === jobName);
  }

  /** The sweep's array parents (or its one plain job), newest submission per name. */
  private async findParents(sweepId: string): Promise<JobSummary[]> {
    const base = batchJobName(sweepId);
    const ours = new RegExp(`^${base}(-rung\\d+)?(-part\\d+of\\d+)?$`);
    const jobs = await this.listAll({
      jobQueue: this.options.jobQueue,
      filters: [{ name: 'JOB_NAME', values: [`${base}*`] }],
    });
    const byName = new Map<string, JobSummary>();
    for (const job of jobs) {
      if (!job.jobName || !ours.test(job.jobName) || job.arrayProperties?.index !== undefined)
        continue;
      const seen = byName.get(job.jobName);
      if (!seen || (job.createdAt ?? 0) > (seen.createdAt ?? 0)) byName.set(job.jobName, job);
    }
    return [...byName.values()];
  }

  private async listAll(
    input: Omit<ConstructorParameters<typeof ListJobsCommand>[0], 'nextToken'>,
  ): Promise<JobSummary[]> {
    const out: JobSummary[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.withBackoff('ListJobs', () =>
        this.client.send(new ListJobsCommand({ ...input, maxResults: 1000, nextToken })),
      );
      out.push(...(page.jobSummaryList ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    return out;
  }

  private async withBackoff<T>(operation: string, call: () => Promise<T>): Promise<T> {
    const o = this.options.backoff ?? {};
    const maxAttempts = o.maxAttempts ?? 8;
    const base = o.baseDelayMs ?? 200;
    const cap = o.maxDelayMs ?? 20_000;
    const sleep = o.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
    const random = o.random ?? Math.random;
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (attempt >= maxAttempts || !(isThrottle(error) || isTransient(error))) throw error;
        const delay = Math.round(random() * Math.min(cap, base * 2 ** (attempt - 1)));
        this.options.logger?.warn(
          { operation, attempt, delayMs: delay, error: (error as Error).message },
          'AWS Batch call failed: backing off',
        );
        await sleep(delay);
      }
    }
  }
}

function trialStatusOf(status: string | undefined): TrialStatus {
  if (status === 'SUCCEEDED') return 'succeeded';
  if (status === 'FAILED') return 'failed';
  if (status === 'STARTING' || status === 'RUNNING') return 'running';
  return 'pending';
}
