/**
 * The bottleneck cache's saving on the example sweep, side by side in one run: the demo's sweep
 * (examples/fashion-mnist/sweep.json: 12 variants x 3 folds) once with `training.bottleneckCache`
 * on (the default) and once off, each in a fresh FOLDSWEEP_HOME so the cache starts empty, in
 * alternating order over `--rounds`. Reports sweep wall time, the trainer processes' CPU time, and
 * the trials the cache serves (bottleneck-linear, finetune frozen through the cut).
 *
 *   npx tsx benchmarks/bottleneck-cache.ts [--rounds 1] [--concurrency 2]
 *                                          [--out docs/benchmarks/bottleneck-cache.md]
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolveSpecPaths } from '../functions/cli/files.js';
import { localDeps } from '../functions/deps/local.js';
import { describeVariant } from '../shared/planner/variants.js';
import { getLeaderboard, readTrialResults } from '../shared/service/aggregate.js';
import { createSweep, loadPlan } from '../shared/service/sweeps.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '2' },
    out: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);

const repo = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const specFile = path.join(repo, 'examples/fashion-mnist/sweep.json');
const baseSpec = resolveSpecPaths(
  JSON.parse(readFileSync(specFile, 'utf8')),
  path.dirname(specFile),
) as Record<string, unknown> & { training: Record<string, unknown> };

/** CPU seconds (user + system) of this process's children that have exited: /proc/self/stat. */
function childCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 16 and 17 of stat(5) (cutime, cstime), counted from the state field (3) here.
  const ticks = Number(fields[13]) + Number(fields[14]);
  return ticks / 100;
}

interface Measured {
  cache: 'on' | 'off';
  wallSeconds: number;
  cpuSeconds: number;
  served: { trials: number; trialSeconds: number; featuresSeconds: number; statuses: string };
  others: { trials: number; trialSeconds: number };
  champion: string;
  championCv: number;
}

async function sweepOnce(cache: boolean): Promise<Measured> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'foldsweep-cache-bench-'));
  const deps = localDeps({ home, concurrency, backend: 'wasm' });
  const cpuBefore = childCpuSeconds();
  const started = performance.now();
  try {
    const spec = { ...baseSpec, training: { ...baseSpec.training, bottleneckCache: cache } };
    const { sweep } = await createSweep(deps, spec);
    if (sweep.status === 'running') await deps.executor.waitFor(sweep.id);
    const wallSeconds = (performance.now() - started) / 1000;
    const plan = await loadPlan(deps, sweep.id);
    const results = await readTrialResults(deps, sweep.id);
    const board = await getLeaderboard(deps, sweep.id);
    const failed = results.filter((r) => r.status !== 'succeeded');
    if (failed.length > 0) {
      throw new Error(`${failed.length} trials failed: ${failed[0].reason ?? 'no reason'}`);
    }
    const served = results.filter((r) => r.bottleneckCache !== undefined);
    const others = results.filter((r) => r.bottleneckCache === undefined);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const counts = new Map<string, number>();
    for (const r of served) {
      const key = r.bottleneckCache ?? '';
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const best = board.rows.find((r) => r.variantId === board.bestVariantId);
    const bestVariant = plan.variants.find((v) => v.id === board.bestVariantId);
    // The trainer workers must have exited for their CPU time to count (cutime).
    await deps.executor.close();
    await deps.close();
    return {
      cache: cache ? 'on' : 'off',
      wallSeconds,
      cpuSeconds: childCpuSeconds() - cpuBefore,
      served: {
        trials: served.length,
        trialSeconds: sum(served.map((r) => r.durationMs)) / 1000,
        featuresSeconds: sum(served.map((r) => r.featuresMs ?? 0)) / 1000,
        statuses: [...counts].map(([k, v]) => `${v} ${k}`).join(', '),
      },
      others: { trials: others.length, trialSeconds: sum(others.map((r) => r.durationMs)) / 1000 },
      champion: bestVariant ? describeVariant(bestVariant) : 'none',
      championCv: best?.mean ?? Number.NaN,
    };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const loadBefore = load();
const runs: Measured[] = [];
for (let round = 0; round < rounds; round++) {
  // Alternate which goes first, so a drift in machine load does not favour one side.
  const order = round % 2 === 0 ? [true, false] : [false, true];
  for (const cache of order) {
    process.stderr.write(`round ${round + 1}: cache ${cache ? 'on' : 'off'} ...\n`);
    const m = await sweepOnce(cache);
    runs.push(m);
    process.stderr.write(
      `  ${m.wallSeconds.toFixed(1)} s wall, ${m.cpuSeconds.toFixed(1)} s trainer CPU, served trials ${m.served.trialSeconds.toFixed(1)} s\n`,
    );
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const side = (cache: 'on' | 'off') => runs.filter((r) => r.cache === cache);
const on = side('on');
const off = side('off');
const pctLess = (a: number, b: number) => `${((1 - a / b) * 100).toFixed(1)}%`;
const row = (m: Measured) =>
  `| ${m.cache} | ${m.wallSeconds.toFixed(1)} | ${m.cpuSeconds.toFixed(1)} | ${m.served.trials} (${m.served.statuses}) | ${m.served.trialSeconds.toFixed(1)} | ${m.served.featuresSeconds.toFixed(1)} | ${m.others.trialSeconds.toFixed(1)} | ${m.champion} (${m.championCv.toFixed(4)}) |`;
const text = `# Bottleneck cache: the example sweep with the cache on and off

- command: \`npx tsx benchmarks/bottleneck-cache.ts --rounds ${rounds} --concurrency ${concurrency}\`
- date: ${new Date().toISOString()}
- machine: ${os.cpus()[0]?.model ?? 'unknown'}, nproc ${os.cpus().length}, Node ${process.version}; backend wasm; ${concurrency} trainer processes
- sweep: examples/fashion-mnist/sweep.json (the demo: 500 images of classes 5-9, 12 variants x 3 folds = 36 trials), \`training.bottleneckCache\` true vs false, each in a fresh home (so "on" includes computing and storing the features once)
- load average (1, 5, 15 min) before: ${loadBefore}; after: ${load()}

| cache | sweep wall s | trainer CPU s | trials the cache serves | their trial s (sum) | of which features s | other trials s (sum) | champion (CV) |
|---|---:|---:|---|---:|---:|---:|---|
${runs.map(row).join('\n')}

Trainer CPU = user + system seconds of the trainer processes (cutime + cstime of this process);
trial s = the trainers' own wall time per trial (TrialResult.durationMs), summed.

- cache on vs off (mean over rounds): sweep wall ${pctLess(mean(on.map((m) => m.wallSeconds)), mean(off.map((m) => m.wallSeconds)))} less, trainer CPU ${pctLess(mean(on.map((m) => m.cpuSeconds)), mean(off.map((m) => m.cpuSeconds)))} less; the served trials themselves ${(mean(off.map((m) => m.served.trialSeconds)) / mean(on.map((m) => m.served.trialSeconds))).toFixed(1)}x faster.
- Both sides train the same heads on the same batches (a unit test checks the two paths agree), so the leaderboard and champion should match up to floating-point order.
`;
if (values.out) await writeFile(values.out, text);
process.stdout.write(text);
