/**
 * How many epochs should the refit train? The refit (spec `champion: "refit"`) trains the winning
 * variant once more on every non-holdout image, with no validation split to stop on, so its epoch
 * count comes from the folds' early stopping (shared/planner/refit.ts `refitEpochs`). This
 * compares the rules on sweeps already run by benchmarks/selection-rule.ts (n = 100, 500) and
 * benchmarks/champion-kinds.ts (n = 2000): for each sweep, its `best-mean` pick is trained on all
 * n images once per rule, each time with the same seed (a trial's seed comes from the sweep's
 * seed, the variant and the fold: trainer/strategies/strategy.ts trialSeed), so the rules differ
 * only in how long they train; each model is scored on the 5,000 official test images. Beside
 * them, from selection-rule.json: every variant trained by hand for the full epoch count (the
 * same seed again, so `budget` is the pick's by-hand model, up to kernel rounding changes made
 * since).
 *
 *   npx tsx benchmarks/refit-epochs.ts
 *        [--source docs/benchmarks/selection-rule.json=/tmp/foldsweep-pick-explore ...]
 *        [--out docs/benchmarks/refit-epochs.md] [--render-only]
 *
 * --source JSON=HOME (repeatable): the runs of a benchmark's JSON whose sweeps are in HOME (runs
 * with patienceSteps other than the default are skipped; the first source of an (n, seed) wins).
 * Each finished run is saved at once to the JSON beside --out; a rerun reuses saved runs.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { localDeps } from '../functions/deps/local.js';
import { buildLeaderboard } from '../shared/aggregation/leaderboard.js';
import {
  REFIT_EPOCH_RULE,
  REFIT_EPOCH_RULES,
  REFIT_FINAL_DECAY,
  type RefitEpochRule,
  refitEpochs,
} from '../shared/planner/refit.js';
import { describeVariant } from '../shared/planner/variants.js';
import { PATIENCE_STEPS_DEFAULT } from '../shared/schemas/sweep-spec.js';
import { readTrialResults } from '../shared/service/aggregate.js';
import { loadPlan } from '../shared/service/sweeps.js';
import { selectBackend } from '../trainer/backend.js';
import { TfModelEvaluator } from '../trainer/evaluate.js';
import {
  BASE_MODEL,
  mean,
  meanSd,
  pct,
  repo,
  TRAINING,
  trainOnAllImages,
} from './transfer-task.js';

const { values } = parseArgs({
  options: {
    source: {
      type: 'string',
      multiple: true,
      default: [
        'docs/benchmarks/selection-rule.json=/tmp/foldsweep-pick-explore',
        'docs/benchmarks/champion-kinds.json=/tmp/ck-run',
      ],
    },
    out: { type: 'string', default: resolve(repo, 'docs/benchmarks/refit-epochs.md') },
    'render-only': { type: 'boolean', default: false },
  },
});
/**
 * The refits compared: every epoch rule at a constant learning rate, and the two longest rules
 * with the learning rate falling to zero over the last quarter of the steps (finalDecay 0.25).
 */
const CONFIGS: { key: string; rule: RefitEpochRule; finalDecay: number }[] = [
  ...REFIT_EPOCH_RULES.map((rule) => ({ key: rule, rule, finalDecay: 0 })),
  { key: 'max, decay 0.25', rule: 'max', finalDecay: 0.25 },
  { key: 'budget, decay 0.25', rule: 'budget', finalDecay: 0.25 },
];
/**
 * When the default (budget, decay 0.25) was chosen, after reading the runs finished before it;
 * runs finished later (on sweeps run later, seeds 11-16 at n=100) check it on data it was not
 * chosen on, and the page shows them apart.
 */
const DEFAULT_CHOSEN_AT = '2026-12-03T20:41:00Z';
const outPath = resolve(values.out);
const dataPath = outPath.replace(/\.md$/, '.json');

interface SourceRun {
  n: number;
  seed: number;
  sweepId: string;
  patienceSteps?: number;
  variants?: { variant: string; test: { byHand: number } }[];
}
interface Run {
  n: number;
  seed: number;
  sweepId: string;
  pick: string;
  /** 1-based best epoch of each of the pick's folds. */
  foldBestEpochs: number[];
  /** Per CONFIGS key: the epochs it chose and the test accuracy of the pick so trained. */
  rules: Record<string, { epochs: number; test: number }>;
  /** From selection-rule.json when it has the run: each variant by hand (full epochs). */
  byHand: { variant: string; test: number }[] | null;
  loadAverage: number[];
  finishedAt: string;
}

let runs: Run[] = existsSync(dataPath)
  ? (JSON.parse(readFileSync(dataPath, 'utf8')) as { runs: Run[] }).runs
  : [];
const save = () =>
  writeFileSync(dataPath, `${JSON.stringify({ training: TRAINING, runs }, null, 1)}\n`);

/** The run of `source`, with every config in CONFIGS that `saved` (an earlier run) lacks. */
async function runOne(home: string, source: SourceRun, saved?: Run): Promise<Run> {
  const deps = localDeps({ home, backend: 'wasm' });
  try {
    const plan = await loadPlan(deps, source.sweepId);
    const board = buildLeaderboard(
      { ...plan, selection: 'best-mean' },
      await readTrialResults(deps, source.sweepId),
    );
    const pick = plan.variants.find((v) => v.id === board.bestVariantId);
    if (!pick) throw new Error(`sweep ${source.sweepId} has no champion`);
    const records = await deps.state.listTrials(source.sweepId);
    const bestEpochs = plan.trials
      .filter((t) => t.variantIndex === pick.index)
      .map((t) => records.find((r) => r.trialIndex === t.index)?.bestEpoch);
    const foldBestEpochs = bestEpochs.map((e) => (e ?? TRAINING.epochs - 1) + 1);
    const { tf } = await selectBackend({ prefer: 'wasm' });
    const context = { deps, tf, evaluator: new TfModelEvaluator(deps.objects) };
    // selection-rule.ts's refit index for this variant: the median rule reproduces its number.
    const trialIndex = plan.trials.length + 1 + 2 * pick.index;
    // One model per (epochs, finalDecay): configs that agree on both share it.
    const trained = new Map<string, number>();
    const rules: Run['rules'] = { ...saved?.rules };
    for (const { key, rule, finalDecay } of CONFIGS) {
      const epochs = refitEpochs(foldBestEpochs, TRAINING.epochs, rule);
      const same = CONFIGS.find(
        (c) =>
          rules[c.key] &&
          c.finalDecay === finalDecay &&
          refitEpochs(foldBestEpochs, TRAINING.epochs, c.rule) === epochs,
      );
      const test =
        rules[key]?.test ??
        (same ? rules[same.key]?.test : undefined) ??
        trained.get(`${epochs}/${finalDecay}`) ??
        (await trainOnAllImages(context, plan, pick.index, bestEpochs, trialIndex, {
          rule,
          finalDecay,
        }));
      trained.set(`${epochs}/${finalDecay}`, test);
      rules[key] = { epochs, test };
      process.stderr.write(`  ${key}: ${epochs} epochs -> ${pct(test)}%\n`);
    }
    return {
      n: source.n,
      seed: source.seed,
      sweepId: source.sweepId,
      pick: describeVariant(pick),
      foldBestEpochs,
      rules,
      byHand: source.variants?.map((v) => ({ variant: v.variant, test: v.test.byHand })) ?? null,
      loadAverage: loadavg(),
      finishedAt: new Date().toISOString(),
    };
  } finally {
    await deps.close();
  }
}

function render(all: Run[]): string {
  const ns = [...new Set(all.map((r) => r.n))].sort((a, b) => a - b);
  const loads = all.map((r) => r.loadAverage[0]);
  const dates = all.map((r) => r.finishedAt.slice(0, 16)).sort();
  const link = relative(resolve(outPath, '..'), dataPath);
  const byHandPick = (r: Run) => r.byHand?.find((v) => v.variant === r.pick)?.test;
  const bestFixed = (rs: Run[]) => {
    const names = [...new Set(rs.flatMap((r) => r.byHand?.map((v) => v.variant) ?? []))];
    const means = names.map((name) => ({
      name,
      mean: mean(
        rs.flatMap((r) => r.byHand?.filter((v) => v.variant === name) ?? []).map((v) => v.test),
      ),
    }));
    return means.sort((a, b) => b.mean - a.mean)[0];
  };
  const lines = [
    '# How long the refit trains: the epoch rule',
    '',
    `Generated by \`npx tsx benchmarks/refit-epochs.ts\` (the runs are in [${link}](${link})); do not edit by hand.`,
    '',
    `- machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}; backend wasm, one training at a time`,
    `- dates: ${dates[0] ?? ''} to ${dates.at(-1) ?? ''} UTC; 1-minute load average when runs finished: ${loads.length ? `${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}` : 'n/a'}`,
    `- task: \`${BASE_MODEL}\` (pretrained on Fashion-MNIST classes 0-4), n labelled images of classes 5-9 drawn with the seed, 3 folds, no holdout; the grid: scratch, finetune freeze 0 and 3, bottleneck-linear C=1; Adam ${TRAINING.learningRate}, batch ${TRAINING.batchSize}, up to ${TRAINING.epochs} epochs, patience ${TRAINING.patience}, the default patienceSteps`,
    '- the sweeps: those of [selection-rule.md](selection-rule.md) (n = 100 and 500) and of [champion-kinds.md](champion-kinds.md) (n = 2000), reused; the pick is `selection: "best-mean"`\'s',
    "- the rules (shared/planner/refit.ts): **median** of the pick's folds' best epochs; **scaled**, the median x 3/2 (the refit's training set is 3/2 of a fold's); **max**, the latest fold's best epoch; **budget**, training.epochs; each rounded up, at most training.epochs",
    "- every rule's model is the pick trained on all n images with the same seed (same initialisation and batch order: a trial's seed comes from the sweep's seed, the variant and the fold), so the rules differ only in their epoch count; rules that chose the same count share one model",
    '- **by hand**: every variant trained on all n images for the full epoch count, no sweep, from [selection-rule.json](selection-rule.json) (same seeds, so the pick by hand is the **budget** model; they differ in the decimals where the round-3 kernels, merged after those runs, round differently); **best in hindsight**: the best variant per seed on the test set; **best fixed variant**: the one variant with the best mean over the seeds, what one would train without a sweep had one known it',
    "- **decay 0.25**: the same epochs with the learning rate falling linearly toward zero over the last quarter of the refit's steps (trainer/train.ts `finalDecay`); without it the rate is constant and the refit keeps wherever its last step lands",
    `- the refit in use: rule **${REFIT_EPOCH_RULE}**, final decay **${REFIT_FINAL_DECAY}**, chosen at ${DEFAULT_CHOSEN_AT.slice(0, 16)} UTC after reading the runs finished before then; where a size also has runs finished after (new sweeps, new seeds), they get rows of their own: the check on data the choice was not made on`,
    '- test accuracy on the 5,000 official test images of classes 5-9; mean ± sd over the seeds',
    '',
    `| n | seeds | ${CONFIGS.map((c) => `${c.key} %`).join(' | ')} | epochs (mean), ${REFIT_EPOCH_RULES.join(' / ')} | by hand, the pick % | by hand, best fixed variant % | by hand, best in hindsight % |`,
    `|---:|---|${CONFIGS.map(() => '---:|').join('')}---|---:|---|---:|`,
  ];
  // Every run of a size, then (when there are both) those chosen on and those run after.
  const groups = ns.flatMap((n) => {
    const rs = all.filter((r) => r.n === n).sort((a, b) => a.seed - b.seed);
    const after = rs.filter((r) => r.finishedAt > DEFAULT_CHOSEN_AT);
    return after.length && after.length < rs.length
      ? [rs, rs.filter((r) => r.finishedAt <= DEFAULT_CHOSEN_AT), after]
      : [rs];
  });
  for (const rs of groups) {
    const n = rs[0]?.n;
    const hand = rs.filter((r) => r.byHand);
    const fixed = bestFixed(hand);
    lines.push(
      `| ${n} | ${rs.map((r) => r.seed).join(', ')} | ${CONFIGS.map((c) => meanSd(rs.flatMap((r) => r.rules[c.key]?.test ?? []))).join(' | ')} | ${REFIT_EPOCH_RULES.map((rule) => mean(rs.map((r) => r.rules[rule].epochs)).toFixed(1)).join(' / ')} | ${hand.length ? meanSd(hand.flatMap((r) => byHandPick(r) ?? [])) : 'not run'} | ${fixed ? `${fixed.name}: ${pct(fixed.mean)}` : 'not run'} | ${hand.length ? meanSd(hand.map((r) => Math.max(...(r.byHand ?? []).map((v) => v.test)))) : 'not run'} |`,
    );
  }
  lines.push(
    '',
    '## Per run',
    '',
    `| n | seed | pick | fold best epochs | ${CONFIGS.map((c) => `${c.key}: epochs → test %`).join(' | ')} | by hand, the pick % | by hand, best % |`,
    `|---:|---:|---|---|${CONFIGS.map(() => '---|').join('')}---:|---:|`,
  );
  for (const r of [...all].sort((a, b) => a.n - b.n || a.seed - b.seed)) {
    lines.push(
      `| ${r.n} | ${r.seed} | ${r.pick} | ${r.foldBestEpochs.join(', ')} | ${CONFIGS.map((c) => (r.rules[c.key] ? `${r.rules[c.key].epochs} → ${pct(r.rules[c.key].test)}` : 'n/a')).join(' | ')} | ${pct(byHandPick(r))} | ${r.byHand ? pct(Math.max(...r.byHand.map((v) => v.test))) : 'n/a'} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

if (!values['render-only']) {
  for (const entry of values.source) {
    const [jsonPath, home] = entry.split('=');
    if (!jsonPath || !home) throw new Error(`--source: "${entry}" is not JSON=HOME`);
    const sourceRuns = (
      JSON.parse(readFileSync(resolve(repo, jsonPath), 'utf8')) as { runs: SourceRun[] }
    ).runs;
    for (const source of sourceRuns) {
      if ((source.patienceSteps ?? PATIENCE_STEPS_DEFAULT) !== PATIENCE_STEPS_DEFAULT) continue;
      const saved = runs.find((r) => r.n === source.n && r.seed === source.seed);
      if (saved && (saved.sweepId !== source.sweepId || CONFIGS.every((c) => saved.rules[c.key]))) {
        continue;
      }
      process.stderr.write(`n=${source.n} seed=${source.seed} (${source.sweepId} in ${home})\n`);
      const run = await runOne(home, source, saved);
      runs = [...runs.filter((r) => r !== saved), run];
      save();
    }
  }
}
writeFileSync(outPath, render(runs));
process.stderr.write(`wrote ${outPath} (${runs.length} runs)\n`);
