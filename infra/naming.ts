/**
 * Physical names and ARNs of the resources that IAM policies and function environments point
 * at. Naming them up front lets the Iam component write least-privilege policies before the
 * resources exist (the job queue needs the trainer role; the api role needs the job queue), so
 * there is no dependency cycle and no `Resource: "*"`. Pure: no Pulumi here.
 * @module
 */

/** Where the trainer keeps per-trial checkpoints: `checkpoints/<sweepId>/<trialIndex>/...`. */
export const CHECKPOINT_PREFIX = 'checkpoints/';
/** The object prefixes of the bucket (see README "Output layout"). */
export const OBJECT_PREFIXES = {
  datasets: 'datasets/',
  models: 'models/',
  sweeps: 'sweeps/',
  checkpoints: CHECKPOINT_PREFIX,
  /** Per schedule: the image hashes of its frozen holdout (`schedules/<id>/holdout-<hash>/`). */
  schedules: 'schedules/',
  /** Derived data shared by trials (bottleneck features: `cache/bottleneck/<key>/`). */
  cache: 'cache/',
  /** Source datasets users upload for `s3://<bucket>/datasets-input/...` dataset URIs. */
  datasetInputs: 'datasets-input/',
  /** Source base models users upload for `s3://<bucket>/models-input/.../model.json` base models. */
  modelInputs: 'models-input/',
} as const;

/** DynamoDB attribute holding an item's expiry (epoch seconds) for transient items. */
export const TTL_ATTRIBUTE = 'expiresAt';

/** The functions, by the name of their bundle (dist/lambda/<name>.mjs). */
export const FUNCTION_NAMES = ['api', 'aggregator', 'retrain', 'prepare'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

export interface AccountContext {
  partition: string;
  region: string;
  accountId: string;
}

/** Names of everything that other resources reference by name, derived from the prefix. */
export function resourceNames(prefix: string) {
  return {
    jobQueue: `${prefix}-gpu`,
    jobDefinition: `${prefix}-trainer`,
    functions: {
      api: `${prefix}-api`,
      aggregator: `${prefix}-aggregator`,
      retrain: `${prefix}-retrain`,
      prepare: `${prefix}-prepare`,
    } satisfies Record<FunctionName, string>,
    logGroups: {
      api: `/${prefix}/lambda/api`,
      aggregator: `/${prefix}/lambda/aggregator`,
      retrain: `/${prefix}/lambda/retrain`,
      prepare: `/${prefix}/lambda/prepare`,
      trainer: `/${prefix}/batch/trainer`,
      apiAccess: `/${prefix}/api/access`,
    },
    deadLetterQueue: `${prefix}-dlq`,
    scheduleGroup: `${prefix}-retrain`,
    repository: `${prefix}/trainer`,
  };
}
export type ResourceNames = ReturnType<typeof resourceNames>;

/** ARNs built the way AWS builds them, for the named resources above. */
export function arnsFor(ctx: AccountContext, names: ResourceNames) {
  const { partition, region, accountId } = ctx;
  const arn = (service: string, resource: string, inRegion = true) =>
    `arn:${partition}:${service}:${inRegion ? region : ''}:${accountId}:${resource}`;
  const logGroup = (name: string) => arn('logs', `log-group:${name}`);
  return {
    jobQueue: arn('batch', `job-queue/${names.jobQueue}`),
    /** Every revision of the job definition (SubmitJob accepts name or name:revision). */
    jobDefinitions: [
      arn('batch', `job-definition/${names.jobDefinition}`),
      arn('batch', `job-definition/${names.jobDefinition}:*`),
    ],
    /** Jobs have generated ids: no narrower ARN exists for TerminateJob/CancelJob/TagResource. */
    jobs: arn('batch', 'job/*'),
    functions: {
      api: arn('lambda', `function:${names.functions.api}`),
      aggregator: arn('lambda', `function:${names.functions.aggregator}`),
      retrain: arn('lambda', `function:${names.functions.retrain}`),
      prepare: arn('lambda', `function:${names.functions.prepare}`),
    } satisfies Record<FunctionName, string>,
    logGroups: {
      api: logGroup(names.logGroups.api),
      aggregator: logGroup(names.logGroups.aggregator),
      retrain: logGroup(names.logGroups.retrain),
      prepare: logGroup(names.logGroups.prepare),
      trainer: logGroup(names.logGroups.trainer),
    },
    deadLetterQueue: arn('sqs', names.deadLetterQueue),
    /** Schedules of the retrain group only. */
    schedules: arn('scheduler', `schedule/${names.scheduleGroup}/*`),
    scheduleGroup: arn('scheduler', `schedule-group/${names.scheduleGroup}`),
  };
}
export type Arns = ReturnType<typeof arnsFor>;
