import { readFileSync } from 'node:fs';
import * as pulumi from '@pulumi/pulumi';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ON_DEMAND_INSTANCE_TYPES,
  DEFAULT_SPOT_INSTANCE_TYPES,
  loadConfig,
  parseStackConfig,
  StackConfigError,
  StackConfigSchema,
} from '../../../infra/config.js';
import { DEFAULT_ATTEMPT_TIMEOUT_SECONDS } from '../../../shared/schemas/runtime-env.js';
import { setStackConfig } from '../../helpers/pulumi-mocks.js';

const context = { project: 'foldsweep', stack: 'dev' };

/** The error parseStackConfig throws for `raw`, or a failure when it throws none. */
function errorFor(raw: Record<string, unknown>): StackConfigError {
  try {
    parseStackConfig(raw, context);
  } catch (error) {
    if (error instanceof StackConfigError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(raw)} to be rejected`);
}

describe('parseStackConfig()', () => {
  it('gives a production-shaped default for every setting', () => {
    const config = parseStackConfig({}, context);
    expect(config).toMatchObject({
      namePrefix: 'foldsweep-dev',
      gpuInstanceTypes: DEFAULT_SPOT_INSTANCE_TYPES,
      onDemandInstanceTypes: DEFAULT_ON_DEMAND_INSTANCE_TYPES,
      useSpot: true,
      onDemandFallback: true,
      amiImageType: 'ECS_AL2023_NVIDIA',
      apiAuth: 'iam',
      deletionProtection: true,
      jobTimeoutMinutes: DEFAULT_ATTEMPT_TIMEOUT_SECONDS / 60,
      lambdaRuntime: 'nodejs22.x',
      functions: { api: { memoryMiB: 2048, timeoutSeconds: 29 } },
    });
    expect(config.gpuInstanceTypes.map((t) => t.split('.')[0])).toEqual(
      expect.arrayContaining(['g4dn', 'g5', 'g6']),
    );
  });

  it('decodes values as Pulumi holds them (numbers, booleans and lists as JSON text)', () => {
    const config = parseStackConfig(
      {
        spotMaxVcpus: '128',
        useSpot: 'false',
        gpuInstanceTypes: '["g5.xlarge","g6.2xlarge"]',
        trainerImageTag: '20240101',
        functions: '{"aggregator":{"memoryMiB":4096}}',
      },
      context,
    );
    expect(config.spotMaxVcpus).toBe(128);
    expect(config.useSpot).toBe(false);
    expect(config.gpuInstanceTypes).toEqual(['g5.xlarge', 'g6.2xlarge']);
    expect(config.trainerImageTag).toBe('20240101');
    expect(config.functions.aggregator).toEqual({
      memoryMiB: 4096,
      timeoutSeconds: 900,
      ephemeralStorageMiB: 512,
    });
    expect(config.functions.api.timeoutSeconds).toBe(29);
  });

  it('sizes the prepare function for decoding a dataset: 900 s, 3008 MiB, 10240 MiB of /tmp', () => {
    expect(parseStackConfig({}, context).functions).toEqual({
      api: { memoryMiB: 2048, timeoutSeconds: 29, ephemeralStorageMiB: 512 },
      aggregator: { memoryMiB: 3008, timeoutSeconds: 900, ephemeralStorageMiB: 512 },
      retrain: { memoryMiB: 2048, timeoutSeconds: 900, ephemeralStorageMiB: 512 },
      prepare: { memoryMiB: 3008, timeoutSeconds: 900, ephemeralStorageMiB: 10240 },
    });
    // Setting one function (or one field) keeps the defaults of the rest.
    const config = parseStackConfig(
      { functions: '{"prepare":{"memoryMiB":6144,"ephemeralStorageMiB":4096}}' },
      context,
    );
    expect(config.functions.prepare).toEqual({
      memoryMiB: 6144,
      timeoutSeconds: 900,
      ephemeralStorageMiB: 4096,
    });
    expect(config.functions.api.timeoutSeconds).toBe(29);
  });

  it('refuses prepare sizes Lambda would refuse', () => {
    expect(
      errorFor({
        functions: {
          prepare: { timeoutSeconds: 901, memoryMiB: 20000, ephemeralStorageMiB: 256 },
        },
      })
        .issues.map((i) => i.key)
        .sort(),
    ).toEqual([
      'foldsweep:functions.prepare.ephemeralStorageMiB',
      'foldsweep:functions.prepare.memoryMiB',
      'foldsweep:functions.prepare.timeoutSeconds',
    ]);
    expect(errorFor({ functions: { prepare: { ephemeralStorageMiB: 10241 } } }).message).toContain(
      'ephemeralStorageMiB must be 512-10240',
    );
  });

  it('reads datasetBuckets as buckets with optional prefixes (names or ARNs), default none', () => {
    expect(parseStackConfig({}, context).datasetBuckets).toEqual([]);
    const config = parseStackConfig(
      {
        datasetBuckets:
          '["my-data","shared.data/fashion/","arn:aws:s3:::arn-bucket","arn:aws:s3:::arn-bucket2/x/y/*"]',
      },
      context,
    );
    expect(config.datasetBuckets).toEqual([
      { bucket: 'my-data', prefix: '' },
      { bucket: 'shared.data', prefix: 'fashion/' },
      { bucket: 'arn-bucket', prefix: '' },
      { bucket: 'arn-bucket2', prefix: 'x/y/' },
    ]);
  });

  it('rejects a dataset bucket that is no bucket name, prefix or ARN, naming the entry', () => {
    const error = errorFor({
      datasetBuckets: '["ok-bucket","My_Bucket","data/fashion","arn:aws:s3:::b/*/x/*"]',
    });
    expect(error.issues.map((i) => i.key)).toEqual([
      'foldsweep:datasetBuckets.1',
      'foldsweep:datasetBuckets.2',
      'foldsweep:datasetBuckets.3',
    ]);
    expect(error.issues[0].message).toMatch(
      /'My_Bucket' is not a bucket, bucket\/prefix\/ or S3 ARN: give e\.g\. my-data/,
    );
    expect(error.issues[1].message).toMatch(/a prefix ends with \//);
  });

  it('reads modelBuckets like datasetBuckets, default none, naming a bad entry', () => {
    expect(parseStackConfig({}, context).modelBuckets).toEqual([]);
    const config = parseStackConfig(
      { modelBuckets: '["team-models/base/","arn:aws:s3:::all-models"]' },
      context,
    );
    expect(config.modelBuckets).toEqual([
      { bucket: 'team-models', prefix: 'base/' },
      { bucket: 'all-models', prefix: '' },
    ]);
    expect(config.datasetBuckets).toEqual([]);
    const error = errorFor({ modelBuckets: '["ok-models","models/base"]' });
    expect(error.issues.map((i) => i.key)).toEqual(['foldsweep:modelBuckets.1']);
    expect(error.issues[0].message).toMatch(/a prefix ends with \//);
  });

  it('names a misspelt key instead of ignoring it', () => {
    const error = errorFor({ gpuInstanceType: '["g5.xlarge"]' });
    expect(error.issues).toEqual([
      {
        key: 'foldsweep:gpuInstanceType',
        message: expect.stringMatching(/unknown setting: remove it or check its spelling/),
      },
    ]);
  });

  it('rejects instance types the CUDA 11.2 image cannot use, naming the list entry', () => {
    const error = errorFor({ gpuInstanceTypes: ['g4dn.xlarge', 'm5.large', 'g5g.xlarge'] });
    expect(error.issues.map((i) => i.key)).toEqual([
      'foldsweep:gpuInstanceTypes.1',
      'foldsweep:gpuInstanceTypes.2',
    ]);
    expect(error.issues[0]?.message).toMatch(
      /'m5\.large' is not an x86_64 NVIDIA GPU instance type .* e\.g\. g4dn\.xlarge/,
    );
  });

  it('asks for subnets when a VPC is given, and says what they are for', () => {
    const error = errorFor({ vpcId: 'vpc-0123abcd' });
    expect(error.message).toContain(
      'foldsweep:subnetIds: set subnetIds together with vpcId: the subnets of vpc-0123abcd',
    );
  });

  it('lists every bad key at once, each with how to fix it', () => {
    const error = errorFor({
      apiAuth: 'jwt',
      logRetentionDays: 10,
      jobTimeoutMinutes: 0,
      functions: { api: { timeoutSeconds: 60 } },
    });
    expect(error.issues.map((i) => i.key).sort()).toEqual([
      'foldsweep:functions.api.timeoutSeconds',
      'foldsweep:jobTimeoutMinutes',
      'foldsweep:jwtAudience',
      'foldsweep:jwtIssuer',
      'foldsweep:logRetentionDays',
    ]);
    expect(error.message).toMatch(/^invalid stack config/);
    expect(error.message).toContain('logRetentionDays must be one of CloudWatch');
    expect(error.message).toContain('Pulumi.example.yaml');
  });

  it('refuses a queue without capacity', () => {
    expect(errorFor({ useSpot: false, onDemandFallback: false }).issues[0]?.key).toBe(
      'foldsweep:onDemandFallback',
    );
  });
});

describe('loadConfig()', () => {
  it('reads the foldsweep: namespace of the stack config and fails as a Pulumi RunError', async () => {
    await pulumi.runtime.setMocks(
      { newResource: () => ({ id: 'x', state: {} }), call: () => ({}) },
      'foldsweep',
      'prod',
      false,
    );
    setStackConfig({ 'aws:region': 'eu-west-1', 'foldsweep:spotMaxVcpus': 32 });
    expect(loadConfig()).toMatchObject({ namePrefix: 'foldsweep-prod', spotMaxVcpus: 32 });

    setStackConfig({ 'foldsweep:amiImageType': 'ECS_AL2' });
    expect(() => loadConfig()).toThrow(pulumi.RunError);
    expect(() => loadConfig()).toThrow(/foldsweep:amiImageType: amiImageType must be/);
  });
});

describe('Pulumi.example.yaml', () => {
  const example = readFileSync(new URL('../../../Pulumi.example.yaml', import.meta.url), 'utf8');

  it('documents every setting the schema knows', () => {
    for (const key of Object.keys(StackConfigSchema.shape)) {
      expect(example, `foldsweep:${key} missing from Pulumi.example.yaml`).toMatch(
        new RegExp(`foldsweep:${key}:`),
      );
    }
  });

  it('only sets values the schema accepts', () => {
    const values = [...example.matchAll(/^ {2}foldsweep:(\w+): (.+)$/gm)].map(([, k, v]) => [k, v]);
    expect(values.length).toBeGreaterThan(5);
    const raw = Object.fromEntries(values.map(([k, v]) => [k, v?.replace(/^'(.*)'$/, '$1')]));
    expect(() => parseStackConfig(raw, context)).not.toThrow();
  });
});
