import { existsSync } from 'node:fs';
import path from 'node:path';
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { LAMBDA_HANDLER } from '../bundles.js';
import { FUNCTION_NAMES, type FunctionName } from '../naming.js';

export interface FunctionSize {
  memoryMiB: number;
  timeoutSeconds: number;
  /** Size of /tmp, 512-10240 MiB. */
  ephemeralStorageMiB: number;
}

export interface FunctionsArgs {
  functionNames: Record<FunctionName, string>;
  logGroupNames: Record<FunctionName, string>;
  roleArns: Record<FunctionName, pulumi.Input<string>>;
  /** Absolute paths of the esbuild bundles (ESM `.mjs`, each exporting `handler`). */
  bundlePaths: Record<FunctionName, string>;
  sizes: Record<FunctionName, FunctionSize>;
  environment: Record<FunctionName, pulumi.Input<Record<string, pulumi.Input<string>>>>;
  runtime: string;
  architecture: 'x86_64' | 'arm64';
  logRetentionDays: number;
  /**
   * Functions another one invokes by the ARN in its environment (e.g. api -> prepare): the
   * invoked ones are created or updated first, so no caller runs while its target is missing.
   */
  invokes?: Partial<Record<FunctionName, FunctionName[]>>;
  tags: Record<string, string>;
}

export interface DeployedFunction {
  name: pulumi.Output<string>;
  arn: pulumi.Output<string>;
  invokeArn: pulumi.Output<string>;
}

/**
 * The api, aggregator, retrain and prepare Lambda functions from their esbuild bundles (copied
 * in as index.mjs, with the source map when there is one), each with its own role, memory,
 * timeout and /tmp size from config, JSON logs to its own log group with retention, and the
 * environment that names the bucket, table, queue and job definition
 * (shared/schemas/runtime-env.ts).
 */
export class Functions extends pulumi.ComponentResource {
  readonly functions: Record<FunctionName, DeployedFunction>;

  constructor(name: string, args: FunctionsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('foldsweep:infra:Functions', name, {}, opts);
    // Invoked functions first, so their callers can depend on them.
    const invoked = new Set(Object.values(args.invokes ?? {}).flat());
    const order = [...FUNCTION_NAMES].sort(
      (a, b) => Number(invoked.has(b)) - Number(invoked.has(a)),
    );
    const created = new Map<FunctionName, aws.lambda.Function>();
    for (const fn of order) {
      const logGroup = this.createLogGroup(name, fn, args);
      const dependsOn = (args.invokes?.[fn] ?? []).map((target) => {
        const f = created.get(target);
        if (!f)
          throw new Error(`${fn} invokes ${target}: chains of invoked functions are not supported`);
        return f;
      });
      created.set(fn, this.createFunction(name, fn, logGroup, args, dependsOn));
    }
    this.functions = Object.fromEntries(
      FUNCTION_NAMES.map((fn) => {
        const f = created.get(fn) as aws.lambda.Function;
        return [fn, { name: f.name, arn: f.arn, invokeArn: f.invokeArn }];
      }),
    ) as Record<FunctionName, DeployedFunction>;
    this.registerOutputs({ functions: this.functions });
  }

  private createLogGroup(name: string, fn: FunctionName, args: FunctionsArgs) {
    return new aws.cloudwatch.LogGroup(
      `${name}-${fn}-logs`,
      {
        name: args.logGroupNames[fn],
        retentionInDays: args.logRetentionDays,
        tags: args.tags,
      },
      { parent: this },
    );
  }

  private createFunction(
    name: string,
    fn: FunctionName,
    logGroup: aws.cloudwatch.LogGroup,
    args: FunctionsArgs,
    dependsOn: aws.lambda.Function[],
  ): aws.lambda.Function {
    const bundle = args.bundlePaths[fn];
    const assets: Record<string, pulumi.asset.Asset> = {
      'index.mjs': new pulumi.asset.FileAsset(bundle),
    };
    if (existsSync(`${bundle}.map`)) {
      assets[`${path.basename(bundle)}.map`] = new pulumi.asset.FileAsset(`${bundle}.map`);
    }
    return new aws.lambda.Function(
      `${name}-${fn}`,
      {
        name: args.functionNames[fn],
        description: `foldsweep ${fn}`,
        role: args.roleArns[fn],
        runtime: args.runtime,
        architectures: [args.architecture],
        handler: LAMBDA_HANDLER,
        code: new pulumi.asset.AssetArchive(assets),
        memorySize: args.sizes[fn].memoryMiB,
        timeout: args.sizes[fn].timeoutSeconds,
        ephemeralStorage: { size: args.sizes[fn].ephemeralStorageMiB },
        environment: {
          variables: pulumi
            .output(args.environment[fn])
            .apply((vars) => ({ ...vars, NODE_OPTIONS: '--enable-source-maps' })),
        },
        loggingConfig: { logFormat: 'JSON', logGroup: logGroup.name, systemLogLevel: 'WARN' },
        tags: args.tags,
      },
      { parent: this, dependsOn },
    );
  }
}
