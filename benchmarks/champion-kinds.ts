/**
 * Which model should be the champion: the best fold's, the refit on every image, or the fold
 * ensemble? On the Fashion-MNIST transfer task (the committed base CNN pretrained on classes 0-4,
 * target classes 5-9), for n labelled target images and several seeds: one sweep (3 folds, no
 * holdout, a compact grid: scratch, finetune freeze 0 and 3, bottleneck-linear) with
 * `champion: "refit"`. From the same sweep: the refit champion's test accuracy, the best fold's
 * model's, and the fold ensemble's, all on the 5,000 official test images of classes 5-9.
 * Beside them, for the sizes in --all-images-sizes, every variant trained by hand on all n images
 * for the spec's full epoch count, without a sweep (no folds, no early stopping): the goal at
 * n=100 is a refit champion at least as good as the best of those. For --before-sizes the sweep
 * runs again with the old early stopping (`patienceSteps: 0`) to show the defaults before/after.
 *
 *   npx tsx benchmarks/champion-kinds.ts [--sizes 100,500,2000] [--seeds 1,2,3]
 *        [--all-images-sizes 100] [--before-sizes 100,500] [--concurrency 2]
 *        [--out docs/benchmarks/champion-kinds.md] [--render-only]
 *
 * Each finished run is saved at once to the JSON beside --out; a rerun reuses saved runs.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { localDeps } from '../functions/deps/local.js';
import { writeEnsemble } from '../shared/model/ensemble.js';
import { describeVariant } from '../shared/planner/variants.js';
import { trialModelPrefix } from '../shared/schemas/plan.js';
import { PATIENCE_STEPS_DEFAULT } from '../shared/schemas/sweep-spec.js';
import { getLeaderboard } from '../shared/service/aggregate.js';
import { createSweep, loadPlan } from '../shared/service/sweeps.js';
import { selectBackend } from '../trainer/backend.js';
import { TfModelEvaluator } from '../trainer/evaluate.js';
import {
  BASE_MODEL,
  mean,
  meanSd,
  pct,
  repo,
  SEARCH_SPACE,
  TRAINING,
  taskSpec,
  trainOnAllImages,
} from './transfer-task.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100,500,2000' },
    seeds: { type: 'string', default: '1,2,3' },
    'all-images-sizes': { type: 'string', default: '100' },
    'before-sizes': { type: 'string', default: '100,500' },
    concurrency: { type: 'string', default: '2' },
    home: { type: 'string' },
    out: { type: 'string', default: join(repo, 'docs/benchmarks/champion-kinds.md') },
    'render-only': { type: 'boolean', default: false },
  },
});
const list = (text: string) =>
  text
    .split(',')
    .filter((s) => s.trim() !== '')
    .map((s) => {
      const n = Number(s.trim());
      if (!Number.isInteger(n) || n <= 0) throw new Error(`"${s}" is not a positive integer`);
      return n;
    });
const sizes = list(values.sizes);
const seeds = list(values.seeds);
const allImagesSizes = new Set(list(values['all-images-sizes']));
const beforeSizes = new Set(list(values['before-sizes']));
const outPath = resolve(values.out);
const dataPath = outPath.replace(/\.md$/, '.json');

interface Run {
  n: number;
  seed: number;
  patienceSteps: number;
  sweepId: string;
  wallSeconds: number;
  pick: string;
  cvMean: number;
  refitEpochs: number | null;
  foldBestEpochs: number[];
  test: { refit: number | null; bestFold: number; ensemble: number };
  /** Every variant trained on all n images for TRAINING.epochs, no sweep: test accuracy. */
  allImages?: { variant: string; test: number }[];
  loadAverage: number[];
  finishedAt: string;
}

const specFor = (n: number, seed: number, patienceSteps: number) =>
  taskSpec(`champion-kinds-n${n}-seed${seed}-ps${patienceSteps}`, n, seed, {
    champion: 'refit',
    selection: 'best-mean',
    training: { patienceSteps },
  });

async function runOne(
  deps: ReturnType<typeof localDeps>,
  n: number,
  seed: number,
  patienceSteps: number,
): Promise<Run> {
  const started = performance.now();
  const { sweep } = await createSweep(deps, specFor(n, seed, patienceSteps));
  if (sweep.status === 'running') await deps.executor.waitFor(sweep.id);
  const wallSeconds = (performance.now() - started) / 1000;
  const plan = await loadPlan(deps, sweep.id);
  const board = await getLeaderboard(deps, sweep.id);
  const champion = await deps.state.getChampion(sweep.id);
  const best = board.rows.find((r) => r.variantId === board.bestVariantId);
  const testSet = plan.testSet;
  if (!best || best.bestTrialIndex === null || best.mean === null || !champion || !testSet) {
    throw new Error(`sweep ${sweep.id} has no champion`);
  }
  const evaluator = new TfModelEvaluator(deps.objects);
  const score = async (prefix: string) => (await evaluator.evaluate(prefix, testSet)).accuracy;
  const pick = plan.variants.find((v) => v.id === best.variantId);
  if (!pick) throw new Error('the pick is not in the plan');
  const folds = plan.trials.filter((t) => t.variantIndex === pick.index);
  const ensemblePrefix = `scratch/ensembles/${sweep.id}`;
  await writeEnsemble(
    deps.objects,
    folds.map((t) => trialModelPrefix(sweep.id, t.index)),
    ensemblePrefix,
  );
  const records = await deps.state.listTrials(sweep.id);
  const refitted = champion.trialIndex === plan.trials.length;
  const run: Run = {
    n,
    seed,
    patienceSteps,
    sweepId: sweep.id,
    wallSeconds,
    pick: best.description,
    cvMean: best.mean,
    refitEpochs: refitted
      ? (records.find((t) => t.trialIndex === champion.trialIndex)?.bestEpoch ?? -1) + 1
      : null,
    foldBestEpochs: folds.map(
      (t) => (records.find((r) => r.trialIndex === t.index)?.bestEpoch ?? -1) + 1,
    ),
    test: {
      refit: refitted ? (champion.testAccuracy ?? null) : null,
      bestFold: await score(trialModelPrefix(sweep.id, best.bestTrialIndex)),
      ensemble: await score(ensemblePrefix),
    },
    loadAverage: loadavg(),
    finishedAt: new Date().toISOString(),
  };
  if (allImagesSizes.has(n) && patienceSteps === PATIENCE_STEPS_DEFAULT) {
    // By hand, without a sweep: each variant on all n images for the full epoch count.
    const { tf } = await selectBackend({ prefer: 'wasm' });
    run.allImages = [];
    for (const variant of plan.variants) {
      run.allImages.push({
        variant: describeVariant(variant),
        test: await trainOnAllImages(
          { deps, tf, evaluator },
          plan,
          variant.index,
          [],
          plan.trials.length + 1 + variant.index,
        ),
      });
    }
  }
  return run;
}

function render(runs: Run[]): string {
  const after = runs.filter((r) => r.patienceSteps === PATIENCE_STEPS_DEFAULT);
  const before = runs.filter((r) => r.patienceSteps === 0);
  const ns = [...new Set(after.map((r) => r.n))].sort((a, b) => a - b);
  const info = JSON.parse(
    readFileSync(join(repo, 'examples/fashion-mnist/base-model/pretrain-info.json'), 'utf8'),
  ) as { testAccuracyOnClasses0to4?: number };
  const loads = runs.map((r) => r.loadAverage[0]);
  const lines = [
    '# Champion kinds: best fold vs refit vs fold ensemble',
    '',
    'Generated by `npx tsx benchmarks/champion-kinds.ts` (the runs are in',
    `[${relative(resolve(outPath, '..'), dataPath)}](${relative(resolve(outPath, '..'), dataPath)})); do not edit by hand.`,
    '',
    `- machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}; backend wasm, 2 trainer processes`,
    `- dates: ${runs.map((r) => r.finishedAt.slice(0, 16)).sort()[0] ?? ''} to ${
      runs
        .map((r) => r.finishedAt.slice(0, 16))
        .sort()
        .at(-1) ?? ''
    } UTC; 1-minute load average when runs finished: ${loads.length ? `${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}` : 'n/a'}`,
    `- task: \`${BASE_MODEL}\` (pretrained on Fashion-MNIST classes 0-4, ${pct(info.testAccuracyOnClasses0to4)}% on their test images), n labelled images of classes 5-9 (n/5 per class, drawn with the seed), 3 folds, no holdout; the grid: ${SEARCH_SPACE.strategy.join(', ')}, freezeDepth ${SEARCH_SPACE.freezeDepth.join('/')}, lr×1, C=1 (4 variants); Adam ${TRAINING.learningRate}, batch ${TRAINING.batchSize}, up to ${TRAINING.epochs} epochs, patience ${TRAINING.patience}, patienceSteps ${PATIENCE_STEPS_DEFAULT} (the default)`,
    '- test accuracy: on the 5,000 official test images of classes 5-9, never seen by a sweep; mean ± sd over the seeds',
    '- the pick: the best fold mean. The runs below were made before selection rules existed, so a tie on the mean went to the lower fold std (`best-mean-lower-std`); new runs pin `selection: "best-mean"`, the default, which gives a tie in correct validation images to the simpler variant. How the rules compare on the same sweeps, and their champions: [selection-rule.md](selection-rule.md)',
    "- **best fold**: the winning variant's best fold model (trained on 2/3 of the images); **refit** (the default champion): the winning variant trained again on all n images for the median of its folds' best epochs; **ensemble**: its 3 fold models averaged",
    '- **by hand**: every variant of the grid trained on all n images for the full 40 epochs without a sweep (no folds, no early stopping), as one would by hand; **the pick**: the variant the sweep picked, so trained (the same model as the refit, trained by the hand rule); **best**: the best of them on the test set (hindsight: what no sweep can know); **mean**: their mean',
    '',
    '| n | seeds | the sweep picked | best fold % | refit % | ensemble % | by hand, the pick % | by hand, best % | by hand, mean % | refit epochs (fold best epochs) |',
    '|---:|---|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const n of ns) {
    const rs = after.filter((r) => r.n === n).sort((a, b) => a.seed - b.seed);
    const hands = rs.filter((r) => r.allImages?.length);
    lines.push(
      `| ${n} | ${rs.map((r) => r.seed).join(', ')} | ${rs.map((r) => r.pick).join('; ')} | ${meanSd(rs.map((r) => r.test.bestFold))} | ${meanSd(rs.flatMap((r) => (r.test.refit === null ? [] : [r.test.refit])))} | ${meanSd(rs.map((r) => r.test.ensemble))} | ${hands.length ? meanSd(hands.flatMap((r) => r.allImages?.filter((a) => a.variant === r.pick).map((a) => a.test) ?? [])) : 'not run'} | ${hands.length ? meanSd(hands.map((r) => Math.max(...(r.allImages ?? []).map((a) => a.test)))) : 'not run'} | ${hands.length ? meanSd(hands.map((r) => mean((r.allImages ?? []).map((a) => a.test)))) : 'not run'} | ${rs.map((r) => `${r.refitEpochs ?? '-'} (${r.foldBestEpochs.join('/')})`).join('; ')} |`,
    );
  }
  lines.push('', '## Per seed', '');
  lines.push(
    '| n | seed | pick | CV % | best fold % | refit % | ensemble % | by hand (each variant) % | sweep min |',
    '|---:|---:|---|---:|---:|---:|---:|---|---:|',
  );
  for (const r of [...after].sort((a, b) => a.n - b.n || a.seed - b.seed)) {
    lines.push(
      `| ${r.n} | ${r.seed} | ${r.pick} | ${pct(r.cvMean)} | ${pct(r.test.bestFold)} | ${pct(r.test.refit)} | ${pct(r.test.ensemble)} | ${r.allImages?.map((a) => `${a.variant} ${pct(a.test)}`).join('; ') ?? 'not run'} | ${(r.wallSeconds / 60).toFixed(1)} |`,
    );
  }
  if (before.length) {
    lines.push(
      '',
      '## Early-stopping defaults before/after',
      '',
      'The same sweeps with the old early stopping (`patienceSteps: 0`: stop after `patience` epochs without improvement, however few optimizer steps that is) and the new default (`patienceSteps: 200`). At n=2000 a fold trains on 1,333 images, 84 steps an epoch, and 200 steps are under 6 epochs: the two rules are the same there, so it is not run twice.',
      '',
      '| n | seeds | rule | the sweep picked | best fold % | refit % | ensemble % | refit epochs (fold best epochs) |',
      '|---:|---|---|---|---:|---:|---:|---|',
    );
    for (const n of [...new Set(before.map((r) => r.n))].sort((a, b) => a - b)) {
      for (const [label, set] of [
        ['before (patienceSteps 0)', before],
        ['after (patienceSteps 200)', after],
      ] as const) {
        const rs = set.filter((r) => r.n === n).sort((a, b) => a.seed - b.seed);
        if (!rs.length) continue;
        lines.push(
          `| ${n} | ${rs.map((r) => r.seed).join(', ')} | ${label} | ${rs.map((r) => r.pick).join('; ')} | ${meanSd(rs.map((r) => r.test.bestFold))} | ${meanSd(rs.flatMap((r) => (r.test.refit === null ? [] : [r.test.refit])))} | ${meanSd(rs.map((r) => r.test.ensemble))} | ${rs.map((r) => `${r.refitEpochs ?? '-'} (${r.foldBestEpochs.join('/')})`).join('; ')} |`,
        );
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

let runs: Run[] = existsSync(dataPath)
  ? (JSON.parse(readFileSync(dataPath, 'utf8')) as { runs: Run[] }).runs
  : [];
const save = () =>
  writeFileSync(
    dataPath,
    `${JSON.stringify({ searchSpace: SEARCH_SPACE, training: TRAINING, runs }, null, 1)}\n`,
  );
if (!values['render-only']) {
  const deps = localDeps({
    home: values.home ?? join(tmpdir(), 'foldsweep-champion-kinds'),
    concurrency: Number(values.concurrency),
    backend: 'wasm',
  });
  try {
    for (const n of sizes) {
      for (const seed of seeds) {
        for (const patienceSteps of [PATIENCE_STEPS_DEFAULT, ...(beforeSizes.has(n) ? [0] : [])]) {
          const key = (r: Run) => r.n === n && r.seed === seed && r.patienceSteps === patienceSteps;
          if (runs.some(key)) continue;
          process.stderr.write(`n=${n} seed=${seed} patienceSteps=${patienceSteps}: sweeping\n`);
          const run = await runOne(deps, n, seed, patienceSteps);
          runs = [...runs.filter((r) => !key(r)), run];
          save();
          process.stderr.write(
            `  ${(run.wallSeconds / 60).toFixed(1)} min; ${run.pick}: best fold ${pct(run.test.bestFold)}, refit ${pct(run.test.refit)}, ensemble ${pct(run.test.ensemble)}${run.allImages ? `, by hand best ${pct(Math.max(...run.allImages.map((a) => a.test)))}` : ''}\n`,
          );
        }
      }
    }
  } finally {
    await deps.close();
  }
}
writeFileSync(outPath, render(runs));
process.stderr.write(`wrote ${outPath} (${runs.length} runs)\n`);
