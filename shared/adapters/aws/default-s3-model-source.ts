/**
 * s3:// base models for local runs (functions/deps/local.ts): read with the AWS SDK's default
 * credentials and region (environment, AWS_PROFILE, ~/.aws, SSO...), following a bucket's region
 * when it differs, like defaultS3DatasetSource. The SDK is loaded on the first s3:// model.
 * Without credentials or region the error names the field and says what to set
 * (MODEL_LOCAL_ACCESS_HINT).
 * @module
 */
import type { ModelSource } from '../../model/base-model-import.js';

export function defaultS3ModelSource(): ModelSource {
  let loaded: Promise<ModelSource> | undefined;
  const load = () =>
    (loaded ??= Promise.all([import('./s3-model-source.js'), import('@aws-sdk/client-s3')]).then(
      ([{ S3ModelSource, MODEL_LOCAL_ACCESS_HINT }, { S3Client }]) =>
        new S3ModelSource({
          client: () => new S3Client({ followRegionRedirects: true }),
          accessHint: MODEL_LOCAL_ACCESS_HINT,
        }),
    ));
  return {
    handles: (uri) => /^s3:\/\//i.test(uri),
    locate: async (uri, fieldPath) => (await load()).locate(uri, fieldPath),
  };
}
