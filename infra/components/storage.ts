import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { STATE_TABLE } from '../../shared/adapters/aws/dynamo-table.js';
import { TTL_ATTRIBUTE } from '../naming.js';
import { bucketLifecycleRules, bucketTlsOnlyPolicy } from '../policies.js';

export interface StorageArgs {
  /** SSE-KMS with this key instead of SSE-S3. */
  kmsKeyArn?: string;
  checkpointRetentionDays: number;
  cacheRetentionDays: number;
  noncurrentVersionRetentionDays: number;
  /** Bucket not emptied and table not deletable by `pulumi destroy`. */
  deletionProtection: boolean;
  tags: Record<string, string>;
}

/**
 * The data plane's storage: one S3 bucket (datasets, models, sweeps, checkpoints: encrypted,
 * never public, TLS-only, versioned, with lifecycle) and the DynamoDB state table (on-demand,
 * point-in-time recovery, TTL on `expiresAt` for transient items), keyed as
 * shared/adapters/aws/dynamo-table.ts says.
 */
export class Storage extends pulumi.ComponentResource {
  readonly bucketName: pulumi.Output<string>;
  readonly bucketArn: pulumi.Output<string>;
  readonly tableName: pulumi.Output<string>;
  readonly tableArn: pulumi.Output<string>;

  private readonly bucket: aws.s3.Bucket;
  private readonly table: aws.dynamodb.Table;

  constructor(name: string, args: StorageArgs, opts?: pulumi.ComponentResourceOptions) {
    super('foldsweep:infra:Storage', name, {}, opts);
    this.bucket = this.createBucket(name, args);
    this.secureBucket(name, args);
    this.table = this.createTable(name, args);

    this.bucketName = this.bucket.bucket;
    this.bucketArn = this.bucket.arn;
    this.tableName = this.table.name;
    this.tableArn = this.table.arn;
    this.registerOutputs({
      bucketName: this.bucketName,
      bucketArn: this.bucketArn,
      tableName: this.tableName,
      tableArn: this.tableArn,
    });
  }

  private createBucket(name: string, args: StorageArgs): aws.s3.Bucket {
    return new aws.s3.Bucket(
      `${name}-data`,
      { forceDestroy: !args.deletionProtection, tags: args.tags },
      { parent: this },
    );
  }

  private secureBucket(name: string, args: StorageArgs): void {
    const bucket = this.bucket.id;
    const opts = { parent: this };
    new aws.s3.BucketOwnershipControls(
      `${name}-data-ownership`,
      { bucket, rule: { objectOwnership: 'BucketOwnerEnforced' } },
      opts,
    );
    const publicAccess = new aws.s3.BucketPublicAccessBlock(
      `${name}-data-public-access`,
      {
        bucket,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      opts,
    );
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-data-encryption`,
      {
        bucket,
        rules: [
          {
            applyServerSideEncryptionByDefault: args.kmsKeyArn
              ? { sseAlgorithm: 'aws:kms', kmsMasterKeyId: args.kmsKeyArn }
              : { sseAlgorithm: 'AES256' },
            bucketKeyEnabled: args.kmsKeyArn !== undefined,
          },
        ],
      },
      opts,
    );
    const versioning = new aws.s3.BucketVersioning(
      `${name}-data-versioning`,
      { bucket, versioningConfiguration: { status: 'Enabled' } },
      opts,
    );
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-data-lifecycle`,
      {
        bucket,
        rules: bucketLifecycleRules({
          checkpointRetentionDays: args.checkpointRetentionDays,
          cacheRetentionDays: args.cacheRetentionDays,
          noncurrentVersionRetentionDays: args.noncurrentVersionRetentionDays,
        }),
      },
      { ...opts, dependsOn: [versioning] },
    );
    new aws.s3.BucketPolicy(
      `${name}-data-policy`,
      {
        bucket,
        policy: this.bucket.arn.apply((arn) => JSON.stringify(bucketTlsOnlyPolicy(arn))),
      },
      { ...opts, dependsOn: [publicAccess] },
    );
  }

  private createTable(name: string, args: StorageArgs): aws.dynamodb.Table {
    const { indexes } = STATE_TABLE;
    return new aws.dynamodb.Table(
      `${name}-state`,
      {
        billingMode: 'PAY_PER_REQUEST',
        hashKey: STATE_TABLE.partitionKey,
        rangeKey: STATE_TABLE.sortKey,
        attributes: STATE_TABLE.attributes.map((attr) => ({ name: attr, type: 'S' })),
        globalSecondaryIndexes: [indexes.byCreated, indexes.byStatus].map((index) => ({
          name: index.name,
          keySchemas: [
            { attributeName: index.partitionKey, keyType: 'HASH' },
            { attributeName: index.sortKey, keyType: 'RANGE' },
          ],
          projectionType: 'ALL',
        })),
        pointInTimeRecovery: { enabled: true },
        ttl: { attributeName: TTL_ATTRIBUTE, enabled: true },
        serverSideEncryption: args.kmsKeyArn
          ? { enabled: true, kmsKeyArn: args.kmsKeyArn }
          : undefined,
        deletionProtectionEnabled: args.deletionProtection,
        tags: args.tags,
      },
      { parent: this },
    );
  }
}
