/**
 * The whole Pulumi program under Pulumi's unit-test mocks (no CLI, no AWS): default config.
 * It checks what could be wrong in a real deployment: wiring by value (the rule targets the
 * aggregator, the API integrates the api function, the job definition runs the image on a GPU),
 * GPU capacity that scales to zero with Spot first, nothing public, encryption, least privilege,
 * tags everywhere, and the environment the functions parse at start.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ACTIONS_WITHOUT_RESOURCE_TYPES, type PolicyDocument } from '../../../infra/policies.js';
import { AwsRuntimeEnvSchema, SCHEDULE_ENV } from '../../../shared/schemas/runtime-env.js';
import {
  MOCK_ACCOUNT,
  MOCK_REGION,
  outputValue,
  type PulumiRecorder,
  type RecordedResource,
  setupPulumiMocks,
} from '../../helpers/pulumi-mocks.js';
import { fakeBundleDirForAllFunctions } from './fake-bundles.js';

const T = {
  bucket: 'aws:s3/bucket:Bucket',
  bucketPolicy: 'aws:s3/bucketPolicy:BucketPolicy',
  publicAccess: 'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock',
  encryption:
    'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration',
  versioning: 'aws:s3/bucketVersioning:BucketVersioning',
  lifecycle: 'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration',
  table: 'aws:dynamodb/table:Table',
  computeEnvironment: 'aws:batch/computeEnvironment:ComputeEnvironment',
  jobQueue: 'aws:batch/jobQueue:JobQueue',
  jobDefinition: 'aws:batch/jobDefinition:JobDefinition',
  launchTemplate: 'aws:ec2/launchTemplate:LaunchTemplate',
  securityGroup: 'aws:ec2/securityGroup:SecurityGroup',
  fn: 'aws:lambda/function:Function',
  permission: 'aws:lambda/permission:Permission',
  logGroup: 'aws:cloudwatch/logGroup:LogGroup',
  rule: 'aws:cloudwatch/eventRule:EventRule',
  target: 'aws:cloudwatch/eventTarget:EventTarget',
  api: 'aws:apigatewayv2/api:Api',
  route: 'aws:apigatewayv2/route:Route',
  integration: 'aws:apigatewayv2/integration:Integration',
  stage: 'aws:apigatewayv2/stage:Stage',
  role: 'aws:iam/role:Role',
  rolePolicy: 'aws:iam/rolePolicy:RolePolicy',
  policy: 'aws:iam/policy:Policy',
  attachment: 'aws:iam/rolePolicyAttachment:RolePolicyAttachment',
  repository: 'aws:ecr/repository:Repository',
  queue: 'aws:sqs/queue:Queue',
  queuePolicy: 'aws:sqs/queuePolicy:QueuePolicy',
  scheduleGroup: 'aws:scheduler/scheduleGroup:ScheduleGroup',
  invokeConfig: 'aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig',
} as const;

let rec: PulumiRecorder;
let program: typeof import('../../../infra/index.js');
let bundleDir: string;

const json = <T = Record<string, unknown>>(value: unknown): T => JSON.parse(String(value)) as T;
const named = (r: RecordedResource) => String(r.state.name);

beforeAll(async () => {
  bundleDir = fakeBundleDirForAllFunctions();
  rec = await setupPulumiMocks({ 'foldsweep:bundleDir': bundleDir });
  program = await import('../../../infra/index.js');
  await outputValue(program.apiUrl);
  await rec.settled();
});

describe('stack outputs', () => {
  it('exports the API URL, bucket, table, job queue and image URI', async () => {
    expect(await outputValue(program.apiUrl)).toMatch(
      new RegExp(`^https://api\\w+\\.execute-api\\.${MOCK_REGION}\\.amazonaws\\.com/$`),
    );
    expect(await outputValue(program.bucketName)).toBe(rec.one(T.bucket).state.bucket);
    expect(await outputValue(program.tableName)).toBe(named(rec.one(T.table)));
    expect(await outputValue(program.jobQueueArn)).toBe(rec.one(T.jobQueue).state.arn);
    expect(await outputValue(program.trainerImageUri)).toBe(
      `${MOCK_ACCOUNT}.dkr.ecr.${MOCK_REGION}.amazonaws.com/foldsweep-test/trainer:${await outputValue(program.trainerImageTag)}`,
    );
    expect(await outputValue(program.trainerImageTag)).toMatch(/^t-[0-9a-f]{16}$/);
  });
});

describe('storage', () => {
  it('blocks every kind of public access on every bucket', () => {
    const buckets = rec.ofType(T.bucket);
    expect(buckets.length).toBeGreaterThan(0);
    for (const bucket of buckets) {
      const blocks = rec.ofType(T.publicAccess).filter((b) => b.inputs.bucket === bucket.id);
      expect(blocks).toHaveLength(1);
      expect(blocks[0]?.inputs).toMatchObject({
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      });
      expect(bucket.inputs).not.toHaveProperty('acl');
      expect(bucket.inputs).not.toHaveProperty('website');
    }
  });

  it('encrypts every bucket and denies plain HTTP', () => {
    for (const bucket of rec.ofType(T.bucket)) {
      const sse = rec.ofType(T.encryption).find((e) => e.inputs.bucket === bucket.id);
      expect(sse?.inputs.rules).toEqual([
        expect.objectContaining({ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }),
      ]);
      const policy = rec.ofType(T.bucketPolicy).find((p) => p.inputs.bucket === bucket.id);
      const doc = json<PolicyDocument>(policy?.inputs.policy);
      expect(doc.Statement[0]).toMatchObject({
        Effect: 'Deny',
        Condition: { Bool: { 'aws:SecureTransport': false } },
        Resource: [bucket.state.arn, `${bucket.state.arn}/*`],
      });
    }
  });

  it('versions the bucket (models survive overwrites) and expires checkpoints', () => {
    const bucket = rec.one(T.bucket);
    expect(rec.one(T.versioning).inputs).toMatchObject({
      bucket: bucket.id,
      versioningConfiguration: { status: 'Enabled' },
    });
    const rules = rec.one(T.lifecycle).inputs.rules as { filter?: { prefix?: string } }[];
    expect(rules.some((r) => r.filter?.prefix === 'checkpoints/')).toBe(true);
    expect(bucket.inputs.forceDestroy).toBe(false);
  });

  it('keeps state in an on-demand table with point-in-time recovery, TTL and protection', () => {
    expect(rec.one(T.table).inputs).toMatchObject({
      billingMode: 'PAY_PER_REQUEST',
      hashKey: 'pk',
      rangeKey: 'sk',
      pointInTimeRecovery: { enabled: true },
      ttl: { attributeName: 'expiresAt', enabled: true },
      deletionProtectionEnabled: true,
    });
  });
});

describe('compute', () => {
  const environments = () => rec.ofType(T.computeEnvironment);
  const resources = (r: RecordedResource) =>
    r.inputs.computeResources as Record<string, unknown> & {
      instanceTypes: string[];
      ec2Configurations: { imageType: string }[];
    };

  it('scales to zero: every compute environment is managed EC2 with minvCpus 0', () => {
    expect(environments()).toHaveLength(2);
    for (const env of environments()) {
      expect(env.inputs.type).toBe('MANAGED');
      expect(resources(env).minVcpus).toBe(0);
    }
  });

  it('runs Spot with SPOT_PRICE_CAPACITY_OPTIMIZED over many GPU types, on-demand behind it', () => {
    const spot = rec.one(T.computeEnvironment, '-spot');
    const onDemand = rec.one(T.computeEnvironment, '-on-demand');
    expect(resources(spot)).toMatchObject({
      type: 'SPOT',
      allocationStrategy: 'SPOT_PRICE_CAPACITY_OPTIMIZED',
    });
    expect(resources(spot).instanceTypes.length).toBeGreaterThanOrEqual(6);
    expect(new Set(resources(spot).instanceTypes.map((t) => t.split('.')[0]))).toEqual(
      new Set(['g4dn', 'g5', 'g6']),
    );
    expect(resources(onDemand).type).toBe('EC2');
    expect(rec.one(T.jobQueue).inputs.computeEnvironmentOrders).toEqual([
      { order: 1, computeEnvironment: spot.state.arn },
      { order: 2, computeEnvironment: onDemand.state.arn },
    ]);
  });

  it('pins the ECS GPU AMI image type (AL2023 NVIDIA) and uses the hardened launch template', () => {
    const template = rec.one(T.launchTemplate);
    for (const env of environments()) {
      expect(resources(env).ec2Configurations).toEqual([{ imageType: 'ECS_AL2023_NVIDIA' }]);
      expect(resources(env).launchTemplate).toEqual({
        launchTemplateId: template.id,
        version: '1',
      });
      expect(env.inputs).not.toHaveProperty('serviceRole');
    }
    expect(template.inputs.metadataOptions).toEqual({
      httpEndpoint: 'enabled',
      httpTokens: 'required',
      httpPutResponseHopLimit: 1,
    });
    expect(template.inputs.blockDeviceMappings).toEqual([
      expect.objectContaining({ ebs: expect.objectContaining({ encrypted: 'true' }) }),
    ]);
  });

  it('keeps the instances unreachable: no inbound rule, HTTPS out only', () => {
    const group = rec.one(T.securityGroup);
    expect(group.inputs.ingress ?? []).toEqual([]);
    expect(group.inputs.egress).toEqual([
      expect.objectContaining({ protocol: 'tcp', fromPort: 443, toPort: 443 }),
    ]);
  });

  it('has the job definition run the pushed image on one GPU with the job role', async () => {
    const definition = rec.one(T.jobDefinition);
    const props = json<{
      image: string;
      jobRoleArn: string;
      resourceRequirements: { type: string; value: string }[];
      environment: { name: string; value: string }[];
    }>(definition.inputs.containerProperties);
    expect(props.image).toBe(await outputValue(program.trainerImageUri));
    expect(props.resourceRequirements).toContainEqual({ type: 'GPU', value: '1' });
    expect(props.jobRoleArn).toBe(rec.one(T.role, '-trainer').state.arn);
    expect(props.environment).toContainEqual({
      name: 'FOLDSWEEP_BUCKET',
      value: rec.one(T.bucket).state.bucket,
    });
    expect(definition.inputs).toMatchObject({
      type: 'container',
      platformCapabilities: ['EC2'],
      timeout: { attemptDurationSeconds: 4 * 3600 },
      retryStrategy: {
        attempts: 3,
        evaluateOnExits: expect.arrayContaining([{ action: 'RETRY', onStatusReason: 'Host EC2*' }]),
      },
    });
  });

  it('logs the trainer to a log group with retention', () => {
    const group = rec.ofType(T.logGroup).find((g) => named(g).endsWith('/batch/trainer'));
    expect(group?.inputs.retentionInDays).toBe(30);
    const props = json<{ logConfiguration: { options: Record<string, string> } }>(
      rec.one(T.jobDefinition).inputs.containerProperties,
    );
    expect(props.logConfiguration.options['awslogs-group']).toBe(group?.state.name);
  });
});

describe('functions', () => {
  it('deploys the api, aggregator, retrain and prepare bundles on a Node.js runtime', async () => {
    const functions = rec.ofType(T.fn);
    expect(functions.map(named).sort()).toEqual([
      'foldsweep-test-aggregator',
      'foldsweep-test-api',
      'foldsweep-test-prepare',
      'foldsweep-test-retrain',
    ]);
    for (const fn of functions) {
      expect(fn.inputs.runtime).toMatch(/^nodejs\d+\.x$/);
      expect(fn.inputs.handler).toBe('index.handler');
      // Archives and assets hold their contents as promises.
      const code = fn.inputs.code as { assets: Promise<Record<string, { path: Promise<string> }>> };
      const entry = (await code.assets)['index.mjs'];
      const which = named(fn).replace('foldsweep-test-', '');
      expect(await entry?.path).toBe(path.join(bundleDir, 'lambda', `${which}.mjs`));
    }
    expect(rec.one(T.fn, '-api').inputs).toMatchObject({ memorySize: 2048, timeout: 29 });
    expect(rec.one(T.fn, '-aggregator').inputs).toMatchObject({ memorySize: 3008, timeout: 900 });
  });

  it('gives each function the environment shared/schemas/runtime-env.ts parses', () => {
    for (const fn of rec.ofType(T.fn)) {
      const env = (fn.inputs.environment as { variables: Record<string, string> }).variables;
      const parsed = AwsRuntimeEnvSchema.safeParse(env);
      expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
      expect(env.FOLDSWEEP_JOB_QUEUE).toBe(rec.one(T.jobQueue).state.arn);
      expect(env.FOLDSWEEP_JOB_DEFINITION).toBe(rec.one(T.jobDefinition).state.arn);
      expect(env.FOLDSWEEP_TABLE).toBe(named(rec.one(T.table)));
    }
  });

  it('gives each function its own role and its own log group with retention', () => {
    const roles = new Set(rec.ofType(T.fn).map((f) => f.inputs.role));
    expect(roles.size).toBe(4);
    for (const fn of rec.ofType(T.fn)) {
      const logging = fn.inputs.loggingConfig as { logGroup: string; logFormat: string };
      const group = rec.ofType(T.logGroup).find((g) => g.state.name === logging.logGroup);
      expect(group?.inputs.retentionInDays).toBe(30);
      expect(logging.logFormat).toBe('JSON');
    }
  });
});

describe('prepare function', () => {
  const fn = () => rec.one(T.fn, '-prepare');
  const variables = (suffix: string) =>
    (rec.one(T.fn, suffix).inputs.environment as { variables: Record<string, string> }).variables;
  const policy = (suffix: string) =>
    json<PolicyDocument>(rec.one(T.rolePolicy, suffix).inputs.policy);

  it('runs 900 s with 3008 MiB and 10240 MiB of /tmp, like the others otherwise', () => {
    const api = rec.one(T.fn, '-api').inputs;
    expect(fn().inputs).toMatchObject({
      timeout: 900,
      memorySize: 3008,
      ephemeralStorage: { size: 10240 },
      runtime: api.runtime,
      architectures: api.architectures,
      handler: 'index.handler',
    });
    expect(api.ephemeralStorage).toEqual({ size: 512 });
    const logging = fn().inputs.loggingConfig as { logGroup: string; logFormat: string };
    const group = rec.ofType(T.logGroup).find((g) => g.state.name === logging.logGroup);
    expect(named(group as RecordedResource)).toBe('/foldsweep-test/lambda/prepare');
    expect(group?.inputs.retentionInDays).toBe(30);
    expect(logging.logFormat).toBe('JSON');
  });

  it('has a role of its own', () => {
    const role = rec.one(T.role, '-prepare');
    expect(fn().inputs.role).toBe(role.state.arn);
    expect(json<PolicyDocument>(role.inputs.assumeRolePolicy).Statement).toEqual([
      expect.objectContaining({ Principal: { Service: 'lambda.amazonaws.com' } }),
    ]);
    for (const other of ['-api', '-aggregator', '-retrain']) {
      expect(rec.one(T.fn, other).inputs.role).not.toBe(role.state.arn);
    }
  });

  it('is named by FOLDSWEEP_PREPARE_FUNCTION_ARN in the api and retrain functions only', () => {
    const arn = fn().state.arn;
    for (const suffix of ['-api', '-retrain']) {
      const env = AwsRuntimeEnvSchema.parse(variables(suffix));
      expect(env.FOLDSWEEP_PREPARE_FUNCTION_ARN, suffix).toBe(arn);
    }
    for (const suffix of ['-aggregator', '-prepare']) {
      expect(variables(suffix).FOLDSWEEP_PREPARE_FUNCTION_ARN, suffix).toBeUndefined();
    }
  });

  it('gets the runtime environment the api prepares with, without the scheduler', () => {
    const api = variables('-api');
    const prepare = variables('-prepare');
    for (const name of [
      'FOLDSWEEP_BUCKET',
      'FOLDSWEEP_TABLE',
      'FOLDSWEEP_JOB_QUEUE',
      'FOLDSWEEP_JOB_DEFINITION',
      'FOLDSWEEP_ATTEMPT_TIMEOUT_SECONDS',
      'LOG_LEVEL',
    ]) {
      expect(prepare[name], name).toBeDefined();
      expect(prepare[name], name).toBe(api[name]);
    }
    for (const name of Object.values(SCHEDULE_ENV)) expect(prepare[name], name).toBeUndefined();
  });

  it('lets the api and retrain roles invoke the prepare function and nothing else', () => {
    const invokes = (doc: PolicyDocument) =>
      doc.Statement.filter((s) => s.Action.some((a) => a.startsWith('lambda:')));
    for (const suffix of ['-api', '-retrain']) {
      expect(invokes(policy(suffix)), suffix).toEqual([
        {
          Sid: 'InvokePrepare',
          Effect: 'Allow',
          Action: ['lambda:InvokeFunction'],
          Resource: [fn().state.arn],
        },
      ]);
    }
    for (const suffix of ['-aggregator', '-prepare', '-trainer']) {
      expect(invokes(policy(suffix)), suffix).toEqual([]);
    }
    // The only other invoker: EventBridge Scheduler's role, of the retrain function.
    expect(JSON.stringify(policy('-scheduler'))).not.toContain(fn().state.arn as string);
  });

  it('reads sources, writes datasets/models/sweeps, submits to this queue; no schedules', () => {
    const doc = policy('-prepare');
    const bucket = rec.one(T.bucket).state.arn;
    const bySid = new Map(doc.Statement.map((st) => [st.Sid, st]));
    expect(bySid.get('ReadObjects')?.Resource).toEqual(
      ['datasets/*', 'models/*', 'sweeps/*', 'datasets-input/*', 'models-input/*'].map(
        (k) => `${bucket}/${k}`,
      ),
    );
    expect(bySid.get('WriteObjects')?.Resource).toEqual(
      ['datasets/*', 'models/*', 'sweeps/*'].map((k) => `${bucket}/${k}`),
    );
    expect(bySid.get('SubmitTrainerJobs')?.Resource).toEqual([
      rec.one(T.jobQueue).state.arn,
      rec.one(T.jobDefinition).state.arnPrefix,
      `${rec.one(T.jobDefinition).state.arnPrefix}:*`,
    ]);
    expect(bySid.get('StateTable')?.Resource).toEqual([
      rec.one(T.table).state.arn,
      `${rec.one(T.table).state.arn}/index/*`,
    ]);
    expect(bySid.get('OnFailureDestination')?.Resource).toEqual([rec.one(T.queue).state.arn]);
    expect(JSON.stringify(doc)).not.toMatch(/scheduler:|iam:PassRole|schedules\/|DeleteItem/);
  });

  it('retries a failed asynchronous invocation twice, then sends it to the dead-letter queue', () => {
    const config = rec.ofType(T.invokeConfig).find((c) => c.inputs.functionName === named(fn()));
    expect(config?.inputs).toMatchObject({
      maximumRetryAttempts: 2,
      destinationConfig: { onFailure: { destination: rec.one(T.queue).state.arn } },
    });
  });
});

describe('api', () => {
  it('integrates the api function through a Lambda proxy (payload 2.0)', () => {
    const integration = rec.one(T.integration);
    expect(integration.inputs).toMatchObject({
      integrationType: 'AWS_PROXY',
      payloadFormatVersion: '2.0',
      integrationUri: rec.one(T.fn, '-api').state.invokeArn,
      apiId: rec.one(T.api).id,
    });
    expect(rec.one(T.route).inputs.target).toBe(`integrations/${integration.id}`);
  });

  it('requires IAM (SigV4) authorization on its only route', () => {
    expect(rec.one(T.route).inputs).toMatchObject({
      routeKey: '$default',
      authorizationType: 'AWS_IAM',
    });
  });

  it('throttles the stage and writes JSON access logs with the caller', () => {
    const stage = rec.one(T.stage);
    expect(stage.inputs.defaultRouteSettings).toMatchObject({
      throttlingRateLimit: 20,
      throttlingBurstLimit: 40,
    });
    const logs = stage.inputs.accessLogSettings as { destinationArn: string; format: string };
    const group = rec.ofType(T.logGroup).find((g) => g.state.arn === logs.destinationArn);
    expect(group?.inputs.retentionInDays).toBe(30);
    expect(json(logs.format)).toMatchObject({ user: '$context.identity.userArn' });
  });

  it('lets only this API invoke the api function', () => {
    const permission = rec
      .ofType(T.permission)
      .find((p) => p.inputs.principal === 'apigateway.amazonaws.com');
    expect(permission?.inputs).toMatchObject({
      function: named(rec.one(T.fn, '-api')),
      sourceArn: `${rec.one(T.api).state.executionArn}/*`,
    });
  });
});

describe('events', () => {
  it('sends terminal Batch job state changes of this queue to the aggregator', () => {
    const rule = rec.one(T.rule);
    expect(json(rule.inputs.eventPattern)).toEqual({
      source: ['aws.batch'],
      'detail-type': ['Batch Job State Change'],
      detail: {
        jobQueue: [rec.one(T.jobQueue).state.arn],
        status: ['SUCCEEDED', 'FAILED'],
        arrayProperties: { index: [{ exists: false }] },
      },
    });
    const target = rec.one(T.target);
    expect(target.inputs).toMatchObject({
      rule: rule.state.name,
      arn: rec.one(T.fn, '-aggregator').state.arn,
      deadLetterConfig: { arn: rec.one(T.queue).state.arn },
    });
    const permission = rec
      .ofType(T.permission)
      .find((p) => p.inputs.principal === 'events.amazonaws.com');
    expect(permission?.inputs).toMatchObject({
      function: named(rec.one(T.fn, '-aggregator')),
      sourceArn: rule.state.arn,
    });
  });

  it('provides a Scheduler group and role for retraining (not legacy scheduled rules)', () => {
    const group = rec.one(T.scheduleGroup);
    expect(rec.ofType(T.rule).every((r) => r.inputs.scheduleExpression === undefined)).toBe(true);
    const api = rec.one(T.fn, '-api').inputs.environment as { variables: Record<string, string> };
    expect(api.variables.FOLDSWEEP_SCHEDULE_GROUP).toBe(group.state.name);
    expect(api.variables.FOLDSWEEP_SCHEDULER_ROLE_ARN).toBe(
      rec.one(T.role, '-scheduler').state.arn,
    );
    expect(api.variables.FOLDSWEEP_RETRAIN_FUNCTION_ARN).toBe(rec.one(T.fn, '-retrain').state.arn);
    expect(api.variables.FOLDSWEEP_DEAD_LETTER_QUEUE_ARN).toBe(rec.one(T.queue).state.arn);
  });

  it('wires scheduled retraining into the api and retrain functions, not the aggregator', () => {
    const variables = (suffix: string) =>
      (rec.one(T.fn, suffix).inputs.environment as { variables: Record<string, string> }).variables;
    const api = variables('-api');
    const retrain = variables('-retrain');
    for (const name of Object.values(SCHEDULE_ENV)) {
      expect(retrain[name], name).toBeDefined();
      expect(retrain[name], name).toBe(api[name]);
    }
    // Both ARNs present: awsDeps gives these functions an EventBridgeScheduler.
    for (const env of [api, retrain]) {
      const parsed = AwsRuntimeEnvSchema.parse(env);
      expect(parsed.FOLDSWEEP_RETRAIN_FUNCTION_ARN).toBe(rec.one(T.fn, '-retrain').state.arn);
      expect(parsed.FOLDSWEEP_SCHEDULE_GROUP).toBe(rec.one(T.scheduleGroup).state.name);
    }
    const aggregator = variables('-aggregator');
    for (const name of Object.values(SCHEDULE_ENV)) expect(aggregator[name], name).toBeUndefined();
  });

  it('dead-letters failed async invocations of the aggregator, retrain and prepare functions', () => {
    const configs = rec.ofType(T.invokeConfig);
    expect(configs.map((c) => c.inputs.functionName).sort()).toEqual([
      'foldsweep-test-aggregator',
      'foldsweep-test-prepare',
      'foldsweep-test-retrain',
    ]);
    for (const c of configs) {
      expect(c.inputs.destinationConfig).toEqual({
        onFailure: { destination: rec.one(T.queue).state.arn },
      });
    }
    expect(rec.one(T.queue).inputs.sqsManagedSseEnabled).toBe(true);
  });
});

describe('iam', () => {
  /** Every IAM document in the stack, with where it came from. */
  function documents(): [string, PolicyDocument][] {
    const docs: [string, PolicyDocument][] = [];
    for (const r of rec.ofType(T.rolePolicy)) docs.push([r.name, json(r.inputs.policy)]);
    for (const r of rec.ofType(T.policy)) docs.push([r.name, json(r.inputs.policy)]);
    for (const r of rec.ofType(T.queuePolicy)) docs.push([r.name, json(r.inputs.policy)]);
    for (const r of rec.ofType(T.role)) docs.push([r.name, json(r.inputs.assumeRolePolicy)]);
    return docs;
  }

  it('never allows Action "*", a service-wide action, or Resource "*" where a narrower one exists', () => {
    for (const [where, doc] of documents()) {
      for (const statement of doc.Statement.filter((s) => s.Effect === 'Allow')) {
        for (const action of statement.Action) {
          expect(action, where).not.toBe('*');
          expect(action, where).not.toMatch(/:\*$/);
        }
        if ((statement.Resource ?? []).includes('*')) {
          expect(ACTIONS_WITHOUT_RESOURCE_TYPES, `${where}: ${statement.Action}`).toEqual(
            expect.arrayContaining(statement.Action),
          );
        }
      }
    }
  });

  it('has one role per function, one for the trainer job, and policies on the real ARNs', () => {
    const policy = (suffix: string) =>
      json<PolicyDocument>(rec.one(T.rolePolicy, suffix).inputs.policy);
    const resources = (doc: PolicyDocument) => doc.Statement.flatMap((s) => s.Resource ?? []);
    for (const fn of ['api', 'aggregator', 'retrain', 'prepare']) {
      const logGroup = rec.ofType(T.logGroup).find((g) => named(g).endsWith(`/lambda/${fn}`));
      expect(resources(policy(`-${fn}`))).toContain(`${logGroup?.state.arn}:*`);
    }
    expect(resources(policy('-api'))).toContain(rec.one(T.jobQueue).state.arn);
    expect(resources(policy('-api'))).toContain(rec.one(T.jobDefinition).state.arnPrefix);
    expect(resources(policy('-aggregator'))).toContain(rec.one(T.queue).state.arn);
    expect(resources(policy('-scheduler'))).toContain(rec.one(T.fn, '-retrain').state.arn);
    expect(resources(policy('-trainer'))).toContain(
      `${rec.one(T.bucket).state.arn}/sweeps/*/trials/*`,
    );
    expect(JSON.stringify(policy('-trainer'))).not.toMatch(/dynamodb|batch:|scheduler:/);
  });

  it('attaches only the ECS agent policy to the Batch instance role', () => {
    expect(rec.ofType(T.attachment).map((a) => a.inputs.policyArn)).toEqual([
      'arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role',
    ]);
  });

  it('publishes a policy that allows invoking this API only', () => {
    const doc = json<PolicyDocument>(rec.one(T.policy).inputs.policy);
    expect(doc.Statement).toEqual([
      expect.objectContaining({
        Action: ['execute-api:Invoke'],
        Resource: [`${rec.one(T.api).state.executionArn}/*`],
      }),
    ]);
  });
});

describe('tags', () => {
  /** Whether the provider's Args for this resource type have a `tags` input. */
  function taggable(type: string): boolean {
    const [, mod = '', resource = ''] = type.split(':');
    const [dir, file] = mod.split('/');
    const dts = path.join('node_modules/@pulumi/aws', dir ?? '', `${file}.d.ts`);
    if (!existsSync(dts)) throw new Error(`no declaration file for ${type} at ${dts}`);
    const source = readFileSync(dts, 'utf8');
    const start = source.indexOf(`export interface ${resource}Args {`);
    const end = source.indexOf('\n}', start);
    return /\n\s+tags\?:/.test(source.slice(start, end));
  }

  it('tags every taggable resource with project, stack and managed-by', () => {
    const custom = rec.resources.filter((r) => r.custom);
    const checked = custom.filter((r) => taggable(r.type));
    expect(checked.length).toBeGreaterThan(30);
    for (const r of checked) {
      expect(r.inputs.tags, `${r.type} ${r.name}`).toMatchObject({
        project: 'foldsweep',
        stack: 'test',
        'managed-by': 'pulumi',
      });
    }
  });

  it('tags the GPU instances and their volumes (cost allocation)', () => {
    for (const env of rec.ofType(T.computeEnvironment)) {
      expect((env.inputs.computeResources as { tags: object }).tags).toMatchObject({
        project: 'foldsweep',
      });
    }
    expect(rec.one(T.launchTemplate).inputs.tagSpecifications).toEqual([
      { resourceType: 'volume', tags: expect.objectContaining({ project: 'foldsweep' }) },
    ]);
  });
});
