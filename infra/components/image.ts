import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { repositoryLifecyclePolicy } from '../policies.js';

export interface ImageArgs {
  repositoryName: string;
  /** The image tag the job definition runs: the content tag, or a pinned one from config. */
  tag: string;
  keepImages: number;
  kmsKeyArn?: string;
  /** Keep the repository (and its images) on `pulumi destroy`. */
  deletionProtection: boolean;
  tags: Record<string, string>;
}

/**
 * The trainer image's ECR repository: private, tags immutable (a tag is a content hash, so it
 * always means the same bytes), scanned on push, encrypted, old images expired. The image is
 * built from trainer/Dockerfile and pushed by scripts/push-image.sh (no Docker engine is needed
 * by `pulumi up`); `imageUri` is what the job definition runs.
 */
export class Image extends pulumi.ComponentResource {
  readonly repositoryUrl: pulumi.Output<string>;
  readonly imageUri: pulumi.Output<string>;

  constructor(name: string, args: ImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super('foldsweep:infra:Image', name, {}, opts);
    const repository = this.createRepository(name, args);
    this.createLifecyclePolicy(name, repository, args);

    this.repositoryUrl = repository.repositoryUrl;
    this.imageUri = pulumi.interpolate`${repository.repositoryUrl}:${args.tag}`;
    this.registerOutputs({ repositoryUrl: this.repositoryUrl, imageUri: this.imageUri });
  }

  private createRepository(name: string, args: ImageArgs): aws.ecr.Repository {
    return new aws.ecr.Repository(
      `${name}-repository`,
      {
        name: args.repositoryName,
        imageTagMutability: 'IMMUTABLE',
        imageScanningConfiguration: { scanOnPush: true },
        encryptionConfigurations: [
          args.kmsKeyArn
            ? { encryptionType: 'KMS', kmsKey: args.kmsKeyArn }
            : { encryptionType: 'AES256' },
        ],
        forceDelete: !args.deletionProtection,
        tags: args.tags,
      },
      { parent: this },
    );
  }

  private createLifecyclePolicy(
    name: string,
    repository: aws.ecr.Repository,
    args: ImageArgs,
  ): void {
    new aws.ecr.LifecyclePolicy(
      `${name}-lifecycle`,
      {
        repository: repository.name,
        policy: JSON.stringify(repositoryLifecyclePolicy(args.keepImages)),
      },
      { parent: this },
    );
  }
}
