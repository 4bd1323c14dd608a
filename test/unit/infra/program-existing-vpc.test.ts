/**
 * The program with the other settings: an existing VPC, JWT auth, a customer KMS key,
 * on-demand capacity only, a pinned AMI and image tag, extra tags. Pulumi mocks, no AWS.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { PolicyDocument } from '../../../infra/policies.js';
import { outputValue, type PulumiRecorder, setupPulumiMocks } from '../../helpers/pulumi-mocks.js';
import { fakeBundleDirForAllFunctions } from './fake-bundles.js';

const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

let rec: PulumiRecorder;
let program: typeof import('../../../infra/index.js');

beforeAll(async () => {
  rec = await setupPulumiMocks({
    'foldsweep:bundleDir': fakeBundleDirForAllFunctions(),
    'foldsweep:namePrefix': 'ml-sweeps',
    'foldsweep:vpcId': 'vpc-0abc1234',
    'foldsweep:subnetIds': ['subnet-0aaa1111', 'subnet-0bbb2222'],
    'foldsweep:apiAuth': 'jwt',
    'foldsweep:jwtIssuer': 'https://issuer.example.com/',
    'foldsweep:jwtAudience': ['client-1'],
    'foldsweep:kmsKeyArn': KEY,
    'foldsweep:useSpot': false,
    'foldsweep:amiId': 'ami-0123abcd',
    'foldsweep:trainerImageTag': 'v1.2.3',
    'foldsweep:deletionProtection': false,
    'foldsweep:tags': { team: 'vision' },
    'foldsweep:datasetBuckets': ['team-datasets', 'arn:aws:s3:::shared-data/fashion/*'],
    'foldsweep:modelBuckets': ['team-models/base/'],
  });
  program = await import('../../../infra/index.js');
  await outputValue(program.apiUrl);
  await rec.settled();
});

describe('infra with an existing VPC and the non-default settings', () => {
  it('creates no network, and a locked-down security group in the given VPC', () => {
    expect(rec.ofType('aws:ec2/vpc:Vpc')).toEqual([]);
    expect(rec.ofType('aws:ec2/subnet:Subnet')).toEqual([]);
    const group = rec.one('aws:ec2/securityGroup:SecurityGroup');
    expect(group.inputs.vpcId).toBe('vpc-0abc1234');
    const env = rec.one('aws:batch/computeEnvironment:ComputeEnvironment');
    expect(env.inputs.computeResources).toMatchObject({
      subnets: ['subnet-0aaa1111', 'subnet-0bbb2222'],
      securityGroupIds: [group.id],
    });
  });

  it('runs on-demand only, on the pinned AMI, with the pinned image tag', async () => {
    const env = rec.one('aws:batch/computeEnvironment:ComputeEnvironment');
    expect(env.inputs.computeResources).toMatchObject({
      type: 'EC2',
      minVcpus: 0,
      ec2Configurations: [{ imageType: 'ECS_AL2023_NVIDIA', imageIdOverride: 'ami-0123abcd' }],
    });
    expect(await outputValue(program.trainerImageUri)).toMatch(/\/ml-sweeps\/trainer:v1\.2\.3$/);
  });

  it('authorizes the API with the configured JWT issuer and audience', () => {
    const authorizer = rec.one('aws:apigatewayv2/authorizer:Authorizer');
    expect(authorizer.inputs).toMatchObject({
      authorizerType: 'JWT',
      jwtConfiguration: { issuer: 'https://issuer.example.com/', audiences: ['client-1'] },
    });
    expect(rec.one('aws:apigatewayv2/route:Route').inputs).toMatchObject({
      authorizationType: 'JWT',
      authorizerId: authorizer.id,
    });
    expect(rec.ofType('aws:iam/policy:Policy')).toEqual([]);
  });

  it('encrypts bucket, table and repository with the KMS key and lets the roles use it', () => {
    expect(
      rec.one(
        'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration',
      ).inputs.rules,
    ).toEqual([
      {
        applyServerSideEncryptionByDefault: { sseAlgorithm: 'aws:kms', kmsMasterKeyId: KEY },
        bucketKeyEnabled: true,
      },
    ]);
    expect(rec.one('aws:dynamodb/table:Table').inputs.serverSideEncryption).toEqual({
      enabled: true,
      kmsKeyArn: KEY,
    });
    expect(rec.one('aws:ecr/repository:Repository').inputs.encryptionConfigurations).toEqual([
      { encryptionType: 'KMS', kmsKey: KEY },
    ]);
    for (const suffix of ['-trainer', '-prepare']) {
      const doc = JSON.parse(
        String(rec.one('aws:iam/rolePolicy:RolePolicy', suffix).inputs.policy),
      ) as PolicyDocument;
      expect(doc.Statement, suffix).toContainEqual(
        expect.objectContaining({
          Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          Resource: [KEY],
        }),
      );
    }
  });

  it('lets the api, retrain and prepare roles read the configured dataset buckets, and no other role', () => {
    const policy = (suffix: string) =>
      JSON.parse(
        String(rec.one('aws:iam/rolePolicy:RolePolicy', suffix).inputs.policy),
      ) as PolicyDocument;
    const read = {
      Sid: 'ReadDatasetSources',
      Effect: 'Allow',
      Action: ['s3:GetObject'],
      Resource: ['arn:aws:s3:::team-datasets/*', 'arn:aws:s3:::shared-data/fashion/*'],
    };
    for (const fn of ['-api', '-retrain', '-prepare']) {
      expect(policy(fn).Statement).toContainEqual(read);
    }
    for (const other of ['-aggregator', '-trainer']) {
      expect(JSON.stringify(policy(other))).not.toContain('team-datasets');
    }
  });

  it('lets the api, retrain and prepare roles read the configured model buckets, and no other role', () => {
    const policy = (suffix: string) =>
      JSON.parse(
        String(rec.one('aws:iam/rolePolicy:RolePolicy', suffix).inputs.policy),
      ) as PolicyDocument;
    for (const fn of ['-api', '-retrain', '-prepare']) {
      expect(policy(fn).Statement).toContainEqual({
        Sid: 'ReadModelSources',
        Effect: 'Allow',
        Action: ['s3:GetObject'],
        Resource: ['arn:aws:s3:::team-models/base/*'],
      });
      expect(policy(fn).Statement).toContainEqual({
        Sid: 'ListModelSources0',
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: ['arn:aws:s3:::team-models'],
        Condition: { StringLike: { 's3:prefix': ['base/*'] } },
      });
    }
    for (const other of ['-aggregator', '-trainer']) {
      expect(JSON.stringify(policy(other))).not.toContain('team-models');
    }
  });

  it('lets `pulumi destroy` remove data when deletion protection is off', () => {
    expect(rec.one('aws:s3/bucket:Bucket').inputs.forceDestroy).toBe(true);
    expect(rec.one('aws:dynamodb/table:Table').inputs.deletionProtectionEnabled).toBe(false);
    expect(rec.one('aws:ecr/repository:Repository').inputs.forceDelete).toBe(true);
  });

  it('names resources with the configured prefix and adds the extra tags', () => {
    expect(rec.one('aws:batch/jobQueue:JobQueue').inputs.name).toBe('ml-sweeps-gpu');
    expect(rec.one('aws:s3/bucket:Bucket').inputs.tags).toMatchObject({
      team: 'vision',
      project: 'foldsweep',
    });
  });
});
