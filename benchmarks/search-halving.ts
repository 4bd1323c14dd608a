/**
 * Random search, full evaluation vs successive halving over folds, on the Fashion-MNIST transfer
 * task (examples/fashion-mnist: the committed base CNN pretrained on classes 0-4; 100 images per
 * class of classes 5-9 = 500; the official test split of classes 5-9 as the test set). For each
 * seed, one random search of `--variants` finetune variants (lrMultiplier log 0.05..2,
 * headLrMultiplier log 1..10, freezeDepth 0..7) runs twice in fresh homes: every fold of every
 * variant, and successive halving (eta `--eta`). Reports the trainer processes' CPU seconds, the
 * trials run, the champion and its test accuracy; the goal is halving at most 40% of the full
 * run's trainer CPU with the champion within 0.5 points.
 *
 *   npx tsx benchmarks/search-halving.ts [--seeds 3] [--first-seed 1] [--variants 30] [--folds 3] [--eta 3]
 *        [--epochs 6] [--concurrency 2] [--out docs/benchmarks/search-halving.md]
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolveSpecPaths } from '../functions/cli/files.js';
import { localDeps } from '../functions/deps/local.js';
import { plannedTrialCount } from '../shared/planner/rungs.js';
import { describeVariant } from '../shared/planner/variants.js';
import { getLeaderboard, readTrialResults } from '../shared/service/aggregate.js';
import { createSweep, loadPlan } from '../shared/service/sweeps.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '3' },
    'first-seed': { type: 'string', default: '1' },
    variants: { type: 'string', default: '30' },
    folds: { type: 'string', default: '3' },
    eta: { type: 'string', default: '3' },
    epochs: { type: 'string', default: '6' },
    concurrency: { type: 'string', default: '2' },
    out: { type: 'string' },
  },
});
const seeds = Number(values.seeds);
const firstSeed = Number(values['first-seed']);
const seedList = Array.from({ length: seeds }, (_, i) => firstSeed + i);
const variants = Number(values.variants);
const folds = Number(values.folds);
const eta = Number(values.eta);
const epochs = Number(values.epochs);
const concurrency = Number(values.concurrency);

const repo = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const specFile = path.join(repo, 'examples/fashion-mnist/sweep.json');
const example = resolveSpecPaths(
  JSON.parse(readFileSync(specFile, 'utf8')),
  path.dirname(specFile),
) as Record<string, unknown>;

/** The benchmark's spec for one seed: the example's data, a random search of finetune. */
function specFor(seed: number, halving: boolean) {
  return {
    ...example,
    name: `search-halving-${seed}-${halving ? 'halving' : 'full'}`,
    folds,
    seed,
    holdoutFraction: 0,
    // The rule its committed results were measured with (the scheduler is what is compared; the
    // one-se default is measured in selection-rule.ts).
    selection: 'best-mean',
    searchSpace: {
      strategy: ['finetune'],
      lrMultiplier: { min: 0.05, max: 2, scale: 'log' },
      headLrMultiplier: { min: 1, max: 10, scale: 'log' },
      freezeDepth: { min: 0, max: 7 },
    },
    search: {
      method: 'random',
      maxVariants: variants,
      seed,
      ...(halving ? { scheduler: { type: 'successive-halving', eta } } : {}),
    },
    training: { learningRate: 0.003, epochs, batchSize: 16, patience: 3 },
  };
}

/** CPU seconds (user + system) of this process's children that have exited: /proc/self/stat. */
function childCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

interface Measured {
  seed: number;
  mode: 'full' | 'halving';
  wallSeconds: number;
  cpuSeconds: number;
  trials: number;
  plannedTrials: number;
  trialSeconds: number;
  champion: string;
  championCv: number;
  testAccuracy: number;
  /** Variant ids with their full-fold CV mean (to compare the two rankings). */
  cv: Map<string, number>;
}

async function sweepOnce(seed: number, halving: boolean): Promise<Measured> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'foldsweep-halving-bench-'));
  const deps = localDeps({ home, concurrency, backend: 'wasm' });
  const cpuBefore = childCpuSeconds();
  const started = performance.now();
  try {
    const { sweep } = await createSweep(deps, specFor(seed, halving));
    if (sweep.status === 'running') await deps.executor.waitFor(sweep.id);
    const wallSeconds = (performance.now() - started) / 1000;
    const plan = await loadPlan(deps, sweep.id);
    const results = await readTrialResults(deps, sweep.id);
    const board = await getLeaderboard(deps, sweep.id);
    const champion = await deps.state.getChampion(sweep.id);
    const variant = plan.variants.find((v) => v.id === champion?.variantId);
    // The trainer workers must have exited for their CPU time to count (cutime).
    await deps.executor.close();
    await deps.close();
    return {
      seed,
      mode: halving ? 'halving' : 'full',
      wallSeconds,
      cpuSeconds: childCpuSeconds() - cpuBefore,
      trials: results.length,
      plannedTrials: plan.rungs ? plannedTrialCount(plan.rungs) : plan.trials.length,
      trialSeconds: results.reduce((s, r) => s + r.durationMs, 0) / 1000,
      champion: variant ? `${describeVariant(variant)} (${variant.id})` : 'none',
      championCv: champion?.objectiveMean ?? Number.NaN,
      testAccuracy: champion?.testAccuracy ?? Number.NaN,
      cv: new Map(
        board.rows
          .filter((r) => r.complete && r.mean !== null)
          .map((r) => [r.variantId, r.mean as number]),
      ),
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
const startedAt = new Date().toISOString();
const runs: Measured[] = [];
for (const seed of seedList) {
  // Alternate which goes first, so a drift in machine load does not favour one side.
  const order = seed % 2 === 1 ? [false, true] : [true, false];
  for (const halving of order) {
    process.stderr.write(`seed ${seed}: ${halving ? 'halving' : 'full'} (load ${load()}) ...\n`);
    const m = await sweepOnce(seed, halving);
    runs.push(m);
    process.stderr.write(
      `  ${m.trials} trials, ${m.wallSeconds.toFixed(1)} s wall, ${m.cpuSeconds.toFixed(1)} s trainer CPU, champion ${m.champion} test ${(m.testAccuracy * 100).toFixed(2)}%\n`,
    );
  }
}

const pct = (x: number) => `${(x * 100).toFixed(2)}`;
const row = (m: Measured) =>
  `| ${m.seed} | ${m.mode} | ${m.trials} / ${m.plannedTrials} | ${m.wallSeconds.toFixed(0)} | ${m.cpuSeconds.toFixed(1)} | ${m.trialSeconds.toFixed(1)} | ${m.champion} | ${m.championCv.toFixed(4)} | ${pct(m.testAccuracy)} |`;
const verdicts = seedList.map((seed) => {
  const full = runs.find((r) => r.seed === seed && r.mode === 'full') as Measured;
  const half = runs.find((r) => r.seed === seed && r.mode === 'halving') as Measured;
  const cpu = half.cpuSeconds / full.cpuSeconds;
  const gap = (full.testAccuracy - half.testAccuracy) * 100;
  const rankInFull =
    [...full.cv.entries()]
      .sort((a, b) => b[1] - a[1])
      .findIndex(([id]) => half.champion.includes(`(${id})`)) + 1;
  return `- seed ${seed}: halving used ${(cpu * 100).toFixed(1)}% of the full run's trainer CPU (goal <= 40%: ${cpu <= 0.4 ? 'met' : 'not met'}); champion test accuracy ${pct(half.testAccuracy)}% vs ${pct(full.testAccuracy)}% (${gap > 0 ? '-' : gap < 0 ? '+' : '±'}${Math.abs(gap).toFixed(2)} points; goal within 0.5: ${Math.abs(gap) <= 0.5 || gap < 0 ? 'met' : 'not met'}); halving's champion is #${rankInFull || '?'} of the full run's ${full.cv.size} variants by full-fold CV mean.`;
});
const text = `# Random search: full evaluation vs successive halving over folds

- command: \`npx tsx benchmarks/search-halving.ts --seeds ${seeds} --first-seed ${firstSeed} --variants ${variants} --folds ${folds} --eta ${eta} --epochs ${epochs} --concurrency ${concurrency}\`
- date: ${startedAt}
- machine: ${os.cpus()[0]?.model ?? 'unknown'}, nproc ${os.cpus().length}, Node ${process.version}; backend wasm; ${concurrency} trainer processes
- load average (1, 5, 15 min) before: ${loadBefore}; after: ${load()} (the machine is shared: wall times are not comparable, trainer CPU seconds are)
- task: examples/fashion-mnist (base CNN pretrained on classes 0-4), 100 images per class of classes 5-9 (n = 500), ${folds} folds, no holdout; champion scored on the 5,000 official test images of classes 5-9
- search: random, ${variants} finetune variants per seed (lrMultiplier log 0.05..2, headLrMultiplier log 1..10, freezeDepth 0..7), learningRate 0.003, up to ${epochs} epochs, patience 3, batch 16; the same variants (same seed) for both modes
- halving: successive halving over folds, eta ${eta}: rung 0 = fold 0 of every variant, each next rung one more fold of the best ceil(n / eta), the last rung the remaining folds; champion = best full-fold mean among the variants that ran every fold

| seed | mode | trials run / planned | wall s | trainer CPU s | trial s (sum) | champion | CV mean | test accuracy % |
|---|---|---:|---:|---:|---:|---|---:|---:|
${runs.map(row).join('\n')}

Trainer CPU = user + system seconds of the trainer processes (cutime + cstime of this process);
trial s = the trainers' own wall time per trial (TrialResult.durationMs), summed. A trial of
the halving run is the same computation as the same trial of the full run (same plan seed,
variants and folds), so halving's champion is one of the full run's variants.

${verdicts.join('\n')}
`;
process.stdout.write(text);
if (values.out) await writeFile(values.out, text);
