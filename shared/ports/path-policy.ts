/**
 * Which local paths a deployment reads for a spec. `foldsweep serve` reads base models and
 * datasets only under its data roots (shared/adapters/local/data-roots.ts); `foldsweep run` and
 * AWS have no policy (a run reads the user's own files; AWS reads S3).
 * Contract: `resolve` reads nothing (the answer for a path outside the roots is the same whether
 * it exists or not); it returns a local path absolute (relative ones resolved against the
 * policy's documented base folder, never the process's working directory) and every other URI
 * (`s3://`, `foldsweep://`) as given, and throws a ValidationError on `field` for a path the
 * deployment must not read.
 * @example
 * const path = policy.resolve('data/train-images-idx3-ubyte.gz', 'dataset.uri');
 */
export interface PathPolicy {
  resolve(uri: string, field: string): string;
}
