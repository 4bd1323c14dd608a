/**
 * s3:// datasets for local runs (functions/deps/local.ts): read with the AWS SDK's default
 * credentials and region (environment, AWS_PROFILE, ~/.aws, SSO...), following a bucket's region
 * when it differs. The SDK is loaded on the first s3:// dataset, so `foldsweep` commands that
 * never name one do not pay for loading it. Without credentials or region the error names the
 * field and says what to set (LOCAL_ACCESS_HINT).
 * @module
 */
import type { DatasetSource } from '../../data/prepare.js';

export function defaultS3DatasetSource(): DatasetSource {
  let loaded: Promise<DatasetSource> | undefined;
  const load = () =>
    (loaded ??= Promise.all([import('./s3-dataset-source.js'), import('@aws-sdk/client-s3')]).then(
      ([{ S3DatasetSource, LOCAL_ACCESS_HINT }, { S3Client }]) =>
        new S3DatasetSource({
          client: () => new S3Client({ followRegionRedirects: true }),
          accessHint: LOCAL_ACCESS_HINT,
        }),
    ));
  return {
    handles: (uri) => /^s3:\/\//i.test(uri),
    list: async (ref, fieldPath) => (await load()).list(ref, fieldPath),
  };
}
