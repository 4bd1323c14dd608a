import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import {
  instanceUserData,
  jobDefinitionRetryStrategy,
  trainerContainerProperties,
} from '../policies.js';

export interface ComputeArgs {
  jobQueueName: string;
  jobDefinitionName: string;
  logGroupName: string;
  subnetIds: pulumi.Input<string[]>;
  securityGroupIds: pulumi.Input<string[]>;
  instanceProfileArn: pulumi.Input<string>;
  trainerRoleArn: pulumi.Input<string>;
  imageUri: pulumi.Input<string>;
  bucketName: pulumi.Input<string>;
  region: pulumi.Input<string>;
  gpuInstanceTypes: string[];
  onDemandInstanceTypes: string[];
  useSpot: boolean;
  onDemandFallback: boolean;
  spotMaxVcpus: number;
  onDemandMaxVcpus: number;
  amiImageType: 'ECS_AL2023_NVIDIA' | 'ECS_AL2_NVIDIA';
  amiId?: string;
  rootVolumeGiB: number;
  trainerVcpus: number;
  trainerMemoryMiB: number;
  trainerGpus: number;
  jobTimeoutSeconds: number;
  runnableTimeoutSeconds: number;
  logRetentionDays: number;
  logLevel: string;
  tags: Record<string, string>;
}

/**
 * GPU capacity that scales to zero: AWS Batch managed EC2 compute environments (minvCpus 0) on
 * the ECS GPU-optimized AMI, its image type pinned (AL2023 by default: NVIDIA driver 580.x,
 * which runs CUDA 11.2 user space through the driver's backward compatibility), a Spot
 * environment (SPOT_PRICE_CAPACITY_OPTIMIZED over many GPU types) with an on-demand one behind
 * it in the job queue, and the trainer's job definition (GPU resource requirement, the shared
 * retry strategy, per-attempt timeout, logs with retention).
 */
export class Compute extends pulumi.ComponentResource {
  readonly jobQueueArn: pulumi.Output<string>;
  readonly jobDefinitionArn: pulumi.Output<string>;

  constructor(name: string, args: ComputeArgs, opts?: pulumi.ComponentResourceOptions) {
    super('foldsweep:infra:Compute', name, {}, opts);
    const launchTemplate = this.createLaunchTemplate(name, args);
    const environments = this.createComputeEnvironments(name, launchTemplate, args);
    const queue = this.createJobQueue(name, environments, args);
    const logGroup = this.createLogGroup(name, args);
    const jobDefinition = this.createJobDefinition(name, logGroup, args);

    this.jobQueueArn = queue.arn;
    this.jobDefinitionArn = jobDefinition.arn;
    this.registerOutputs({
      jobQueueArn: this.jobQueueArn,
      jobDefinitionArn: this.jobDefinitionArn,
    });
  }

  /** IMDSv2 only and out of containers' reach (hop limit 1), encrypted root volume, CUDA cache. */
  private createLaunchTemplate(name: string, args: ComputeArgs): aws.ec2.LaunchTemplate {
    return new aws.ec2.LaunchTemplate(
      `${name}-instances`,
      {
        description: 'foldsweep GPU instances for AWS Batch',
        metadataOptions: {
          httpEndpoint: 'enabled',
          httpTokens: 'required',
          httpPutResponseHopLimit: 1,
        },
        blockDeviceMappings: [
          {
            deviceName: '/dev/xvda',
            ebs: {
              volumeSize: args.rootVolumeGiB,
              volumeType: 'gp3',
              encrypted: 'true',
              deleteOnTermination: 'true',
            },
          },
        ],
        userData: Buffer.from(instanceUserData()).toString('base64'),
        tagSpecifications: [{ resourceType: 'volume', tags: args.tags }],
        updateDefaultVersion: true,
        tags: args.tags,
      },
      { parent: this },
    );
  }

  private createComputeEnvironments(
    name: string,
    launchTemplate: aws.ec2.LaunchTemplate,
    args: ComputeArgs,
  ): aws.batch.ComputeEnvironment[] {
    const environment = (
      suffix: string,
      resources: { type: 'SPOT' | 'EC2'; allocationStrategy: string; maxVcpus: number },
      instanceTypes: string[],
    ) =>
      new aws.batch.ComputeEnvironment(
        `${name}-${suffix}`,
        {
          type: 'MANAGED',
          state: 'ENABLED',
          // No serviceRole: Batch uses its service-linked role (AWSServiceRoleForBatch).
          computeResources: {
            ...resources,
            minVcpus: 0,
            instanceTypes,
            instanceRole: args.instanceProfileArn,
            subnets: args.subnetIds,
            securityGroupIds: args.securityGroupIds,
            launchTemplate: {
              launchTemplateId: launchTemplate.id,
              version: launchTemplate.latestVersion.apply(String),
            },
            ec2Configurations: [
              {
                imageType: args.amiImageType,
                ...(args.amiId ? { imageIdOverride: args.amiId } : {}),
              },
            ],
            tags: { ...args.tags, Name: `${name}-${suffix}` },
          },
          updatePolicy: { terminateJobsOnUpdate: false, jobExecutionTimeoutMinutes: 30 },
          tags: args.tags,
        },
        { parent: this },
      );

    const environments: aws.batch.ComputeEnvironment[] = [];
    if (args.useSpot) {
      environments.push(
        environment(
          'spot',
          {
            type: 'SPOT',
            allocationStrategy: 'SPOT_PRICE_CAPACITY_OPTIMIZED',
            maxVcpus: args.spotMaxVcpus,
          },
          args.gpuInstanceTypes,
        ),
      );
    }
    if (args.onDemandFallback) {
      environments.push(
        environment(
          'on-demand',
          {
            type: 'EC2',
            allocationStrategy: 'BEST_FIT_PROGRESSIVE',
            maxVcpus: args.onDemandMaxVcpus,
          },
          args.onDemandInstanceTypes,
        ),
      );
    }
    return environments;
  }

  /**
   * Spot first, on-demand second. Jobs stuck RUNNABLE are cancelled (so the array job ends and
   * the aggregator runs) when no instance type can ever fit them, or when capacity stays short
   * for runnableTimeoutMinutes.
   */
  private createJobQueue(
    name: string,
    environments: aws.batch.ComputeEnvironment[],
    args: ComputeArgs,
  ): aws.batch.JobQueue {
    return new aws.batch.JobQueue(
      `${name}-queue`,
      {
        name: args.jobQueueName,
        state: 'ENABLED',
        priority: 1,
        computeEnvironmentOrders: environments.map((env, i) => ({
          order: i + 1,
          computeEnvironment: env.arn,
        })),
        jobStateTimeLimitActions: [
          {
            reason: 'MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT',
            state: 'RUNNABLE',
            action: 'CANCEL',
            maxTimeSeconds: 600,
          },
          {
            reason: 'MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE',
            state: 'RUNNABLE',
            action: 'CANCEL',
            maxTimeSeconds: 600,
          },
          {
            reason: 'CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY',
            state: 'RUNNABLE',
            action: 'CANCEL',
            maxTimeSeconds: args.runnableTimeoutSeconds,
          },
        ],
        tags: args.tags,
      },
      { parent: this },
    );
  }

  private createLogGroup(name: string, args: ComputeArgs): aws.cloudwatch.LogGroup {
    return new aws.cloudwatch.LogGroup(
      `${name}-trainer-logs`,
      {
        name: args.logGroupName,
        retentionInDays: args.logRetentionDays,
        tags: args.tags,
      },
      { parent: this },
    );
  }

  private createJobDefinition(
    name: string,
    logGroup: aws.cloudwatch.LogGroup,
    args: ComputeArgs,
  ): aws.batch.JobDefinition {
    const containerProperties = pulumi
      .all([args.imageUri, args.trainerRoleArn, args.bucketName, args.region, logGroup.name])
      .apply(([image, jobRoleArn, bucket, region, logGroupName]) =>
        JSON.stringify(
          trainerContainerProperties({
            image,
            jobRoleArn,
            bucket,
            region,
            logGroupName,
            vcpus: args.trainerVcpus,
            memoryMiB: args.trainerMemoryMiB,
            gpus: args.trainerGpus,
            logLevel: args.logLevel,
          }),
        ),
      );
    return new aws.batch.JobDefinition(
      `${name}-trainer`,
      {
        name: args.jobDefinitionName,
        type: 'container',
        platformCapabilities: ['EC2'],
        containerProperties,
        retryStrategy: jobDefinitionRetryStrategy(),
        timeout: { attemptDurationSeconds: args.jobTimeoutSeconds },
        propagateTags: true,
        tags: args.tags,
      },
      { parent: this },
    );
  }
}
