import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { Arns, FunctionName } from '../naming.js';
import {
  aggregatorFunctionPolicy,
  apiFunctionPolicy,
  assumeRolePolicy,
  type DatasetLocation,
  type ModelLocation,
  type PolicyDocument,
  type PolicyInputs,
  prepareFunctionPolicy,
  retrainFunctionPolicy,
  schedulerPolicy,
  trainerJobPolicy,
} from '../policies.js';

export interface IamArgs {
  bucketArn: pulumi.Input<string>;
  tableArn: pulumi.Input<string>;
  arns: pulumi.Input<Arns>;
  partition: pulumi.Input<string>;
  accountId: pulumi.Input<string>;
  kmsKeyArn?: string;
  /** Buckets (and prefixes) the api, retrain and prepare functions read source datasets from. */
  datasetLocations?: DatasetLocation[];
  /** Buckets (and prefixes) the api, retrain and prepare functions read base models from. */
  modelLocations?: ModelLocation[];
  tags: Record<string, string>;
}

/** The one AWS-managed policy used: what the ECS agent on a Batch instance needs. */
export const ECS_INSTANCE_POLICY = 'service-role/AmazonEC2ContainerServiceforEC2Role';

/**
 * Every role of the deployment, each with only what its process does (policies.ts holds the
 * documents and says why): one per function, one for the trainer jobs, one for EventBridge
 * Scheduler, and the Batch instances' role (the ECS agent's AWS-managed policy; jobs never use
 * it, they get the trainer role, and IMDS is closed to containers by the launch template).
 * Batch itself uses its service-linked role. The role ARNs resolve only once their policy is
 * attached, so nothing runs with a half-built role.
 */
export class Iam extends pulumi.ComponentResource {
  readonly functionRoleArns: Record<FunctionName, pulumi.Output<string>>;
  readonly trainerRoleArn: pulumi.Output<string>;
  readonly schedulerRoleArn: pulumi.Output<string>;
  readonly instanceProfileArn: pulumi.Output<string>;

  constructor(name: string, args: IamArgs, opts?: pulumi.ComponentResourceOptions) {
    super('foldsweep:infra:Iam', name, {}, opts);
    const scheduler = this.createRole(`${name}-scheduler`, 'scheduler.amazonaws.com', args);
    const inputs = pulumi.all([args.bucketArn, args.tableArn, args.arns, scheduler.arn]).apply(
      ([bucketArn, tableArn, arns, schedulerRoleArn]): PolicyInputs => ({
        bucketArn,
        tableArn,
        arns,
        schedulerRoleArn,
        kmsKeyArn: args.kmsKeyArn,
        datasetLocations: args.datasetLocations,
        modelLocations: args.modelLocations,
      }),
    );

    this.functionRoleArns = {
      api: this.createFunctionRole(name, 'api', inputs.apply(apiFunctionPolicy), args),
      aggregator: this.createFunctionRole(
        name,
        'aggregator',
        inputs.apply(aggregatorFunctionPolicy),
        args,
      ),
      retrain: this.createFunctionRole(name, 'retrain', inputs.apply(retrainFunctionPolicy), args),
      prepare: this.createFunctionRole(name, 'prepare', inputs.apply(prepareFunctionPolicy), args),
    };
    this.trainerRoleArn = this.createTrainerRole(name, inputs, args);
    this.schedulerRoleArn = this.attach(
      scheduler,
      `${name}-scheduler`,
      inputs.apply((p) =>
        schedulerPolicy({
          retrainFunctionArn: p.arns.functions.retrain,
          deadLetterQueueArn: p.arns.deadLetterQueue,
        }),
      ),
    );
    this.instanceProfileArn = this.createInstanceProfile(name, args);

    this.registerOutputs({
      functionRoleArns: this.functionRoleArns,
      trainerRoleArn: this.trainerRoleArn,
      schedulerRoleArn: this.schedulerRoleArn,
      instanceProfileArn: this.instanceProfileArn,
    });
  }

  private createRole(roleName: string, service: string, args: IamArgs): aws.iam.Role {
    const pinToAccount = service === 'scheduler.amazonaws.com';
    return new aws.iam.Role(
      roleName,
      {
        assumeRolePolicy: pulumi
          .output(args.accountId)
          .apply((account) =>
            JSON.stringify(assumeRolePolicy(service, pinToAccount ? account : undefined)),
          ),
        tags: args.tags,
      },
      { parent: this },
    );
  }

  /** Attaches the inline policy; returns the role ARN, resolved after the policy exists. */
  private attach(
    role: aws.iam.Role,
    policyName: string,
    document: pulumi.Output<PolicyDocument>,
  ): pulumi.Output<string> {
    const policy = new aws.iam.RolePolicy(
      policyName,
      { role: role.id, policy: document.apply((d) => JSON.stringify(d)) },
      { parent: this },
    );
    return pulumi.all([role.arn, policy.id]).apply(([arn]) => arn);
  }

  private createFunctionRole(
    name: string,
    fn: FunctionName,
    document: pulumi.Output<PolicyDocument>,
    args: IamArgs,
  ): pulumi.Output<string> {
    const role = this.createRole(`${name}-${fn}`, 'lambda.amazonaws.com', args);
    return this.attach(role, `${name}-${fn}`, document);
  }

  private createTrainerRole(
    name: string,
    inputs: pulumi.Output<PolicyInputs>,
    args: IamArgs,
  ): pulumi.Output<string> {
    const role = this.createRole(`${name}-trainer`, 'ecs-tasks.amazonaws.com', args);
    return this.attach(role, `${name}-trainer`, inputs.apply(trainerJobPolicy));
  }

  private createInstanceProfile(name: string, args: IamArgs): pulumi.Output<string> {
    const role = this.createRole(`${name}-batch-instance`, 'ec2.amazonaws.com', args);
    const attachment = new aws.iam.RolePolicyAttachment(
      `${name}-batch-instance`,
      {
        role: role.name,
        policyArn: pulumi.interpolate`arn:${args.partition}:iam::aws:policy/${ECS_INSTANCE_POLICY}`,
      },
      { parent: this },
    );
    const profile = new aws.iam.InstanceProfile(
      `${name}-batch-instance`,
      { role: role.name, tags: args.tags },
      { parent: this },
    );
    return pulumi.all([profile.arn, attachment.id]).apply(([arn]) => arn);
  }
}
