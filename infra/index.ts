/**
 * foldsweep on AWS: `pulumi up` from the repo root (Pulumi.yaml points here) deploys storage,
 * the trainer image repository, the GPU Batch queue, the Lambda functions (api, aggregator,
 * retrain, prepare), the HTTP API and the events, wired together. This file only composes the components and exports the stack outputs;
 * settings come from infra/config.ts, documents from infra/policies.ts. See docs/deploy.md.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { type AwsRuntimeEnv, SCHEDULE_ENV } from '../shared/schemas/runtime-env.js';
import {
  imageContentTag,
  lambdaBundlePaths,
  MissingBundleError,
  resolveBundleDir,
} from './bundles.js';
import { Api } from './components/api.js';
import { Compute } from './components/compute.js';
import { Events } from './components/events.js';
import { Functions } from './components/functions.js';
import { Iam } from './components/iam.js';
import { Image } from './components/image.js';
import { Network } from './components/network.js';
import { Storage } from './components/storage.js';
import { loadConfig } from './config.js';
import { arnsFor, type FunctionName, resourceNames } from './naming.js';

const config = loadConfig();
const prefix = config.namePrefix;
const names = resourceNames(prefix);
const tags: Record<string, string> = {
  project: 'foldsweep',
  stack: config.stack,
  'managed-by': 'pulumi',
  ...config.tags,
};

const partition = aws.getPartitionOutput().partition;
const region = aws.getRegionOutput().region;
const accountId = aws.getCallerIdentityOutput().accountId;
const arns = pulumi
  .all([partition, region, accountId])
  .apply(([p, r, a]) => arnsFor({ partition: p, region: r, accountId: a }, names));

function buildOutputs() {
  const dir = resolveBundleDir(config.bundleDir);
  try {
    return {
      bundlePaths: lambdaBundlePaths(dir),
      imageTag: config.trainerImageTag ?? imageContentTag(config.bundleDir),
    };
  } catch (error) {
    if (error instanceof MissingBundleError) throw new pulumi.RunError(error.message);
    throw error;
  }
}
const { bundlePaths, imageTag } = buildOutputs();

const storage = new Storage(prefix, {
  kmsKeyArn: config.kmsKeyArn,
  checkpointRetentionDays: config.checkpointRetentionDays,
  cacheRetentionDays: config.cacheRetentionDays,
  noncurrentVersionRetentionDays: config.noncurrentVersionRetentionDays,
  deletionProtection: config.deletionProtection,
  tags,
});

const image = new Image(prefix, {
  repositoryName: names.repository,
  tag: imageTag,
  keepImages: config.imageRetentionCount,
  kmsKeyArn: config.kmsKeyArn,
  deletionProtection: config.deletionProtection,
  tags,
});

const network = new Network(prefix, {
  vpcId: config.vpcId,
  subnetIds: config.subnetIds,
  securityGroupIds: config.securityGroupIds,
  vpcCidr: config.vpcCidr,
  availabilityZoneCount: config.availabilityZoneCount,
  region,
  tags,
});

const iam = new Iam(prefix, {
  bucketArn: storage.bucketArn,
  tableArn: storage.tableArn,
  arns,
  partition,
  accountId,
  kmsKeyArn: config.kmsKeyArn,
  datasetLocations: config.datasetBuckets,
  modelLocations: config.modelBuckets,
  tags,
});

const compute = new Compute(prefix, {
  jobQueueName: names.jobQueue,
  jobDefinitionName: names.jobDefinition,
  logGroupName: names.logGroups.trainer,
  subnetIds: network.subnetIds,
  securityGroupIds: network.securityGroupIds,
  instanceProfileArn: iam.instanceProfileArn,
  trainerRoleArn: iam.trainerRoleArn,
  imageUri: image.imageUri,
  bucketName: storage.bucketName,
  region,
  gpuInstanceTypes: config.gpuInstanceTypes,
  onDemandInstanceTypes: config.onDemandInstanceTypes,
  useSpot: config.useSpot,
  onDemandFallback: config.onDemandFallback,
  spotMaxVcpus: config.spotMaxVcpus,
  onDemandMaxVcpus: config.onDemandMaxVcpus,
  amiImageType: config.amiImageType,
  amiId: config.amiId,
  rootVolumeGiB: config.rootVolumeGiB,
  trainerVcpus: config.trainerVcpus,
  trainerMemoryMiB: config.trainerMemoryMiB,
  trainerGpus: config.trainerGpus,
  jobTimeoutSeconds: config.jobTimeoutMinutes * 60,
  runnableTimeoutSeconds: config.runnableTimeoutMinutes * 60,
  logRetentionDays: config.logRetentionDays,
  logLevel: config.logLevel,
  tags,
});

/** What every function reads at start (shared/schemas/runtime-env.ts parses it). */
const runtimeEnv = {
  FOLDSWEEP_BUCKET: storage.bucketName,
  FOLDSWEEP_TABLE: storage.tableName,
  FOLDSWEEP_JOB_QUEUE: compute.jobQueueArn,
  FOLDSWEEP_JOB_DEFINITION: compute.jobDefinitionArn,
  FOLDSWEEP_ATTEMPT_TIMEOUT_SECONDS: String(config.jobTimeoutMinutes * 60),
  LOG_LEVEL: config.logLevel,
} satisfies Partial<Record<keyof AwsRuntimeEnv, pulumi.Input<string>>>;

/** Scheduled retraining: the api creates EventBridge schedules, the retrain function runs them. */
const scheduleEnv = {
  [SCHEDULE_ENV.group]: names.scheduleGroup,
  [SCHEDULE_ENV.roleArn]: iam.schedulerRoleArn,
  [SCHEDULE_ENV.targetArn]: arns.functions.retrain,
  [SCHEDULE_ENV.deadLetterArn]: arns.deadLetterQueue,
};

/**
 * Where the functions that create sweeps hand them over to be prepared (an asynchronous
 * invocation): POST /sweeps answers 202 and the prepare function does the rest.
 */
const prepareEnv = {
  FOLDSWEEP_PREPARE_FUNCTION_ARN: arns.functions.prepare,
} satisfies Partial<Record<keyof AwsRuntimeEnv, pulumi.Input<string>>>;

const functions = new Functions(prefix, {
  functionNames: names.functions,
  logGroupNames: {
    api: names.logGroups.api,
    aggregator: names.logGroups.aggregator,
    retrain: names.logGroups.retrain,
    prepare: names.logGroups.prepare,
  },
  roleArns: iam.functionRoleArns,
  bundlePaths,
  sizes: config.functions,
  environment: {
    api: { ...runtimeEnv, ...scheduleEnv, ...prepareEnv },
    // The aggregator completes scheduled runs from the table alone: no scheduler.
    aggregator: runtimeEnv,
    retrain: { ...runtimeEnv, ...scheduleEnv, ...prepareEnv },
    // What preparing a sweep needs (bucket, table, queue, job definition, attempt timeout); no
    // scheduler and no prepare ARN: it prepares itself and hands nothing on.
    prepare: runtimeEnv,
  } satisfies Record<FunctionName, Record<string, pulumi.Input<string>>>,
  invokes: { api: ['prepare'], retrain: ['prepare'] },
  runtime: config.lambdaRuntime,
  architecture: config.lambdaArchitecture,
  logRetentionDays: config.logRetentionDays,
  tags,
});

const api = new Api(prefix, {
  apiName: prefix,
  functionName: functions.functions.api.name,
  functionInvokeArn: functions.functions.api.invokeArn,
  auth: config.apiAuth,
  jwtIssuer: config.jwtIssuer,
  jwtAudience: config.jwtAudience,
  throttleRateLimit: config.apiThrottleRateLimit,
  throttleBurstLimit: config.apiThrottleBurstLimit,
  accessLogGroupName: names.logGroups.apiAccess,
  logRetentionDays: config.logRetentionDays,
  tags,
});

const events = new Events(prefix, {
  jobQueueArn: compute.jobQueueArn,
  aggregator: functions.functions.aggregator,
  retrain: functions.functions.retrain,
  prepare: functions.functions.prepare,
  deadLetterQueueName: names.deadLetterQueue,
  scheduleGroupName: names.scheduleGroup,
  tags,
});

/** The API's base URL; requests must be SigV4-signed (service `execute-api`) unless apiAuth=jwt. */
export const apiUrl = api.url;
/** Attach this managed policy to the roles and users that may call the API (apiAuth=iam). */
export const apiInvokePolicyArn = api.invokePolicyArn;
export const bucketName = storage.bucketName;
export const tableName = storage.tableName;
export const jobQueueArn = compute.jobQueueArn;
export const jobDefinitionArn = compute.jobDefinitionArn;
export const trainerImageUri = image.imageUri;
/** scripts/push-image.sh pushes the trainer image here. */
export const trainerRepositoryUrl = image.repositoryUrl;
export const trainerImageTag = imageTag;
export const scheduleGroupName = events.scheduleGroupName;
export const deadLetterQueueUrl = events.deadLetterQueueUrl;
export const awsRegion = region;
