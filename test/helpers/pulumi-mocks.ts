/**
 * Pulumi unit-test mocks: no CLI, no engine, no cloud. `setupPulumiMocks(config)` sets the
 * stack config and installs mocks that record every registered resource and give it the
 * outputs AWS would (ARNs in AWS's formats, URLs, ids), so tests can check wiring by value.
 * Call it in beforeAll, then `await import()` the program or component.
 * @example
 * const recorder = await setupPulumiMocks({ 'foldsweep:bundleDir': dir });
 * const program = await import('../../../infra/index.js');
 * const queues = recorder.ofType('aws:batch/jobQueue:JobQueue');
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as pulumi from '@pulumi/pulumi';

export const MOCK_ACCOUNT = '123456789012';
export const MOCK_REGION = 'eu-west-1';
export const MOCK_PARTITION = 'aws';
export const MOCK_PROJECT = 'foldsweep';
export const MOCK_STACK = 'test';

export interface RecordedResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  state: Record<string, unknown>;
  id: string;
  custom: boolean;
}

export interface RecordedCall {
  token: string;
  inputs: Record<string, unknown>;
}

export interface PulumiRecorder {
  resources: RecordedResource[];
  calls: RecordedCall[];
  /** Custom resources of one type token, e.g. 'aws:s3/bucket:Bucket'. */
  ofType(type: string): RecordedResource[];
  /** The one resource of `type` whose logical name ends with `suffix`; throws otherwise. */
  one(type: string, suffix?: string): RecordedResource;
  /** Resolves once no new resource has been registered for a while (all are in). */
  settled(): Promise<void>;
}

const shortHash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 7);

/** Outputs AWS computes for a resource, in the formats AWS uses. */
function computedState(type: string, name: string, inputs: Record<string, unknown>) {
  const R = MOCK_REGION;
  const A = MOCK_ACCOUNT;
  const arn = (service: string, resource: string, region = R, account = A) =>
    `arn:${MOCK_PARTITION}:${service}:${region}:${account}:${resource}`;
  const physical = (
    typeof inputs.name === 'string' ? inputs.name : `${name}-${shortHash(name)}`
  ) as string;
  switch (type) {
    case 'aws:s3/bucket:Bucket': {
      const bucket = (inputs.bucket as string | undefined) ?? `${name}-${shortHash(name)}`;
      return { id: bucket, state: { bucket, arn: `arn:aws:s3:::${bucket}` } };
    }
    case 'aws:dynamodb/table:Table':
      return { id: physical, state: { name: physical, arn: arn('dynamodb', `table/${physical}`) } };
    case 'aws:sqs/queue:Queue': {
      const url = `https://sqs.${R}.amazonaws.com/${A}/${physical}`;
      return { id: url, state: { name: physical, url, arn: arn('sqs', physical) } };
    }
    case 'aws:lambda/function:Function': {
      const fnArn = arn('lambda', `function:${physical}`);
      return {
        id: physical,
        state: {
          name: physical,
          arn: fnArn,
          invokeArn: `arn:aws:apigateway:${R}:lambda:path/2015-03-31/functions/${fnArn}/invocations`,
        },
      };
    }
    case 'aws:iam/role:Role':
      return { id: physical, state: { name: physical, arn: arn('iam', `role/${physical}`, '') } };
    case 'aws:iam/instanceProfile:InstanceProfile':
      return {
        id: physical,
        state: { name: physical, arn: arn('iam', `instance-profile/${physical}`, '') },
      };
    case 'aws:iam/policy:Policy':
      return { id: physical, state: { name: physical, arn: arn('iam', `policy/${physical}`, '') } };
    case 'aws:cloudwatch/logGroup:LogGroup':
      return { id: physical, state: { name: physical, arn: arn('logs', `log-group:${physical}`) } };
    case 'aws:batch/jobQueue:JobQueue':
      return {
        id: physical,
        state: { name: physical, arn: arn('batch', `job-queue/${physical}`) },
      };
    case 'aws:batch/jobDefinition:JobDefinition': {
      const prefix = arn('batch', `job-definition/${physical}`);
      return {
        id: `${prefix}:1`,
        state: { name: physical, arn: `${prefix}:1`, arnPrefix: prefix, revision: 1 },
      };
    }
    case 'aws:batch/computeEnvironment:ComputeEnvironment':
      return {
        id: physical,
        state: { name: physical, arn: arn('batch', `compute-environment/${physical}`) },
      };
    case 'aws:ecr/repository:Repository':
      return {
        id: physical,
        state: {
          name: physical,
          arn: arn('ecr', `repository/${physical}`),
          repositoryUrl: `${A}.dkr.ecr.${R}.amazonaws.com/${physical}`,
        },
      };
    case 'aws:apigatewayv2/api:Api': {
      const id = `api${shortHash(name)}`;
      return {
        id,
        state: {
          apiEndpoint: `https://${id}.execute-api.${R}.amazonaws.com`,
          executionArn: arn('execute-api', id),
          arn: `arn:aws:apigateway:${R}::/apis/${id}`,
        },
      };
    }
    case 'aws:apigatewayv2/stage:Stage':
      return {
        id: physical,
        state: {
          invokeUrl: `https://${String(inputs.apiId)}.execute-api.${R}.amazonaws.com/`,
        },
      };
    case 'aws:cloudwatch/eventRule:EventRule':
      return { id: physical, state: { name: physical, arn: arn('events', `rule/${physical}`) } };
    case 'aws:scheduler/scheduleGroup:ScheduleGroup':
      return {
        id: physical,
        state: { name: physical, arn: arn('scheduler', `schedule-group/${physical}`) },
      };
    case 'aws:ec2/launchTemplate:LaunchTemplate':
      return { id: `lt-${shortHash(name)}`, state: { latestVersion: 1 } };
    default: {
      const service = type.split(':')[1]?.split('/')[0] ?? 'unknown';
      const id = `${service}-${shortHash(name)}`;
      return { id, state: { arn: arn(service, id) } };
    }
  }
}

function callResult(token: string): Record<string, unknown> {
  switch (token) {
    case 'aws:index/getCallerIdentity:getCallerIdentity':
      return {
        accountId: MOCK_ACCOUNT,
        arn: `arn:aws:iam::${MOCK_ACCOUNT}:user/test`,
        userId: 'AIDATEST',
        id: MOCK_ACCOUNT,
      };
    case 'aws:index/getPartition:getPartition':
      return { partition: MOCK_PARTITION, dnsSuffix: 'amazonaws.com', id: MOCK_PARTITION };
    case 'aws:index/getRegion:getRegion':
      return { name: MOCK_REGION, region: MOCK_REGION, id: MOCK_REGION };
    case 'aws:index/getAvailabilityZones:getAvailabilityZones':
      return {
        names: ['a', 'b', 'c'].map((z) => `${MOCK_REGION}${z}`),
        zoneIds: ['euw1-az1', 'euw1-az2', 'euw1-az3'],
        id: MOCK_REGION,
      };
    default:
      throw new Error(`pulumi-mocks: no mock for invoke ${token}`);
  }
}

/** Sets the stack config (values as Pulumi holds them: strings, JSON for structures). */
export function setStackConfig(config: Record<string, unknown>): void {
  pulumi.runtime.setAllConfig(
    Object.fromEntries(
      Object.entries(config).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
    ),
  );
}

/** Installs recording mocks (project 'foldsweep', stack 'test') after setting `config`. */
export async function setupPulumiMocks(
  config: Record<string, unknown> = {},
): Promise<PulumiRecorder> {
  setStackConfig({ 'aws:region': MOCK_REGION, ...config });
  const resources: RecordedResource[] = [];
  const calls: RecordedCall[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const inputs = (args.inputs ?? {}) as Record<string, unknown>;
        if (!args.custom) {
          resources.push({
            type: args.type,
            name: args.name,
            inputs,
            state: inputs,
            id: '',
            custom: false,
          });
          return { id: undefined, state: inputs };
        }
        const { id, state } = computedState(args.type, args.name, inputs);
        const full = { ...inputs, ...state };
        resources.push({ type: args.type, name: args.name, inputs, state: full, id, custom: true });
        return { id, state: full };
      },
      call(args) {
        calls.push({ token: args.token, inputs: args.inputs as Record<string, unknown> });
        return callResult(args.token);
      },
    },
    MOCK_PROJECT,
    MOCK_STACK,
    false,
  );
  const ofType = (type: string) => resources.filter((r) => r.custom && r.type === type);
  return {
    resources,
    calls,
    ofType,
    one(type, suffix) {
      const found = ofType(type).filter((r) => (suffix ? r.name.endsWith(suffix) : true));
      if (found.length !== 1) {
        throw new Error(
          `expected one ${type}${suffix ? ` named *${suffix}` : ''}, found ${found.map((r) => r.name).join(', ') || 'none'}`,
        );
      }
      return found[0] as RecordedResource;
    },
    async settled() {
      let quiet = 0;
      let seen = -1;
      while (quiet < 20) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        quiet = resources.length === seen ? quiet + 1 : 0;
        seen = resources.length;
      }
    },
  };
}

/** The value of an Output (all values are known under these mocks). */
export function outputValue<T>(output: pulumi.Output<T> | pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(output).apply((v) => resolve(v as T)));
}

/**
 * A bundle directory with stand-in build outputs (dist/lambda/*.mjs, dist/trainer/main.mjs),
 * for programs under test that only need the files to exist.
 */
export function fakeBundleDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'foldsweep-bundles-'));
  mkdirSync(path.join(dir, 'lambda'), { recursive: true });
  mkdirSync(path.join(dir, 'trainer'), { recursive: true });
  for (const fn of ['api', 'aggregator', 'retrain']) {
    writeFileSync(
      path.join(dir, 'lambda', `${fn}.mjs`),
      'export const handler = async () => ({});\n',
    );
  }
  writeFileSync(path.join(dir, 'trainer', 'main.mjs'), 'process.exitCode = 0;\n');
  return dir;
}
