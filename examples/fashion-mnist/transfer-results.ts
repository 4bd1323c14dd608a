/**
 * The results page of the fine-tuning practice on real data (issue 3): on the Fashion-MNIST
 * transfer task (the base CNN pretrained on classes 0-4, target classes 5-9) for n labelled target
 * images and several seeds, one sweep per (n, seed) with every strategy side by side: scratch,
 * finetune lr x1 and x0.1, finetune with the early layers frozen, bottleneck-linear, with and
 * without augmentation where it applies. Every fold's model of every variant is also scored on
 * the official test split (classes 5-9, 5,000 images), so each variant gets a test accuracy, not
 * only the champion.
 *
 *   npm run results                          (n = 100, 500, 2000; seeds 1, 2, 3; about an hour on 2 cores)
 *   npm run results -- --sizes 100 --seeds 1 --out /tmp/results.md   (a quick look)
 *   npm run results -- --render-only         (rewrite the page from the saved runs)
 *
 * Each finished run is saved at once to the `--data` JSON (default next to the page), and a rerun
 * skips runs already there with the same settings (`--fresh` starts over), so a long run that was
 * interrupted resumes. The page's verdicts ("where the practice held") are computed from the
 * numbers, not written by hand.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { localDeps } from '../../functions/deps/local.js';
import { writeEnsemble } from '../../shared/model/ensemble.js';
import { trialModelPrefix } from '../../shared/schemas/plan.js';
import { PATIENCE_STEPS_DEFAULT } from '../../shared/schemas/sweep-spec.js';
import { getLeaderboard, readTrialResults } from '../../shared/service/aggregate.js';
import { createSweep, loadPlan } from '../../shared/service/sweeps.js';
import { TfModelEvaluator } from '../../trainer/evaluate.js';
import { FASHION_MNIST_CLASSES } from './classes.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = resolve(here, '../..');
const DATA_DIR = '/usr/share/datasets/fashion-mnist';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100,500,2000' },
    seeds: { type: 'string', default: '1,2,3' },
    out: { type: 'string', default: join(repo, 'docs/results-fashion-mnist-transfer.md') },
    data: { type: 'string' },
    home: { type: 'string' },
    concurrency: { type: 'string' },
    epochs: { type: 'string', default: '40' },
    'patience-steps': { type: 'string', default: String(PATIENCE_STEPS_DEFAULT) },
    'render-only': { type: 'boolean', default: false },
    fresh: { type: 'boolean', default: false },
  },
});

const list = (flag: string, text: string) =>
  text.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n <= 0)
      throw new Error(`--${flag}: "${s}" is not a positive integer`);
    return n;
  });

const sizes = list('sizes', values.sizes);
const seeds = list('seeds', values.seeds);
const epochs = list('epochs', values.epochs)[0];
const patienceSteps = Number(values['patience-steps']);
if (!Number.isInteger(patienceSteps) || patienceSteps < 0) {
  throw new Error(`--patience-steps: "${values['patience-steps']}" is not a whole number >= 0`);
}
for (const n of sizes) {
  if (n % 5 !== 0) throw new Error(`--sizes: ${n} is not a multiple of 5 (5 target classes)`);
}
const outPath = resolve(values.out);
const dataPath = resolve(values.data ?? outPath.replace(/\.md$/, '.json'));

/** Everything that makes two runs comparable: a saved run is reused only when these match. */
const SETTINGS = {
  baseModel: 'examples/fashion-mnist/base-model/model.json',
  targetClasses: [5, 6, 7, 8, 9],
  folds: 3,
  holdoutFraction: 0,
  searchSpace: {
    strategy: ['finetune', 'bottleneck-linear', 'scratch'],
    freezeDepth: [0, 3],
    lrMultiplier: [1, 0.1],
    augment: [false, true],
    svmC: [0.1, 1, 10],
  },
  augmentation: { flip: true, rotationDegrees: 10, translateFraction: 0.1 },
  training: { learningRate: 0.003, epochs, batchSize: 16, patience: 6, patienceSteps },
};

interface VariantOutcome {
  description: string;
  strategy: string;
  cvMean: number | null;
  cvStd: number | null;
  /** Mean test accuracy of the variant's fold models (each trained on its fold's split). */
  testMean: number | null;
  testPerFold: number[];
  /** Mean wall time of one fold's training (the trainer's durationMs). */
  trainSeconds: number;
  epochsRun: number;
}

interface RunRecord {
  /** sha256 of the base model's weights.bin when the run was made (absent in older runs). */
  baseWeightsSha256?: string;
  n: number;
  seed: number;
  settings: string;
  sweepId: string;
  wallSeconds: number;
  championDescription: string | null;
  championTestAccuracy: number | null;
  /**
   * Test accuracy of the pick's fold ensemble (its fold models averaged: `"champion":
   * "ensemble"`), scored on the same test images (absent in runs saved before it was measured).
   */
  ensembleTestAccuracy?: number | null;
  variants: VariantOutcome[];
  finishedAt: string;
  /** os.loadavg() when the run finished (absent in runs saved before it was recorded). */
  loadAverage?: number[];
}

const settingsKey = JSON.stringify(SETTINGS);

/** Which base model a run used: the weights file's hash (the base is retrained by `npm run pretrain`). */
const BASE_WEIGHTS_SHA256 = createHash('sha256')
  .update(readFileSync(join(repo, SETTINGS.baseModel.replace(/model\.json$/, 'weights.bin'))))
  .digest('hex');
/** Benchmark pages the results page includes, after its own tables. */
const INCLUDED_BENCHMARKS = [
  {
    file: 'champion-kinds.md',
    heading: 'Which model becomes the champion: best fold, refit, fold ensemble',
  },
  {
    file: 'selection-rule.md',
    heading: 'Which variant wins: best mean, ties, one standard error',
  },
  {
    file: 'refit-epochs.md',
    heading: 'How long the refit trains, and its final learning-rate decay (the n=100 goal)',
  },
];

function loadRecords(): RunRecord[] {
  if (values.fresh || !existsSync(dataPath)) return [];
  const saved = JSON.parse(readFileSync(dataPath, 'utf8')) as { runs: RunRecord[] };
  return saved.runs;
}

function saveRecords(records: RunRecord[]) {
  records.sort((a, b) => a.n - b.n || a.seed - b.seed);
  writeFileSync(dataPath, `${JSON.stringify({ settings: SETTINGS, runs: records }, null, 2)}\n`);
}

function specFor(n: number, seed: number) {
  const dataset = (file: string) => ({
    uri: join(DATA_DIR, file),
    format: 'idx' as const,
    classNames: [...FASHION_MNIST_CLASSES],
  });
  return {
    name: `transfer-results-n${n}-seed${seed}`,
    baseModel: join(repo, SETTINGS.baseModel),
    dataset: {
      ...dataset('train-images-idx3-ubyte.gz'),
      subset: { classes: SETTINGS.targetClasses, perClass: n / 5, seed },
    },
    testSet: {
      ...dataset('t10k-images-idx3-ubyte.gz'),
      subset: { classes: SETTINGS.targetClasses },
    },
    folds: SETTINGS.folds,
    seed,
    holdoutFraction: SETTINGS.holdoutFraction,
    searchSpace: SETTINGS.searchSpace,
    augmentation: SETTINGS.augmentation,
    training: SETTINGS.training,
  };
}

async function runOne(
  n: number,
  seed: number,
  deps: ReturnType<typeof localDeps>,
): Promise<RunRecord> {
  const started = performance.now();
  const { sweep } = await createSweep(deps, specFor(n, seed));
  if (sweep.status === 'running') await deps.executor.waitFor(sweep.id);
  const wallSeconds = (performance.now() - started) / 1000;
  const plan = await loadPlan(deps, sweep.id);
  const board = await getLeaderboard(deps, sweep.id);
  const results = await readTrialResults(deps, sweep.id);
  const testSet = plan.testSet;
  if (!testSet) throw new Error('the plan has no test set');
  const evaluator = new TfModelEvaluator(deps.objects);
  const variants: VariantOutcome[] = [];
  for (const row of board.rows) {
    const mine = results.filter((r) => r.variantId === row.variantId);
    const testPerFold: number[] = [];
    for (const r of mine) {
      if (r.status !== 'succeeded') continue;
      const scored = await evaluator.evaluate(trialModelPrefix(sweep.id, r.trialIndex), testSet);
      testPerFold.push(scored.accuracy);
    }
    variants.push({
      description: row.description,
      strategy: row.strategy,
      cvMean: row.mean,
      cvStd: row.std,
      testMean: testPerFold.length > 0 ? mean(testPerFold) : null,
      testPerFold,
      trainSeconds: mean(mine.map((r) => r.durationMs / 1000)),
      epochsRun: mean(mine.map((r) => r.epochs.length)),
    });
  }
  const champion = await deps.state.getChampion(sweep.id);
  const championRow = board.rows.find((r) => r.variantId === board.bestVariantId);
  const ensembleTestAccuracy = await pickEnsembleAccuracy(deps, sweep.id);
  return {
    baseWeightsSha256: BASE_WEIGHTS_SHA256,
    n,
    seed,
    settings: settingsKey,
    sweepId: sweep.id,
    wallSeconds,
    championDescription: championRow?.description ?? null,
    championTestAccuracy: champion?.testAccuracy ?? null,
    ensembleTestAccuracy,
    variants,
    finishedAt: new Date().toISOString(),
    loadAverage: loadavg(),
  };
}

/** Test accuracy of the ensemble of the sweep's pick's fold models (null: no pick). */
async function pickEnsembleAccuracy(
  deps: ReturnType<typeof localDeps>,
  sweepId: string,
): Promise<number | null> {
  const plan = await loadPlan(deps, sweepId);
  const board = await getLeaderboard(deps, sweepId);
  const pick = plan.variants.find((v) => v.id === board.bestVariantId);
  if (!pick || !plan.testSet) return null;
  const members = plan.trials
    .filter((t) => t.variantIndex === pick.index)
    .map((t) => trialModelPrefix(sweepId, t.index));
  const prefix = `scratch/ensembles/${sweepId}`;
  await writeEnsemble(deps.objects, members, prefix);
  const scored = await new TfModelEvaluator(deps.objects).evaluate(prefix, plan.testSet);
  return scored.accuracy;
}

function mean(xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function sd(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

const pct = (x: number) => (100 * x).toFixed(1);
const meanSd = (xs: readonly number[]) =>
  xs.length === 0 ? 'n/a' : `${pct(mean(xs))} ± ${pct(sd(xs))}`;

/** Rows of the page in the practice's order, by the leaderboard's variant descriptions. */
const ROWS: { label: string; description: string }[] = [
  { label: 'scratch', description: 'scratch' },
  { label: 'scratch + aug', description: 'scratch aug' },
  { label: 'finetune lr×1', description: 'finetune freeze=0 lr×1' },
  { label: 'finetune lr×1 + aug', description: 'finetune freeze=0 lr×1 aug' },
  { label: 'finetune lr×0.1', description: 'finetune freeze=0 lr×0.1' },
  { label: 'finetune lr×0.1 + aug', description: 'finetune freeze=0 lr×0.1 aug' },
  { label: 'finetune freeze=3 lr×1', description: 'finetune freeze=3 lr×1' },
  { label: 'finetune freeze=3 lr×1 + aug', description: 'finetune freeze=3 lr×1 aug' },
  { label: 'finetune freeze=3 lr×0.1', description: 'finetune freeze=3 lr×0.1' },
  { label: 'finetune freeze=3 lr×0.1 + aug', description: 'finetune freeze=3 lr×0.1 aug' },
  { label: 'bottleneck-linear C=0.1', description: 'bottleneck-linear C=0.1' },
  { label: 'bottleneck-linear C=1', description: 'bottleneck-linear C=1' },
  { label: 'bottleneck-linear C=10', description: 'bottleneck-linear C=10' },
];

function outcomes(runs: RunRecord[], description: string): VariantOutcome[] {
  return runs.flatMap((r) => r.variants.filter((v) => v.description === description));
}

const testOf = (runs: RunRecord[], description: string) =>
  outcomes(runs, description)
    .map((v) => v.testMean)
    .filter((x): x is number => x !== null);

/** Per-seed test accuracy of the best of several variants, the best picked by CV in each run. */
function bestByCv(runs: RunRecord[], descriptions: readonly string[]): number[] {
  return runs.map((run) => {
    const candidates = run.variants.filter(
      (v) => descriptions.includes(v.description) && v.cvMean !== null,
    );
    candidates.sort((a, b) => (b.cvMean ?? 0) - (a.cvMean ?? 0));
    return candidates[0]?.testMean ?? Number.NaN;
  });
}

interface Claim {
  claim: string;
  /** Per seed: test accuracy of what the practice recommends, and of what it advises against. */
  compare(runs: RunRecord[]): { favoured: number[]; other: number[] };
  favouredLabel: string;
  otherLabel: string;
  /** The sizes the practice says the claim is for; elsewhere a miss is expected. */
  appliesTo: (n: number) => boolean;
  /** How a cell reads, when not as held / did not hold. */
  describe?: (diffs: number[]) => string;
}

const FINETUNES = ROWS.filter((r) => r.description.startsWith('finetune')).map(
  (r) => r.description,
);
const SVMS = ROWS.filter((r) => r.description.startsWith('bottleneck')).map((r) => r.description);

/** A claim comparing two variants of the page, seed by seed. */
const pair = (
  claim: string,
  favoured: string,
  other: string,
  appliesTo: (n: number) => boolean = () => true,
): Claim => ({
  claim,
  favouredLabel: favoured,
  otherLabel: other,
  compare: (runs) => ({ favoured: seedwise(runs, favoured), other: seedwise(runs, other) }),
  appliesTo,
});

const CLAIMS: Claim[] = [
  {
    claim: 'Transfer beats training from scratch (scratch is the baseline to beat)',
    favouredLabel: 'best transfer variant (by CV)',
    otherLabel: 'scratch',
    compare: (runs) => ({
      favoured: bestByCv(runs, [...FINETUNES, ...SVMS]),
      other: seedwise(runs, 'scratch'),
    }),
    appliesTo: () => true,
  },
  pair(
    'Fine-tune with a 10x smaller learning rate than from scratch (practice 2)',
    'finetune freeze=0 lr×0.1',
    'finetune freeze=0 lr×1',
  ),
  pair(
    'Freeze the first layers, train the later ones (practice 3), at lr×1',
    'finetune freeze=3 lr×1',
    'finetune freeze=0 lr×1',
  ),
  pair(
    'Freeze the first layers, train the later ones (practice 3), at lr×0.1',
    'finetune freeze=3 lr×0.1',
    'finetune freeze=0 lr×0.1',
  ),
  pair(
    'Augmentation helps a small dataset (practice 4), fine-tuning at lr×1',
    'finetune freeze=0 lr×1 aug',
    'finetune freeze=0 lr×1',
  ),
  pair('Augmentation helps a small dataset (practice 4), from scratch', 'scratch aug', 'scratch'),
  {
    claim:
      'Under ~1,000 samples, a linear SVM on bottleneck features beats fine-tuning (practice 5)',
    favouredLabel: 'bottleneck-linear (C by CV)',
    otherLabel: 'best finetune (by CV)',
    compare: (runs) => ({ favoured: bestByCv(runs, SVMS), other: bestByCv(runs, FINETUNES) }),
    appliesTo: (n) => n < 1000,
  },
  {
    claim: "The sweep's CV ranking picks well (its pick vs the best variant on test)",
    favouredLabel: "the sweep's pick",
    otherLabel: 'best variant on test (hindsight)',
    compare: (runs) => ({
      favoured: bestByCv(runs, [...FINETUNES, ...SVMS, 'scratch', 'scratch aug']),
      other: runs.map((run) => Math.max(...run.variants.map((v) => v.testMean ?? 0))),
    }),
    appliesTo: () => true,
    describe: (diffs) =>
      `the pick is ${pct(-mean(diffs))} points below the hindsight best; it was the best in ${diffs.filter((d) => d >= 0).length} of ${diffs.length} seeds`,
  },
];

function seedwise(runs: RunRecord[], description: string): number[] {
  return runs.map(
    (run) => run.variants.find((v) => v.description === description)?.testMean ?? Number.NaN,
  );
}

function verdict(diffs: number[], applies: boolean): string {
  const m = mean(diffs);
  const se = sd(diffs) / Math.sqrt(diffs.length);
  const wins = diffs.filter((d) => d > 0).length;
  const of = `${wins} of ${diffs.length} seeds`;
  if (diffs.length >= 2 && Math.abs(m) <= 2 * se) return `no clear difference (${of})`;
  if (m > 0) return applies ? `**held** (${of})` : `held here too (${of})`;
  return applies ? `**did not hold** (${of})` : `did not hold, as expected at this size (${of})`;
}

function render(records: RunRecord[]): string {
  // The runs made with today's settings; when there are none yet (the settings changed since),
  // the saved runs as they are, with the note below saying what they were made with.
  const matching = records.filter((r) => r.settings === settingsKey);
  const current = matching.length > 0 ? matching : records;
  const sizesDone = [...new Set(current.map((r) => r.n))].sort((a, b) => a - b);
  const lines: string[] = [];
  const seedsOf = (n: number) => current.filter((r) => r.n === n).map((r) => r.seed);
  lines.push(
    '# Fine-tuning practice on real data: Fashion-MNIST transfer results',
    '',
    'Generated by `npm run results` (examples/fashion-mnist/transfer-results.ts); do not edit by hand.',
    `The runs are in [${relative(resolve(outPath, '..'), dataPath)}](${relative(resolve(outPath, '..'), dataPath)}).`,
    '',
    '## The task',
    '',
    '- Base model: the example CNN (`conv1, pool1, conv2, pool2, conv3, gap, fc1` + softmax),',
    '  pretrained on Fashion-MNIST classes 0-4 (T-shirt/top, Trouser, Pullover, Dress, Coat) by',
    '  `npm run pretrain`. Target: classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot).',
    '- For each n (labelled target images, n/5 per class, drawn from the official training split',
    '  with the seed) and each seed: one sweep, 3 stratified folds (seeded), no holdout, every',
    `  variant below. Training: Adam, scratch rate ${SETTINGS.training.learningRate}, batch ${SETTINGS.training.batchSize}, up to ${SETTINGS.training.epochs} epochs,`,
    `  early stopping on validation accuracy (patience ${SETTINGS.training.patience}), best weights kept.`,
    '  Augmentation: horizontal flip, rotation ±10°, translation ±10%, training batches only.',
    '  bottleneck-linear trains a one-vs-rest squared-hinge linear SVM on the frozen `fc1` features',
    '  (cached once per dataset).',
    ...(current.some((r) => r.baseWeightsSha256 !== BASE_WEIGHTS_SHA256)
      ? [
          `- **Note:** ${current.filter((r) => r.baseWeightsSha256 !== BASE_WEIGHTS_SHA256).length} of the ${current.length} runs below were made with an earlier example base model than the one committed now (\`npm run pretrain\` has been strengthened since: see docs/benchmarks/pretrain-base.md), and with the early-stopping and champion defaults of their time (patience ${SETTINGS.training.patience} epochs without \`patienceSteps\`; the best fold's model as the champion). The current defaults are measured on the current base in "Which model becomes the champion" below; regenerate this page with \`npm run results -- --fresh\` (about 3 hours on 2 cores).`,
        ]
      : []),
    "- **CV**: the variant's fold-averaged validation accuracy in the sweep (the number the sweep",
    "  ranks by). **Test**: the mean accuracy of the variant's 3 fold models on the official test",
    '  split of classes 5-9 (5,000 images, never seen by any sweep). Each cell: mean ± standard',
    "  deviation over the seeds. **s/fold**: mean wall seconds of one fold's training (2 trials ran",
    '  at once on a 2-core machine, so this is under load).',
    '',
  );
  for (const n of sizesDone) {
    const runs = current.filter((r) => r.n === n);
    lines.push(
      `## n = ${n} (${n / 5} per class; seeds ${seedsOf(n).join(', ')})`,
      '',
      '| variant | CV accuracy % | test accuracy % | test range % | s/fold | epochs |',
      '|---|---:|---:|---:|---:|---:|',
    );
    const ranked = ROWS.map((row) => ({ row, test: testOf(runs, row.description) })).filter(
      (x) => x.test.length > 0,
    );
    const bestTest = Math.max(...ranked.map((x) => mean(x.test)));
    for (const { row, test } of ranked) {
      const found = outcomes(runs, row.description);
      const cv = found.map((v) => v.cvMean).filter((x): x is number => x !== null);
      const label = mean(test) === bestTest ? `**${row.label}**` : row.label;
      lines.push(
        `| ${label} | ${meanSd(cv)} | ${meanSd(test)} | ${pct(Math.min(...test))}-${pct(Math.max(...test))} | ${mean(found.map((v) => v.trainSeconds)).toFixed(1)} | ${mean(found.map((v) => v.epochsRun)).toFixed(1)} |`,
      );
    }
    const picks = runs.map(
      (r) =>
        `${r.championDescription} (${pct(r.championTestAccuracy ?? Number.NaN)}%` +
        (typeof r.ensembleTestAccuracy === 'number'
          ? `; fold ensemble ${pct(r.ensembleTestAccuracy)}%)`
          : ')'),
    );
    lines.push(
      '',
      runs.some((r) => typeof r.ensembleTestAccuracy === 'number')
        ? `The sweep's own pick (best CV mean; test accuracy in brackets of its champion, the best fold's model, and of the ensemble of its fold models, \`"champion": "ensemble"\`): ${picks.join('; ')}.`
        : `The sweep's own pick (best CV mean; its champion is the best fold's model, test accuracy in brackets): ${picks.join('; ')}.`,
      `Sweep wall time: ${runs.map((r) => `${(r.wallSeconds / 60).toFixed(1)} min`).join(', ')}.`,
      '',
    );
  }
  lines.push(
    '## Where the practice held',
    '',
    'Each claim compares, seed by seed, the test accuracy of what the practice recommends with',
    'what it advises against (Δ = recommended − other, percentage points, mean ± sd over seeds).',
    '"No clear difference" means |mean Δ| is within two standard errors (sd / √seeds) of 0.',
    '',
    `| claim | recommended vs other | ${sizesDone.map((n) => `n = ${n}`).join(' | ')} |`,
    `|---|---|${sizesDone.map(() => '---').join('|')}|`,
  );
  for (const claim of CLAIMS) {
    const cells = sizesDone.map((n) => {
      const { favoured, other } = claim.compare(current.filter((r) => r.n === n));
      const diffs = favoured.map((f, i) => f - other[i]).filter((d) => Number.isFinite(d));
      if (diffs.length === 0) return 'n/a';
      const reading = claim.describe?.(diffs) ?? verdict(diffs, claim.appliesTo(n));
      return `Δ ${pct(mean(diffs))} ± ${pct(sd(diffs))}: ${reading}`;
    });
    lines.push(
      `| ${claim.claim} | ${claim.favouredLabel} vs ${claim.otherLabel} | ${cells.join(' | ')} |`,
    );
  }
  for (const { file, heading } of INCLUDED_BENCHMARKS) {
    // The champion benchmarks (benchmarks/champion-kinds.ts, selection-rule.ts, refit-epochs.ts).
    const path = join(repo, 'docs/benchmarks', file);
    if (!existsSync(path)) continue;
    const body = readFileSync(path, 'utf8')
      .replace(/^# .*\n/, '')
      .replace(/^## /gm, '### ')
      .replace(/\]\((?!https?:)([^)]+)\)/g, (_, link: string) => `](${join('benchmarks', link)})`);
    lines.push(
      '',
      `## ${heading}`,
      '',
      `From [benchmarks/${file}](benchmarks/${file}), included here:`,
      body.trimEnd(),
    );
  }
  const finished = current.map((r) => r.finishedAt).sort();
  const loads = current.flatMap((r) => (r.loadAverage ? [r.loadAverage[0]] : []));
  lines.push(
    '',
    '## How this was run',
    '',
    `- command: \`npm run results -- --sizes ${sizesDone.join(',')} --seeds ${[...new Set(current.map((r) => r.seed))].join(',')}\``,
    `- machine: ${cpus()[0]?.model ?? 'unknown CPU'}, nproc ${cpus().length}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}; trainer backend wasm (SIMD kernels)`,
    `- runs finished ${finished[0] ?? 'n/a'} to ${finished.at(-1) ?? 'n/a'}` +
      (loads.length > 0
        ? `; 1-minute load average at the end of each run ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} (above nproc: other work shared the cores)`
        : ''),
    '',
  );
  return lines.join('\n');
}

let records = loadRecords();
if (!values['render-only']) {
  const home = values.home ?? join(tmpdir(), 'foldsweep-transfer-results');
  const deps = localDeps({
    home,
    concurrency: values.concurrency ? Number(values.concurrency) : undefined,
    backend: 'wasm',
  });
  try {
    for (const n of sizes) {
      for (const seed of seeds) {
        const done = records.find(
          (r) => r.n === n && r.seed === seed && r.settings === settingsKey,
        );
        if (done) {
          process.stderr.write(`n=${n} seed=${seed}: saved run reused (${done.sweepId})\n`);
          if (done.ensembleTestAccuracy === undefined) {
            // Measured after the run was saved: from its fold models, if the home still has them.
            done.ensembleTestAccuracy = await pickEnsembleAccuracy(deps, done.sweepId).catch(
              (err: unknown) => {
                process.stderr.write(`  no ensemble measured: ${String(err)}\n`);
                return undefined;
              },
            );
            saveRecords(records);
          }
          continue;
        }
        process.stderr.write(`n=${n} seed=${seed}: sweeping ...\n`);
        const record = await runOne(n, seed, deps);
        records = [...records.filter((r) => !(r.n === n && r.seed === seed)), record];
        saveRecords(records);
        process.stderr.write(
          `n=${n} seed=${seed}: ${(record.wallSeconds / 60).toFixed(1)} min, pick ${record.championDescription} test ${pct(record.championTestAccuracy ?? Number.NaN)}%\n`,
        );
      }
    }
  } finally {
    await deps.close();
  }
}
writeFileSync(outPath, render(records));
process.stderr.write(`wrote ${outPath} (${records.length} runs in ${dataPath})\n`);
