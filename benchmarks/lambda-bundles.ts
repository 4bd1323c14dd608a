/**
 * Lambda bundle size, cold import time and RSS per function, with the whole @tensorflow/tfjs
 * (`--tfjs full`, how the bundles were built before issue #14 item 9) and with only the tfjs each
 * function runs (the default build). Each import is a fresh `node` process (a cold start without
 * Lambda's own runtime): the time from before `import()` to after it, and the process's RSS then.
 *
 * Usage: npx tsx benchmarks/lambda-bundles.ts [--runs 7] [--out docs/benchmarks/lambda-bundles.md]
 * @module
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildBundles, LAMBDA_ENTRIES, REPO_ROOT } from '../scripts/build.js';
import { fmt, loadAverage, machine, median } from './common.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '7' }, out: { type: 'string' } },
});
const runs = Number(values.runs);

// What the functions need at import (the same names infra/ sets); nothing is called.
const ENV = {
  ...process.env,
  FOLDSWEEP_BUCKET: 'foldsweep-bench',
  FOLDSWEEP_TABLE: 'foldsweep-bench',
  FOLDSWEEP_JOB_QUEUE: 'foldsweep-gpu',
  FOLDSWEEP_JOB_DEFINITION: 'foldsweep-trainer',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  LOG_LEVEL: 'error',
  AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: '1',
};

const PROBE = `const t = performance.now();
await import(process.argv[1]);
const ms = performance.now() - t;
process.stdout.write(JSON.stringify({ ms, rss: process.memoryUsage().rss }));`;

function coldImport(file: string) {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', PROBE, file], {
    env: ENV,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return JSON.parse(out) as { ms: number; rss: number };
}

type Row = { bytes: number; ms: number; rss: number };
async function measure(tfjs: 'full' | 'slim', dir: string): Promise<Record<string, Row>> {
  const out = await buildBundles({ outdir: path.join(dir, tfjs), tfjs });
  const rows: Record<string, Row> = {};
  for (const [name, file] of Object.entries(out.files.lambda)) {
    const samples = Array.from({ length: runs }, () => coldImport(file));
    rows[name] = {
      bytes: (await stat(file)).size,
      ms: median(samples.map((s) => s.ms)),
      rss: median(samples.map((s) => s.rss)),
    };
  }
  return rows;
}

// Under the repository, like the build test: the bundles resolve nothing, but stay out of /tmp.
const dir = await mkdtemp(path.join(REPO_ROOT, 'node_modules', '.cache', 'lambda-bundles-'));
try {
  const loadBefore = loadAverage();
  const before = await measure('full', dir);
  const after = await measure('slim', dir);
  const mb = (b: number) => (b / 2 ** 20).toFixed(2);
  const lines = [
    '# Lambda bundles: only the tfjs each function runs',
    '',
    `\`npx tsx benchmarks/lambda-bundles.ts --runs ${runs}\` on ${machine()}, load average ${loadBefore} before and ${loadAverage()} after, ${new Date().toISOString().slice(0, 16)} UTC.`,
    '',
    'Before: every bundle had the whole `@tensorflow/tfjs` (core, layers, converter, data, the cpu',
    'and webgl backends) and `@tensorflow/tfjs-backend-wasm` (`npm run build -- --tfjs full`). After',
    '(the default build): api, aggregator and retrain, which can evaluate a champion, carry core +',
    'layers + the cpu backend, the one backend a Lambda can run (no tfjs-node there; wasm needs its',
    '.wasm files); prepare never evaluates and carries no tfjs. Cold import: a fresh `node` process',
    `imports the bundle (no handler call); median of ${runs} runs, RSS right after the import.`,
    '',
    '| function | size before | size after | cold import before | after | RSS before | after |',
    '|---|---|---|---|---|---|---|',
    ...Object.keys(LAMBDA_ENTRIES).map((name) => {
      const b = before[name];
      const a = after[name];
      return `| ${name} | ${mb(b.bytes)} MB | ${mb(a.bytes)} MB | ${fmt(b.ms)} ms | ${fmt(a.ms)} ms | ${mb(b.rss).split('.')[0]} MB | ${mb(a.rss).split('.')[0]} MB |`;
    }),
    '',
    'The machine is shared (see the load average): absolute times vary run to run, the',
    'before/after pairs were measured back to back.',
    '',
  ];
  const text = lines.join('\n');
  process.stdout.write(text);
  if (values.out) await writeFile(path.resolve(REPO_ROOT, values.out), text);
} finally {
  await rm(dir, { recursive: true, force: true });
}
