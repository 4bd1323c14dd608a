import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BuildOutput,
  buildBundles,
  common,
  lambdaTfjs,
  REPO_ROOT,
} from '../../../scripts/build.js';
import { AWS_SAMPLE_BATCH_JOB_STATE_CHANGE } from '../../batch-emulator/events.js';

const ENV = {
  FOLDSWEEP_BUCKET: 'foldsweep-build-test',
  FOLDSWEEP_TABLE: 'foldsweep-build-test',
  FOLDSWEEP_JOB_QUEUE: 'foldsweep-gpu',
  FOLDSWEEP_JOB_DEFINITION: 'foldsweep-trainer',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'build-test',
  AWS_SECRET_ACCESS_KEY: 'build-test',
  LOG_LEVEL: 'error',
} as const;

let out: BuildOutput;
let dir: string;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  // Under the repository, so the trainer bundle resolves its external @tensorflow/* packages.
  const cache = path.join(REPO_ROOT, 'node_modules', '.cache');
  await mkdir(cache, { recursive: true });
  dir = await mkdtemp(path.join(cache, 'foldsweep-build-test-'));
  out = await buildBundles({ outdir: dir });
  for (const [k, v] of Object.entries(ENV)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
});

afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await rm(dir, { recursive: true, force: true });
});

const load = async (file: string) =>
  (await import(pathToFileURL(file).href)) as { handler: (event: unknown) => Promise<unknown> };

describe('scripts/build.ts', () => {
  it('bundles each Lambda into one file that needs no node_modules', () => {
    for (const [file, output] of Object.entries(out.metafiles.lambda.outputs)) {
      if (!file.endsWith('.mjs')) continue;
      const packages = output.imports
        .filter((i) => i.external && !i.path.startsWith('node:'))
        .map((i) => i.path);
      const builtins = new Set([
        'fs',
        'events',
        'util',
        'path',
        'assert',
        'worker_threads',
        'url',
        'buffer',
        'module',
        'punycode',
        'stream',
        'http',
        'https',
        'zlib',
        'crypto',
        'string_decoder',
        'perf_hooks',
        'os',
        'encoding',
      ]);
      expect(packages.filter((p) => !builtins.has(p))).toEqual([]);
    }
  });

  it('api.mjs loads and its handler serves an API Gateway HTTP API (v2) request', async () => {
    const { handler } = await load(out.files.lambda.api);

    const response = (await handler({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/health',
      rawQueryString: '',
      headers: { host: 'example.execute-api.us-east-1.amazonaws.com' },
      requestContext: {
        http: {
          method: 'GET',
          path: '/health',
          protocol: 'HTTP/1.1',
          sourceIp: '127.0.0.1',
          userAgent: 'vitest',
        },
        requestId: 'r1',
        routeKey: '$default',
        stage: '$default',
        timeEpoch: 0,
        domainName: 'example.execute-api.us-east-1.amazonaws.com',
      },
      isBase64Encoded: false,
    })) as { statusCode: number; body: string };

    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ status: 'ok' });
  });

  it('aggregator.mjs loads and its handler acknowledges an event of another queue', async () => {
    const { handler } = await load(out.files.lambda.aggregator);

    const outcome = await handler(AWS_SAMPLE_BATCH_JOB_STATE_CHANGE);

    expect(outcome).toMatchObject({ handled: false, reason: expect.stringMatching(/job queue/) });
  });

  it('retrain.mjs loads and its handler rejects a malformed event without throwing', async () => {
    const { handler } = await load(out.files.lambda.retrain);

    expect(await handler({ nothing: true })).toMatchObject({ status: 'invalid' });
  });

  it('each Lambda carries only the tfjs it runs: cpu for the evaluating functions, none in prepare', () => {
    const packagesOf = (name: string) => {
      const output = Object.entries(out.metafiles.lambda.outputs).find(([file]) =>
        file.endsWith(`lambda/${name}.mjs`),
      )?.[1];
      const found = new Set<string>();
      for (const input of Object.keys(output?.inputs ?? {})) {
        const m = input.match(/node_modules\/(@tensorflow\/[^/]+)/);
        if (m) found.add(m[1]);
      }
      return [...found].sort();
    };
    for (const name of ['api', 'aggregator', 'retrain']) {
      expect(packagesOf(name), name).toEqual([
        '@tensorflow/tfjs-backend-cpu',
        '@tensorflow/tfjs-core',
        '@tensorflow/tfjs-layers',
      ]);
    }
    expect(packagesOf('prepare')).toEqual([]);
  });

  it('the Lambda tfjs evaluates on the cpu backend: layers, chained ops and gradients on one engine', async () => {
    const file = path.join(dir, 'tfjs-check.mjs');
    await build({
      ...common,
      metafile: false,
      sourcemap: false,
      stdin: {
        resolveDir: REPO_ROOT,
        loader: 'ts',
        contents: `import { selectBackend } from './trainer/backend.ts';
export async function check() {
  const { tf, name } = await selectBackend();
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2, kernelInitializer: 'ones' })] });
  const predicted = model.predict(tf.tensor2d([[1, 2, 3]])).argMax(-1).arraySync();
  const grad = tf.grad((x) => x.square().sum())(tf.tensor1d([3])).arraySync();
  const wasm = await selectBackend({ prefer: 'wasm' }).then(() => 'loaded', (e) => e.message);
  return { name, predicted, grad, wasm, backends: Object.keys(tf.engine().registryFactory).sort() };
}`,
      },
      outfile: file,
      plugins: [lambdaTfjs({ evaluator: true })],
    });
    const { check } = (await import(pathToFileURL(file).href)) as {
      check: () => Promise<Record<string, unknown>>;
    };

    expect(await check()).toEqual({
      name: 'cpu',
      predicted: [0],
      grad: [6],
      wasm: expect.stringMatching(/wasm backend is not part of this Lambda bundle/),
      backends: ['cpu'],
    });
  });

  it('prepare.mjs is written, loads, and its handler rejects an event without a sweepId', async () => {
    expect(out.files.lambda.prepare).toBe(path.join(dir, 'lambda', 'prepare.mjs'));
    const { handler } = await load(out.files.lambda.prepare);

    expect(await handler({ nothing: true })).toEqual({
      status: 'invalid',
      reason: 'the event names no sweepId',
    });
  });

  it('a Lambda bundle without its environment fails at start, naming the variable', () => {
    const run = spawnSync(
      process.execPath,
      ['-e', `import(${JSON.stringify(pathToFileURL(out.files.lambda.api).href)})`],
      { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' },
    );

    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/FOLDSWEEP_BUCKET/);
  });

  it('trainer/main.mjs runs and exits with the config code when its environment is missing', () => {
    const run = spawnSync(process.execPath, [out.files.trainer], {
      env: { PATH: process.env.PATH ?? '' },
      encoding: 'utf8',
    });

    expect(run.status).toBe(3);
    expect(run.stderr).toMatch(/FOLDSWEEP_PLAN_KEY/);
  });
});
