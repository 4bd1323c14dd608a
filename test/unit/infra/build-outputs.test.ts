/**
 * `npm run build` (scripts/build.ts) writes exactly the files the Pulumi program deploys and the
 * Dockerfile copies, and each loads: every Lambda bundle exports `handler`, and the trainer
 * bundle starts the trainer. Each bundle runs in its own Node process, as Lambda and the
 * container would run it (no shared module cache, no test-runner transforms).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_BUNDLES, REPO_ROOT, TRAINER_BUNDLE } from '../../../infra/bundles.js';
import { FUNCTION_NAMES } from '../../../infra/naming.js';
import { TRAINER_EXIT } from '../../../shared/schemas/runtime-env.js';

const DIST = path.join(REPO_ROOT, 'dist');

/** What a function sees on AWS, with stand-in values (nothing is called at import). */
const LAMBDA_ENV = {
  PATH: process.env.PATH ?? '',
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'AKIDTEST',
  AWS_SECRET_ACCESS_KEY: 'test-secret',
  FOLDSWEEP_BUCKET: 'foldsweep-test-data',
  FOLDSWEEP_TABLE: 'foldsweep-test-state',
  FOLDSWEEP_JOB_QUEUE: 'arn:aws:batch:eu-west-1:123456789012:job-queue/foldsweep-test-gpu',
  FOLDSWEEP_JOB_DEFINITION:
    'arn:aws:batch:eu-west-1:123456789012:job-definition/foldsweep-test-trainer:1',
  FOLDSWEEP_SCHEDULE_GROUP: 'foldsweep-test-retrain',
  FOLDSWEEP_SCHEDULER_ROLE_ARN: 'arn:aws:iam::123456789012:role/scheduler',
  FOLDSWEEP_RETRAIN_FUNCTION_ARN:
    'arn:aws:lambda:eu-west-1:123456789012:function:foldsweep-test-retrain',
  FOLDSWEEP_DEAD_LETTER_QUEUE_ARN: 'arn:aws:sqs:eu-west-1:123456789012:foldsweep-test-dlq',
  LOG_LEVEL: 'error',
};

beforeAll(() => {
  const buildScript = (
    JSON.parse(execFileSync('npm', ['pkg', 'get', 'scripts'], { cwd: REPO_ROOT }).toString()) as
      | Record<string, string>
      | undefined
  )?.build;
  if (!buildScript) {
    throw new Error('package.json has no "build" script: it should run scripts/build.ts');
  }
  execFileSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: 'pipe', timeout: 240_000 });
}, 300_000);

describe('npm run build', () => {
  it.each(FUNCTION_NAMES)('writes the %s bundle, which loads and exports handler', (fn) => {
    const file = path.join(DIST, LAMBDA_BUNDLES[fn]);
    expect(existsSync(file), `${file} not written`).toBe(true);
    const probe = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(pathToFileURL(file).href)});
         process.stdout.write(typeof m.handler);`,
      ],
      { env: LAMBDA_ENV, encoding: 'utf8', timeout: 60_000, cwd: path.dirname(file) },
    );
    expect(probe.status, probe.stderr).toBe(0);
    expect(probe.stdout, probe.stderr).toBe('function');
  });

  it('writes the trainer bundle the Dockerfile runs, and it starts the trainer', () => {
    const file = path.join(DIST, TRAINER_BUNDLE);
    expect(existsSync(file), `${file} not written`).toBe(true);
    // No FOLDSWEEP_PLAN_KEY: a loaded trainer parses its environment and exits with the
    // config code naming the variable (a bundle that fails to load exits 1 with a stack).
    const run = spawnSync(process.execPath, [file], {
      env: { PATH: process.env.PATH ?? '', AWS_BATCH_JOB_ARRAY_INDEX: '0' },
      encoding: 'utf8',
      timeout: 60_000,
      cwd: path.dirname(file),
    });
    expect(run.status, run.stderr).toBe(TRAINER_EXIT.config);
    expect(run.stderr).toContain('FOLDSWEEP_PLAN_KEY');
  });

  it('has the trainer bundle import statically only packages the image installs', () => {
    // trainer/Dockerfile installs @tensorflow/tfjs-node-gpu, which brings @tensorflow/tfjs.
    const inImage = ['@tensorflow/tfjs', '@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];
    const source = readFileSync(path.join(DIST, TRAINER_BUNDLE), 'utf8');
    const staticImports = [...source.matchAll(/^import\s[^;]*?from\s*["']([^"']+)["']/gm)]
      .map((m) => m[1] as string)
      .filter((s) => !s.startsWith('.') && !isBuiltin(s));
    expect(staticImports.length).toBeGreaterThan(0);
    for (const specifier of new Set(staticImports)) {
      expect(inImage, `${specifier} is imported but not installed in the image`).toContain(
        specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier,
      );
    }
  });
});
