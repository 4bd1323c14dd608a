/**
 * Pure builders of the documents the components send to AWS: IAM policies, the bucket policy,
 * the EventBridge pattern, the Batch container properties and retry strategy, lifecycle rules,
 * the instances' user data. Plain values in, plain JSON-able values out, so every one of them is
 * unit-tested without Pulumi and the components only wire Outputs into them.
 * @module
 */
import { BATCH_ATTEMPTS, BATCH_RETRY_RULES } from '../shared/adapters/aws/batch-retry.js';
import { TRAINER_JOB_ENV } from '../shared/schemas/runtime-env.js';
import { type Arns, CHECKPOINT_PREFIX, OBJECT_PREFIXES } from './naming.js';

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string[];
  /** Absent only in trust policies. */
  Resource?: string[];
  Principal?: Record<string, string | string[]> | '*';
  Condition?: Record<string, Record<string, string | string[] | boolean | number>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

const doc = (...statements: PolicyStatement[]): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: statements,
});

/**
 * Actions that have no resource-level permissions in IAM: `Resource: "*"` is the only legal
 * value for them, and the only one any policy here may use.
 */
export const ACTIONS_WITHOUT_RESOURCE_TYPES = [
  'batch:DescribeJobs',
  'batch:ListJobs',
  'scheduler:ListSchedules',
] as const;

/** Trust policy of a role assumed by an AWS service, pinned to this account when given. */
export function assumeRolePolicy(service: string, sourceAccount?: string): PolicyDocument {
  return doc({
    Effect: 'Allow',
    Action: ['sts:AssumeRole'],
    Principal: { Service: service },
    ...(sourceAccount
      ? { Condition: { StringEquals: { 'aws:SourceAccount': sourceAccount } } }
      : {}),
  });
}

/** Bucket policy: no plain HTTP and no TLS older than 1.2, for every principal. */
export function bucketTlsOnlyPolicy(bucketArn: string): PolicyDocument {
  const Resource = [bucketArn, `${bucketArn}/*`];
  return doc(
    {
      Sid: 'DenyInsecureTransport',
      Effect: 'Deny',
      Principal: '*',
      Action: ['s3:*'],
      Resource,
      Condition: { Bool: { 'aws:SecureTransport': false } },
    },
    {
      Sid: 'DenyOutdatedTls',
      Effect: 'Deny',
      Principal: '*',
      Action: ['s3:*'],
      Resource,
      Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
    },
  );
}

/**
 * A bucket (and key prefix, '' for all of it) that holds source datasets or base models
 * (`s3://` URIs in specs).
 */
export interface SourceLocation {
  bucket: string;
  prefix: string;
}
/** Where source datasets live (foldsweep:datasetBuckets). */
export type DatasetLocation = SourceLocation;
/** Where source base models live (foldsweep:modelBuckets). */
export type ModelLocation = SourceLocation;

/** The inputs every role policy draws from: resolved ARNs and names. */
export interface PolicyInputs {
  bucketArn: string;
  tableArn: string;
  arns: Arns;
  schedulerRoleArn: string;
  kmsKeyArn?: string;
  /** Other buckets the preparing functions read datasets from (foldsweep:datasetBuckets). */
  datasetLocations?: DatasetLocation[];
  /** Other buckets the preparing functions read base models from (foldsweep:modelBuckets). */
  modelLocations?: ModelLocation[];
}

interface S3Grant {
  read?: string[];
  write?: string[];
  delete?: string[];
  /** Key patterns ListObjectsV2 may be called with as `prefix`. */
  list?: string[];
}

function s3Statements(bucketArn: string, grant: S3Grant): PolicyStatement[] {
  const objects = (patterns: string[]) => patterns.map((p) => `${bucketArn}/${p}`);
  const statements: PolicyStatement[] = [];
  if (grant.read?.length) {
    statements.push({
      Sid: 'ReadObjects',
      Effect: 'Allow',
      Action: ['s3:GetObject'],
      Resource: objects(grant.read),
    });
  }
  if (grant.write?.length) {
    statements.push({
      Sid: 'WriteObjects',
      Effect: 'Allow',
      Action: ['s3:PutObject', 's3:AbortMultipartUpload'],
      Resource: objects(grant.write),
    });
  }
  if (grant.delete?.length) {
    statements.push({
      Sid: 'DeleteObjects',
      Effect: 'Allow',
      Action: ['s3:DeleteObject'],
      Resource: objects(grant.delete),
    });
  }
  if (grant.list?.length) {
    statements.push({
      Sid: 'ListPrefixes',
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: [bucketArn],
      Condition: { StringLike: { 's3:prefix': grant.list } },
    });
  }
  return statements;
}

/**
 * Reading source datasets or base models (`s3://` URIs of a spec): GetObject under each
 * location's prefix and ListBucket limited to it (the sources list a dataset's or a model's
 * folder to fingerprint it by ETags), in buckets other than the stack's (whose `datasets-input/`
 * and `models-input/` the callers grant with the rest of the bucket). Datasets and models are
 * separate statements (Sids `Read<Kind>Sources`, `List<Kind>Sources<i>`), from separate config
 * lists, so the policy says why each location is readable.
 */
function sourceStatements(
  kind: 'Dataset' | 'Model',
  bucketArn: string,
  locations: SourceLocation[] = [],
): PolicyStatement[] {
  if (locations.length === 0) return [];
  const partition = bucketArn.split(':')[1] ?? 'aws';
  const bucketArnOf = (bucket: string) => `arn:${partition}:s3:::${bucket}`;
  const byBucket = new Map<string, string[]>();
  for (const { bucket, prefix } of locations) {
    byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), prefix]);
  }
  const statements: PolicyStatement[] = [
    {
      Sid: `Read${kind}Sources`,
      Effect: 'Allow',
      Action: ['s3:GetObject'],
      Resource: locations.map((l) => `${bucketArnOf(l.bucket)}/${l.prefix}*`),
    },
  ];
  [...byBucket].forEach(([bucket, prefixes], i) => {
    statements.push({
      Sid: `List${kind}Sources${i}`,
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: [bucketArnOf(bucket)],
      // A whole bucket lists without condition; prefixes only under themselves.
      ...(prefixes.includes('')
        ? {}
        : { Condition: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } } }),
    });
  });
  return statements;
}

/** What the functions that prepare sweeps read outside the stack's bucket: datasets, models. */
function sourceReadStatements(p: PolicyInputs): PolicyStatement[] {
  return [
    ...sourceStatements('Dataset', p.bucketArn, p.datasetLocations),
    ...sourceStatements('Model', p.bucketArn, p.modelLocations),
  ];
}

function kmsStatements(kmsKeyArn: string | undefined): PolicyStatement[] {
  if (!kmsKeyArn) return [];
  return [
    {
      Sid: 'UseDataKey',
      Effect: 'Allow',
      Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Resource: [kmsKeyArn],
    },
  ];
}

function logStatements(logGroupArn: string): PolicyStatement[] {
  return [
    {
      Sid: 'WriteOwnLogs',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: [`${logGroupArn}:*`],
    },
  ];
}

function tableStatements(tableArn: string, actions: string[]): PolicyStatement[] {
  return [
    {
      Sid: 'StateTable',
      Effect: 'Allow',
      Action: actions.map((a) => `dynamodb:${a}`),
      Resource: [tableArn, `${tableArn}/index/*`],
    },
  ];
}

function submitJobStatements(arns: Arns): PolicyStatement[] {
  return [
    {
      Sid: 'SubmitTrainerJobs',
      Effect: 'Allow',
      Action: ['batch:SubmitJob'],
      Resource: [arns.jobQueue, ...arns.jobDefinitions],
    },
    {
      // Jobs get generated ids; SubmitJob with tags needs TagResource on the new job.
      Sid: 'TagAndStopJobs',
      Effect: 'Allow',
      Action: ['batch:TagResource', 'batch:TerminateJob', 'batch:CancelJob'],
      Resource: [arns.jobs],
    },
    describeJobsStatement(),
  ];
}

/**
 * The prepare function's Batch grants: what BatchExecutor.submit and .cancel call, no more
 * (no CancelJob: the executor stops jobs with TerminateJob).
 */
function prepareJobStatements(arns: Arns): PolicyStatement[] {
  return [
    {
      Sid: 'SubmitTrainerJobs',
      Effect: 'Allow',
      Action: ['batch:SubmitJob'],
      Resource: [arns.jobQueue, ...arns.jobDefinitions],
    },
    {
      // SubmitJob tags the new job with its sweep: tagging on create needs TagResource.
      Sid: 'TagAndStopJobs',
      Effect: 'Allow',
      Action: ['batch:TagResource', 'batch:TerminateJob'],
      Resource: [arns.jobs],
    },
    describeJobsStatement(),
  ];
}

function describeJobsStatement(): PolicyStatement {
  return {
    Sid: 'DescribeJobs',
    Effect: 'Allow',
    Action: ['batch:DescribeJobs', 'batch:ListJobs'],
    Resource: ['*'],
  };
}

function deadLetterStatements(arns: Arns): PolicyStatement[] {
  return [
    {
      Sid: 'OnFailureDestination',
      Effect: 'Allow',
      Action: ['sqs:SendMessage'],
      Resource: [arns.deadLetterQueue],
    },
  ];
}

/**
 * Handing a submitted sweep to the prepare function (an asynchronous Invoke by the ARN in
 * FOLDSWEEP_PREPARE_FUNCTION_ARN): that one function, unqualified (no alias or version is
 * deployed), nothing else.
 */
function invokePrepareStatements(arns: Arns): PolicyStatement[] {
  return [
    {
      Sid: 'InvokePrepare',
      Effect: 'Allow',
      Action: ['lambda:InvokeFunction'],
      Resource: [arns.functions.prepare],
    },
  ];
}

const ALL_PREFIXES = [OBJECT_PREFIXES.datasets, OBJECT_PREFIXES.models, OBJECT_PREFIXES.sweeps];
/** What starting a scheduled run reads and writes beyond a sweep's prefixes. */
const SCHEDULE_PREFIXES = [...ALL_PREFIXES, OBJECT_PREFIXES.schedules];
/**
 * What the functions that prepare datasets and import base models read: the above, and the
 * source datasets and base models uploaded to the stack's bucket.
 */
const PREPARE_READ = [
  ...SCHEDULE_PREFIXES,
  OBJECT_PREFIXES.datasetInputs,
  OBJECT_PREFIXES.modelInputs,
].map((x) => `${x}*`);
/** What preparing a sweep reads in the stack's bucket: sweeps' data, the uploaded sources. */
const SWEEP_PREPARE_READ = [
  ...ALL_PREFIXES,
  OBJECT_PREFIXES.datasetInputs,
  OBJECT_PREFIXES.modelInputs,
].map((x) => `${x}*`);
const STATE_READ_WRITE = [
  'GetItem',
  'PutItem',
  'UpdateItem',
  'Query',
  'BatchGetItem',
  'ConditionCheckItem',
];

/**
 * The api function. `POST /sweeps` no longer prepares: it stores the sweep `pending` and
 * invokes the prepare function (InvokePrepare, on that function only). Every other grant stays,
 * because other routes still do the work in-request:
 * - source reads (datasets-input/, models-input/, foldsweep:datasetBuckets/modelBuckets) and
 *   writes to datasets/, models/: `POST /schedules` imports the template's base model and
 *   prepares its dataset to check it; `POST /schedules/:id/runs` prepares the latest data;
 *   `POST /sweeps/:id/resume` re-prepares a sweep left pending or preparing;
 * - schedules/ (read, write): a schedule run freezes and reads its holdout;
 * - batch:SubmitJob on the queue and definition, TagResource (the sweep tag on SubmitJob):
 *   schedule runs and resume submit array jobs;
 * - TerminateJob/CancelJob, DescribeJobs/ListJobs: cancel, live progress, resume;
 * - sweeps/ (read, write) and the state table: reads, re-driven aggregation (evaluates and
 *   writes the champion), plans of schedule runs; DeleteItem: a run ending removes its marker;
 * - scheduler:* on its group, iam:PassRole of the scheduler role: managing retrain schedules.
 */
export function apiFunctionPolicy(p: PolicyInputs): PolicyDocument {
  return doc(
    ...logStatements(p.arns.logGroups.api),
    ...s3Statements(p.bucketArn, {
      read: PREPARE_READ,
      write: SCHEDULE_PREFIXES.map((x) => `${x}*`),
      list: PREPARE_READ,
    }),
    ...sourceReadStatements(p),
    ...kmsStatements(p.kmsKeyArn),
    ...tableStatements(p.tableArn, [...STATE_READ_WRITE, 'DeleteItem']),
    ...submitJobStatements(p.arns),
    ...invokePrepareStatements(p.arns),
    {
      Sid: 'ManageRetrainSchedules',
      Effect: 'Allow',
      Action: [
        'scheduler:CreateSchedule',
        'scheduler:UpdateSchedule',
        'scheduler:DeleteSchedule',
        'scheduler:GetSchedule',
      ],
      Resource: [p.arns.schedules],
    },
    {
      Sid: 'ListSchedules',
      Effect: 'Allow',
      Action: ['scheduler:ListSchedules'],
      Resource: ['*'],
    },
    {
      Sid: 'PassSchedulerRole',
      Effect: 'Allow',
      Action: ['iam:PassRole'],
      Resource: [p.schedulerRoleArn],
      Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
    },
  );
}

/**
 * The aggregator: on a terminal array job, reads the trials' results, ranks, evaluates and
 * promotes the champion, writes leaderboard and report. Writes only under sweeps/.
 */
export function aggregatorFunctionPolicy(p: PolicyInputs): PolicyDocument {
  return doc(
    ...logStatements(p.arns.logGroups.aggregator),
    ...s3Statements(p.bucketArn, {
      read: [...ALL_PREFIXES.map((x) => `${x}*`), `${OBJECT_PREFIXES.cache}*`],
      write: [`${OBJECT_PREFIXES.sweeps}*`],
      list: [`${OBJECT_PREFIXES.sweeps}*`],
    }),
    ...kmsStatements(p.kmsKeyArn),
    // DeleteItem: finishing a scheduled run removes the schedule's running-run marker.
    ...tableStatements(p.tableArn, [...STATE_READ_WRITE, 'BatchWriteItem', 'DeleteItem']),
    describeJobsStatement(),
    ...deadLetterStatements(p.arns),
  );
}

/**
 * The scheduled retrain: runs a schedule (records the run, prepares the latest data and imports
 * the template's base model from the same source locations as the api, freezes the
 * holdout under schedules/ on the first run, starts the sweep like the api's POST). It is
 * invoked by EventBridge Scheduler and manages no schedules itself.
 */
export function retrainFunctionPolicy(p: PolicyInputs): PolicyDocument {
  return doc(
    ...logStatements(p.arns.logGroups.retrain),
    ...s3Statements(p.bucketArn, {
      read: PREPARE_READ,
      write: SCHEDULE_PREFIXES.map((x) => `${x}*`),
      list: PREPARE_READ,
    }),
    ...sourceReadStatements(p),
    ...kmsStatements(p.kmsKeyArn),
    // DeleteItem: a run that ends removes the schedule's running-run marker.
    ...tableStatements(p.tableArn, [...STATE_READ_WRITE, 'DeleteItem']),
    ...submitJobStatements(p.arns),
    // Today it prepares its runs and template sweeps in-process (900 s), hence the grants
    // above; its environment names the prepare function like the api's, and this lets it hand
    // a sweep over (that function only).
    ...invokePrepareStatements(p.arns),
    ...deadLetterStatements(p.arns),
  );
}

/**
 * The prepare function: invoked asynchronously with `{ sweepId }`, it prepares one submitted
 * sweep (shared/service/lifecycle.ts prepareSweep) and nothing else:
 * - reads source datasets and base models: datasets-input/ and models-input/ of the stack's
 *   bucket, foldsweep:datasetBuckets and foldsweep:modelBuckets (GetObject, ListBucket limited to
 *   each prefix: sources are listed to fingerprint them by ETags);
 * - reads and writes datasets/ (prepared copies, source pointers), models/ (imported models),
 *   sweeps/ (the plan); lists them, so a missing object answers 404 rather than 403;
 * - the state table: GetItem/Query (the sweep), UpdateItem (its transitions), PutItem (trial
 *   records); nothing is deleted, no schedules;
 * - batch:SubmitJob on this queue and job definition, TagResource on the new jobs (SubmitJob
 *   tags them with the sweep), TerminateJob (a sweep cancelled while it was being submitted is
 *   stopped), ListJobs (after a SubmitJob that failed uncertainly the executor looks the job up
 *   by name instead of submitting it twice) and DescribeJobs;
 * - sqs:SendMessage to the dead-letter queue: Lambda's on-failure destination of its
 *   asynchronous invocations uses this role.
 * No schedules/, cache/ or checkpoints/, no scheduler, no other function.
 */
export function prepareFunctionPolicy(p: PolicyInputs): PolicyDocument {
  return doc(
    ...logStatements(p.arns.logGroups.prepare),
    ...s3Statements(p.bucketArn, {
      read: SWEEP_PREPARE_READ,
      write: ALL_PREFIXES.map((x) => `${x}*`),
      list: SWEEP_PREPARE_READ,
    }),
    ...sourceReadStatements(p),
    ...kmsStatements(p.kmsKeyArn),
    ...tableStatements(p.tableArn, ['GetItem', 'Query', 'PutItem', 'UpdateItem']),
    ...prepareJobStatements(p.arns),
    ...deadLetterStatements(p.arns),
  );
}

/**
 * The trainer job: reads prepared datasets, base models and its sweep's plan; writes only its
 * trial's results, model and checkpoints (`sweeps/<id>/trials/<index>/...`, and `checkpoints/`
 * where the lifecycle expires them) and the shared bottleneck-feature cache
 * (`cache/bottleneck/`), and deletes only checkpoints; no state table, no Batch, no
 * schedules. (Batch gives every job the same role, so "its sweep" is enforced by key shape.)
 */
export function trainerJobPolicy(p: Pick<PolicyInputs, 'bucketArn' | 'kmsKeyArn'>): PolicyDocument {
  return doc(
    ...s3Statements(p.bucketArn, {
      read: [
        ...ALL_PREFIXES.map((x) => `${x}*`),
        `${CHECKPOINT_PREFIX}*`,
        `${OBJECT_PREFIXES.cache}*`,
      ],
      write: [
        `${OBJECT_PREFIXES.sweeps}*/trials/*`,
        `${CHECKPOINT_PREFIX}*`,
        `${OBJECT_PREFIXES.cache}bottleneck/*`,
      ],
      delete: [`${CHECKPOINT_PREFIX}*`],
      list: [`${OBJECT_PREFIXES.sweeps}*`, `${CHECKPOINT_PREFIX}*`],
    }),
    ...kmsStatements(p.kmsKeyArn),
  );
}

/** EventBridge Scheduler's role: invoke the retrain function, dead-letter what it cannot. */
export function schedulerPolicy(p: { retrainFunctionArn: string; deadLetterQueueArn: string }) {
  return doc(
    {
      Sid: 'InvokeRetrain',
      Effect: 'Allow',
      Action: ['lambda:InvokeFunction'],
      Resource: [p.retrainFunctionArn, `${p.retrainFunctionArn}:*`],
    },
    {
      Sid: 'DeadLetter',
      Effect: 'Allow',
      Action: ['sqs:SendMessage'],
      Resource: [p.deadLetterQueueArn],
    },
  );
}

/** Queue policy: only this rule may dead-letter events into the queue. */
export function deadLetterQueuePolicy(queueArn: string, ruleArn: string): PolicyDocument {
  return doc({
    Sid: 'EventBridgeDeadLetters',
    Effect: 'Allow',
    Principal: { Service: 'events.amazonaws.com' },
    Action: ['sqs:SendMessage'],
    Resource: [queueArn],
    Condition: { ArnEquals: { 'aws:SourceArn': ruleArn } },
  });
}

/** Lets callers (roles, users) of this account invoke the IAM-authorized API. */
export function apiInvokePolicy(apiExecutionArn: string): PolicyDocument {
  return doc({
    Sid: 'InvokeFoldsweepApi',
    Effect: 'Allow',
    Action: ['execute-api:Invoke'],
    Resource: [`${apiExecutionArn}/*`],
  });
}

/**
 * The EventBridge pattern for the aggregator: Batch job state changes of this queue that are
 * terminal, for array parents and single jobs; array children (which carry
 * `arrayProperties.index`) are left out, so one sweep of N trials fires once, not N + 1 times.
 */
export function batchJobStateChangePattern(jobQueueArn: string) {
  return {
    source: ['aws.batch'],
    'detail-type': ['Batch Job State Change'],
    detail: {
      jobQueue: [jobQueueArn],
      status: ['SUCCEEDED', 'FAILED'],
      arrayProperties: { index: [{ exists: false }] },
    },
  };
}

/**
 * Batch's retry strategy in the provider's shape, from the one definition the executor also
 * sends with SubmitJob (shared/adapters/aws/batch-retry.ts): retry host loss (Spot reclaim,
 * instance terminated, SIGKILL), exit on everything the trainer reports itself.
 */
export function jobDefinitionRetryStrategy() {
  return {
    attempts: BATCH_ATTEMPTS,
    evaluateOnExits: BATCH_RETRY_RULES.map((r) => ({
      action: r.action,
      ...(r.onStatusReason !== undefined ? { onStatusReason: r.onStatusReason } : {}),
      ...(r.onReason !== undefined ? { onReason: r.onReason } : {}),
      ...(r.onExitCode !== undefined ? { onExitCode: r.onExitCode } : {}),
    })),
  };
}

/** Where the host keeps the CUDA JIT cache, shared by the jobs that land on one instance. */
export const HOST_CUDA_CACHE = '/var/cache/foldsweep/cuda';
/** Where the container sees it (also the image's default CUDA_CACHE_PATH). */
export const CONTAINER_CUDA_CACHE = '/var/cache/foldsweep/cuda';
/** The trainer image's user and group id (trainer/Dockerfile). */
export const TRAINER_UID = 10001;

export interface TrainerContainerInputs {
  image: string;
  jobRoleArn: string;
  vcpus: number;
  memoryMiB: number;
  gpus: number;
  bucket: string;
  region: string;
  logGroupName: string;
  logLevel: string;
}

/**
 * The job definition's containerProperties: the trainer image (its entry point is the trainer),
 * GPU/vCPU/memory as resourceRequirements, the job role, CloudWatch logs, an init process so
 * SIGTERM on a Spot reclaim reaches Node, and the environment that makes a GPU mandatory.
 * FOLDSWEEP_PLAN_KEY and the trial offset are per job: the executor sets them on SubmitJob.
 */
export function trainerContainerProperties(p: TrainerContainerInputs) {
  const environment: Record<string, string> = {
    [TRAINER_JOB_ENV.bucket]: p.bucket,
    FOLDSWEEP_BACKEND: 'tensorflow-gpu',
    FOLDSWEEP_REQUIRE_GPU: 'true',
    TF_FORCE_GPU_ALLOW_GROWTH: 'true',
    CUDA_CACHE_PATH: CONTAINER_CUDA_CACHE,
    CUDA_CACHE_MAXSIZE: String(4 * 1024 ** 3),
    AWS_REGION: p.region,
    AWS_DEFAULT_REGION: p.region,
    LOG_LEVEL: p.logLevel,
  };
  return {
    image: p.image,
    jobRoleArn: p.jobRoleArn,
    resourceRequirements: [
      { type: 'GPU', value: String(p.gpus) },
      { type: 'VCPU', value: String(p.vcpus) },
      { type: 'MEMORY', value: String(p.memoryMiB) },
    ],
    environment: Object.entries(environment)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, value]) => ({ name, value })),
    linuxParameters: { initProcessEnabled: true },
    privileged: false,
    volumes: [{ name: 'cuda-cache', host: { sourcePath: HOST_CUDA_CACHE } }],
    mountPoints: [
      { sourceVolume: 'cuda-cache', containerPath: CONTAINER_CUDA_CACHE, readOnly: false },
    ],
    logConfiguration: {
      logDriver: 'awslogs',
      options: {
        'awslogs-group': p.logGroupName,
        'awslogs-region': p.region,
        'awslogs-stream-prefix': 'trainer',
      },
    },
  };
}

/**
 * User data of the GPU instances (MIME multi-part, as Batch requires): creates the CUDA JIT
 * cache owned by the trainer's uid, so g5/g6 GPUs (whose kernels libtensorflow 2.9 compiles from
 * PTX on first use) pay that compile once per instance instead of once per job.
 */
export function instanceUserData(): string {
  const boundary = '==FOLDSWEEP==';
  return [
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/x-shellscript; charset="us-ascii"',
    '',
    '#!/bin/bash',
    'set -euo pipefail',
    `mkdir -p ${HOST_CUDA_CACHE}`,
    `chown ${TRAINER_UID}:${TRAINER_UID} ${HOST_CUDA_CACHE}`,
    `chmod 0750 ${HOST_CUDA_CACHE}`,
    '',
    `--${boundary}--`,
    '',
  ].join('\n');
}

/**
 * Lifecycle of the bucket (versioned, so models and champions survive overwrites and deletes):
 * checkpoints and the derived-data cache expire, old versions of everything else expire after a grace period, incomplete
 * multipart uploads are aborted and expired delete markers removed.
 */
export function bucketLifecycleRules(p: {
  checkpointRetentionDays: number;
  cacheRetentionDays: number;
  noncurrentVersionRetentionDays: number;
}) {
  return [
    {
      id: 'expire-checkpoints',
      status: 'Enabled',
      filter: { prefix: CHECKPOINT_PREFIX },
      expiration: { days: p.checkpointRetentionDays },
      noncurrentVersionExpiration: { noncurrentDays: 1 },
    },
    {
      id: 'expire-cache',
      status: 'Enabled',
      filter: { prefix: OBJECT_PREFIXES.cache },
      expiration: { days: p.cacheRetentionDays },
      noncurrentVersionExpiration: { noncurrentDays: 1 },
    },
    {
      id: 'expire-old-versions',
      status: 'Enabled',
      filter: {},
      noncurrentVersionExpiration: { noncurrentDays: p.noncurrentVersionRetentionDays },
      abortIncompleteMultipartUpload: { daysAfterInitiation: 2 },
      expiration: { expiredObjectDeleteMarker: true },
    },
  ];
}

/** ECR lifecycle: untagged layers go after a day; only the newest N tagged images are kept. */
export function repositoryLifecyclePolicy(keepImages: number) {
  return {
    rules: [
      {
        rulePriority: 1,
        description: 'Drop untagged images after a day',
        selection: {
          tagStatus: 'untagged',
          countType: 'sinceImagePushed',
          countUnit: 'days',
          countNumber: 1,
        },
        action: { type: 'expire' },
      },
      {
        rulePriority: 2,
        description: `Keep the newest ${keepImages} trainer images`,
        selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: keepImages },
        action: { type: 'expire' },
      },
    ],
  };
}

/** API Gateway access log line (JSON), with the SigV4 caller for IAM-authorized requests. */
export const API_ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: '$context.requestId',
  time: '$context.requestTime',
  ip: '$context.identity.sourceIp',
  caller: '$context.identity.caller',
  user: '$context.identity.userArn',
  method: '$context.httpMethod',
  path: '$context.path',
  route: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  latencyMs: '$context.responseLatency',
  integrationError: '$context.integrationErrorMessage',
  authError: '$context.authorizer.error',
});
