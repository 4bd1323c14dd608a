/**
 * The build outputs the program deploys: `npm run build` (scripts/build.ts) writes the Lambda
 * bundles to `<bundleDir>/lambda/<name>.mjs` and the trainer bundle to
 * `<bundleDir>/trainer/main.mjs`, which trainer/Dockerfile copies into the image.
 * The trainer image is tagged by content: a hash of every file that goes into it, computed the
 * same way here (for the job definition) and by scripts/push-image.sh (for `docker push`, via
 * infra/image-tag.ts), so the pushed tag and the deployed tag cannot drift.
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FUNCTION_NAMES, type FunctionName } from './naming.js';

/** The repository root (infra/ is one level down). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Bundle paths relative to the bundle directory (`dist` by default). */
export const LAMBDA_BUNDLES: Record<FunctionName, string> = {
  api: 'lambda/api.mjs',
  aggregator: 'lambda/aggregator.mjs',
  retrain: 'lambda/retrain.mjs',
  prepare: 'lambda/prepare.mjs',
};
export const TRAINER_BUNDLE_DIR = 'trainer';
export const TRAINER_BUNDLE = 'trainer/main.mjs';

/** Files, relative to the repo root, that decide the image besides the trainer bundle. */
export const IMAGE_INPUTS = ['trainer/Dockerfile', '.dockerignore'];

/** The handler every bundle exports; the Lambda file is copied in as index.mjs. */
export const LAMBDA_HANDLER = 'index.handler';

export class MissingBundleError extends Error {
  constructor(file: string) {
    super(
      `${file} is missing: run \`npm run build\` before \`pulumi up\` (or set foldsweep:bundleDir to where the bundles are)`,
    );
    this.name = 'MissingBundleError';
  }
}

export function resolveBundleDir(bundleDir: string, root = REPO_ROOT): string {
  return path.resolve(root, bundleDir);
}

/** Absolute path of a function's bundle; throws MissingBundleError when it was not built. */
export function lambdaBundlePath(dir: string, name: FunctionName): string {
  const file = path.join(dir, LAMBDA_BUNDLES[name]);
  if (!existsSync(file)) throw new MissingBundleError(file);
  return file;
}

/** Every function's bundle, checked to exist. */
export function lambdaBundlePaths(dir: string): Record<FunctionName, string> {
  return Object.fromEntries(FUNCTION_NAMES.map((n) => [n, lambdaBundlePath(dir, n)])) as Record<
    FunctionName,
    string
  >;
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile())
    .sort();
}

/**
 * The content tag of the trainer image: `t-` + the first 16 hex digits of a SHA-256 over the
 * Dockerfile, .dockerignore and every file of the trainer bundle directory (paths and bytes).
 * @example
 * imageContentTag('dist'); // 't-3f9a0c1b7d2e4a56'
 */
export function imageContentTag(bundleDir: string, root = REPO_ROOT): string {
  const trainerDir = path.join(resolveBundleDir(bundleDir, root), TRAINER_BUNDLE_DIR);
  const main = path.join(trainerDir, 'main.mjs');
  if (!existsSync(main)) throw new MissingBundleError(main);
  const hash = createHash('sha256');
  const add = (label: string, file: string) => {
    hash.update(`${label}\0`);
    hash.update(readFileSync(file));
    hash.update('\0');
  };
  for (const input of IMAGE_INPUTS) add(input, path.join(root, input));
  for (const file of filesUnder(trainerDir)) {
    add(path.relative(trainerDir, file).split(path.sep).join('/'), file);
  }
  return `t-${hash.digest('hex').slice(0, 16)}`;
}
