import { halvingProgress } from '../planner/rungs.js';
import { describeVariant } from '../planner/variants.js';
import { type Plan, type PlanSelection, planSelection, type Variant } from '../schemas/plan.js';
import type { TrialResult } from '../schemas/trial-result.js';
import { strategyOf } from '../strategies/index.js';

/**
 * What ranking needs of a finished trial: a TrialResult, or the trial record the state store
 * keeps of it (aggregation reads those: one query instead of one object read per trial).
 */
export type TrialOutcome = Pick<
  TrialResult,
  'sweepId' | 'trialIndex' | 'status' | 'objective' | 'attempt'
>;

export interface LeaderboardRow {
  rank: number;
  variantId: string;
  description: string;
  strategy: Variant['strategy'];
  freezeDepth: number;
  lrMultiplier: number;
  learningRate: number;
  /** Mean objective over the folds that succeeded (null when none did). */
  mean: number | null;
  /** Sample standard deviation over succeeded folds (0 for one fold, null for none). */
  std: number | null;
  min: number | null;
  max: number | null;
  foldsCompleted: number;
  foldsFailed: number;
  foldsPending: number;
  /** True when every fold succeeded: only complete variants can become the champion. */
  complete: boolean;
  /** The best single fold's trial: its model becomes the champion's weights. */
  bestTrialIndex: number | null;
  /**
   * Successive halving: the variant was pruned at `rung` (not promoted past it) with `score`,
   * its mean over the folds it ran (null: one of them failed). Its other folds never run.
   */
  pruned?: { rung: number; score: number | null };
  /** `pruned` for a pruned variant (the report shows it as the row's mark). */
  status?: 'pruned';
  /** The objective per fold, in fold order (null: that fold has not succeeded). */
  foldValues: (number | null)[];
}

export interface Leaderboard {
  sweepId: string;
  objective: Plan['spec']['training']['objective'];
  folds: number;
  rows: LeaderboardRow[];
  /** The best complete variant, or null when no variant completed every fold. */
  bestVariantId: string | null;
  /**
   * Whether first place beats second beyond noise, and whether scratch won; see rankingVerdict
   * (null: no champion; absent in leaderboards stored before it existed).
   */
  verdict?: RankingVerdict | null;
  /**
   * How the best variant was chosen (plan.selection) and, when the rule chose another than first
   * place, why (null: no champion; absent in leaderboards stored before it existed).
   */
  selection?: ChampionSelection | null;
}

/** The selection rule's decision, next to the ranking by mean. */
export interface ChampionSelection {
  /** The plan's rule (`best-mean-lower-std`: a plan written before selection rules existed). */
  rule: PlanSelection;
  /** First place by mean (the pick under `best-mean`). */
  bestMean: string;
  /** `one-se`: means on this side of it count as tied with first place (null: other rules). */
  bound: number | null;
  /** Why the champion is not first place; empty when it is. */
  text: string;
}

export interface RankingVerdict {
  first: string;
  second: string | null;
  /** Mean over the shared folds of first - second (in the objective's better direction). */
  meanDifference: number | null;
  /** Nadeau-Bengio corrected paired t statistic over the folds both completed (null: undefined). */
  t: number | null;
  /** true: beyond noise (corrected paired t above the two-sided 95% critical value). */
  separated: boolean;
  /** The best variant is scratch: transfer from the base model did not help on this data. */
  scratchWon: boolean;
  text: string;
}

/**
 * Means closer than this are equal: the same fold accuracies summed in another order differ in
 * the last bits, and such a "lead" must not decide the champion over the std tie-break.
 */
const MEAN_EPSILON = 1e-9;

/**
 * Ranks variants by fold-averaged objective.
 * Failed folds: a variant with any failed or missing fold is *incomplete*: its mean over fewer
 * folds is not comparable with a full cross-validation, so incomplete variants rank after all
 * complete ones (among themselves by mean) and can never be picked as best. If no variant is
 * complete, `bestVariantId` is null and the sweep fails.
 * Ties on the mean break by lower std, then by variant index (plan order).
 * Successive halving (plan.rungs): a variant its rung did not promote is `pruned` (with its rung
 * and rung score); it is incomplete, so it ranks after the variants that ran every fold.
 * Results for trials not in the plan are ignored; of several results for one trial only the
 * highest attempt counts (the later-read one on a tie), so a duplicate cannot count a fold twice.
 */
export function buildLeaderboard(plan: Plan, results: readonly TrialOutcome[]): Leaderboard {
  const objective = plan.spec.training.objective;
  const higherIsBetter = objective === 'val_accuracy';
  const byTrial = new Map<number, TrialOutcome>();
  for (const r of results) {
    if (r.sweepId !== plan.sweepId || !plan.trials[r.trialIndex]) continue;
    const prev = byTrial.get(r.trialIndex);
    if (!prev || r.attempt >= prev.attempt) byTrial.set(r.trialIndex, r);
  }
  const pruned = prunedVariants(plan, byTrial.values(), higherIsBetter);
  const rows: LeaderboardRow[] = plan.variants.map((v) => {
    const values: { value: number; trialIndex: number }[] = [];
    let failed = 0;
    let pending = 0;
    for (let fold = 0; fold < plan.folds; fold++) {
      const trialIndex = v.index * plan.folds + fold;
      const r = byTrial.get(trialIndex);
      if (!r) pending++;
      else if (r.status === 'succeeded' && r.objective !== null && Number.isFinite(r.objective)) {
        values.push({ value: r.objective, trialIndex });
      } else failed++;
    }
    const n = values.length;
    const mean = n ? values.reduce((s, x) => s + x.value, 0) / n : null;
    const std =
      mean === null
        ? null
        : n < 2
          ? 0
          : Math.sqrt(values.reduce((s, x) => s + (x.value - mean) ** 2, 0) / (n - 1));
    const foldValues: (number | null)[] = Array.from({ length: plan.folds }, () => null);
    for (const x of values) foldValues[x.trialIndex - v.index * plan.folds] = x.value;
    const best = values.reduce<(typeof values)[number] | null>(
      (b, x) => (!b || (higherIsBetter ? x.value > b.value : x.value < b.value) ? x : b),
      null,
    );
    return {
      rank: 0,
      variantId: v.id,
      description: describeVariant(v),
      strategy: v.strategy,
      freezeDepth: v.freezeDepth,
      lrMultiplier: v.lrMultiplier,
      learningRate: v.learningRate,
      mean,
      std,
      min: n ? Math.min(...values.map((x) => x.value)) : null,
      max: n ? Math.max(...values.map((x) => x.value)) : null,
      foldsCompleted: n,
      foldsFailed: failed,
      foldsPending: pending,
      complete: n === plan.folds,
      bestTrialIndex: best?.trialIndex ?? null,
      ...(pruned.has(v.index) ? { pruned: pruned.get(v.index), status: 'pruned' as const } : {}),
      foldValues,
    };
  });
  const indexOf = new Map(plan.variants.map((v) => [v.id, v.index]));
  rows.sort((a, b) => {
    if (a.complete !== b.complete) return a.complete ? -1 : 1;
    if (a.mean === null || b.mean === null) {
      if (a.mean !== b.mean) return a.mean === null ? 1 : -1;
    } else if (Math.abs(a.mean - b.mean) > MEAN_EPSILON) {
      return higherIsBetter ? b.mean - a.mean : a.mean - b.mean;
    }
    if ((a.std ?? 0) !== (b.std ?? 0)) return (a.std ?? 0) - (b.std ?? 0);
    return (indexOf.get(a.variantId) ?? 0) - (indexOf.get(b.variantId) ?? 0);
  });
  rows.forEach((r, i) => {
    r.rank = i + 1;
  });
  const first = rows[0]?.complete ? rows[0] : undefined;
  const selection = first ? selectChampion(plan, rows, higherIsBetter) : null;
  return {
    sweepId: plan.sweepId,
    objective,
    folds: plan.folds,
    rows,
    bestVariantId: selection?.row.variantId ?? null,
    verdict: first ? rankingVerdict(rows, higherIsBetter) : null,
    selection: selection?.selection ?? null,
  };
}

/** Element-by-element comparison of two simplicity keys (a shorter key first on a common prefix). */
function compareKeys(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

/**
 * The champion variant among the ranked rows (rows[0] complete), by the plan's selection rule
 * (planSelection). Both rules pick the simplest of the variants *tied* with first place, by the
 * strategies' `simplicity` keys (a linear probe before fine-tuning before scratch; a deeper
 * freeze, a smaller lrMultiplier or svmC first), the better mean, then the ranking's own order
 * (lower std, plan order) breaking a tie in simplicity. What counts as tied:
 * - `best-mean` (the default): as many validation images right as first place (on val_loss, the
 *   same mean). Fold accuracies are averaged over folds of unequal sizes (34, 33, 33 images), so
 *   two variants with the same number of correct images can differ in the last decimals of their
 *   means: that difference is not evidence, and neither is a lower fold std.
 * - `one-se`, the one-standard-error rule (Breiman et al.'s CART; glmnet's lambda.1se): also
 *   every complete variant whose mean is within one standard error of first place's (its fold
 *   std / sqrt(folds)). More conservative; both are measured side by side in
 *   docs/benchmarks/selection-rule.md.
 * Plans written before the rule existed (`best-mean-lower-std`) keep first place, ties broken by
 * the lower std: an old sweep's leaderboard keeps the champion it promoted.
 */
function selectChampion(
  plan: Pick<Plan, 'selection' | 'variants' | 'foldOf' | 'folds'>,
  rows: readonly LeaderboardRow[],
  higherIsBetter: boolean,
): { row: LeaderboardRow; selection: ChampionSelection } {
  const first = rows[0];
  const rule = planSelection(plan);
  const firstMean = first.mean;
  if (rule === 'best-mean-lower-std' || firstMean === null) {
    return { row: first, selection: { rule, bestMean: first.variantId, bound: null, text: '' } };
  }
  // Validation images per fold: a fold accuracy times its size is a count of correct images.
  const foldSizes = Array.from({ length: plan.folds }, () => 0);
  for (const f of plan.foldOf) if (f >= 0 && f < plan.folds) foldSizes[f]++;
  const correct = (row: LeaderboardRow) =>
    row.foldValues.reduce<number>((sum, v, f) => sum + (v ?? 0) * (foldSizes[f] ?? 0), 0);
  const validationImages = foldSizes.reduce((a, b) => a + b, 0);
  const sameScore = (row: LeaderboardRow) =>
    higherIsBetter
      ? Math.abs(correct(row) - correct(first)) < 0.5
      : Math.abs((row.mean ?? Number.NaN) - firstMean) <= MEAN_EPSILON;
  const standardError = (first.std ?? 0) / Math.sqrt(Math.max(1, first.foldsCompleted));
  const bound =
    rule === 'one-se'
      ? higherIsBetter
        ? firstMean - standardError
        : firstMean + standardError
      : null;
  const withinBound = (mean: number) =>
    bound !== null &&
    (higherIsBetter ? mean >= bound - MEAN_EPSILON : mean <= bound + MEAN_EPSILON);
  const variants = new Map(plan.variants.map((v) => [v.id, v]));
  const simplicity = (row: LeaderboardRow) => {
    const v = variants.get(row.variantId);
    return v ? strategyOf(v.strategy).simplicity(v) : [Number.POSITIVE_INFINITY];
  };
  let pick = first;
  for (const row of rows) {
    if (!row.complete || row.mean === null) continue;
    const tied = sameScore(row) || withinBound(row.mean);
    if (tied && compareKeys(simplicity(row), simplicity(pick)) < 0) pick = row;
  }
  const why =
    pick === first
      ? ''
      : sameScore(pick)
        ? higherIsBetter
          ? `it classified as many validation images right as ${first.description} (${Math.round(correct(first))} of ${validationImages}; the means differ only through the folds' sizes)`
          : `its mean equals ${first.description}'s`
        : `its mean is within one standard error of ${first.description}'s (${firstMean.toFixed(4)} ${higherIsBetter ? '−' : '+'} ${standardError.toFixed(4)})`;
  const text = why
    ? `Champion: ${pick.description} (${pick.mean?.toFixed(4)}), the simplest of the variants tied with first place: ${why}. On these folds they are tied, and the simpler model is the safer pick (selection "${rule}").`
    : '';
  return { row: pick, selection: { rule, bestMean: first.variantId, bound, text } };
}

/** Successive halving: the variants the plan's finished rungs pruned (none without rungs). */
function prunedVariants(
  plan: Plan,
  outcomes: Iterable<TrialOutcome>,
  higherIsBetter: boolean,
): Map<number, { rung: number; score: number | null }> {
  if (!plan.rungs?.length) return new Map();
  const finished = [...outcomes].flatMap((o) =>
    o.status === 'succeeded' || o.status === 'failed'
      ? [{ trialIndex: o.trialIndex, status: o.status, objective: o.objective }]
      : [],
  );
  return halvingProgress({ ...plan, rungs: plan.rungs }, finished, higherIsBetter).pruned;
}

/** A row's mark: champion, ok, pruned at its rung, running or incomplete. */
export function rowMark(row: LeaderboardRow, board: Pick<Leaderboard, 'bestVariantId'>): string {
  if (row.complete) return row.variantId === board.bestVariantId ? 'champion' : 'ok';
  if (row.pruned) {
    const score = row.pruned.score === null ? 'a fold failed' : row.pruned.score.toFixed(4);
    return `pruned at rung ${row.pruned.rung} (${score})`;
  }
  return row.foldsPending > 0 && row.foldsFailed === 0
    ? 'running'
    : `incomplete (${row.foldsFailed} failed)`;
}

/** Two-sided 95% critical values of Student's t for 1..30 degrees of freedom. */
const T_CRITICAL_95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145,
  2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048,
  2.045, 2.042,
];

/**
 * Whether the first complete variant beats the second beyond noise, paired over the folds both
 * completed. The folds' training sets overlap, so a plain paired t-test is overconfident; this
 * uses Nadeau and Bengio's corrected resampled t-test (variance x (1/k + 1/(k-1)) for k-fold
 * CV instead of 1/k), separated when |t| exceeds the two-sided 95% critical value.
 */
export function rankingVerdict(rows: readonly LeaderboardRow[], higherIsBetter: boolean) {
  const [first, second] = rows;
  const scratchWon = first.strategy === 'scratch';
  const scratchText = (separated: boolean) =>
    !scratchWon
      ? ''
      : separated || !second || second.mean === null
        ? ' Scratch won: the base model did not help on this data (a model trained from random weights beat every transfer variant).'
        : ' Scratch ranks first, within noise of second place: on this data the base model did not clearly help.';
  if (!second || second.mean === null) {
    return {
      first: first.variantId,
      second: null,
      meanDifference: null,
      t: null,
      separated: false,
      scratchWon,
      text: `${first.description} is the only variant with a score.${scratchText(false)}`,
    };
  }
  const diffs: number[] = [];
  first.foldValues.forEach((a, f) => {
    const b = second.foldValues[f];
    if (a !== null && b !== null && b !== undefined) diffs.push(higherIsBetter ? a - b : b - a);
  });
  const k = diffs.length;
  const meanDifference = k ? diffs.reduce((s, d) => s + d, 0) / k : null;
  let t: number | null = null;
  if (meanDifference !== null && k >= 2) {
    const variance = diffs.reduce((s, d) => s + (d - meanDifference) ** 2, 0) / (k - 1);
    const corrected = variance * (1 / k + 1 / (k - 1));
    t =
      corrected > 0
        ? meanDifference / Math.sqrt(corrected)
        : meanDifference > 0
          ? Number.POSITIVE_INFINITY
          : 0;
  }
  const critical = T_CRITICAL_95[Math.min(k - 1, T_CRITICAL_95.length) - 1] ?? Number.NaN;
  const separated = t !== null && t > critical;
  const points =
    meanDifference === null
      ? ''
      : higherIsBetter
        ? ` by ${(100 * meanDifference).toFixed(1)} points`
        : ` by ${meanDifference.toFixed(4)} in loss`;
  const text =
    (separated
      ? `${first.description} beats ${second.description}${points} over the same ${k} folds, beyond noise (corrected paired t ${(t as number).toFixed(2)} > ${critical}).`
      : t === null
        ? `${first.description} leads ${second.description}${points}, but they share fewer than 2 completed folds: no test of the difference.`
        : `${first.description} leads ${second.description}${points} over the same ${k} folds, within noise (corrected paired t ${t.toFixed(2)} ≤ ${critical}): treat them as tied.`) +
    scratchText(separated);
  return {
    first: first.variantId,
    second: second.variantId,
    meanDifference,
    t,
    separated,
    scratchWon,
    text,
  } satisfies RankingVerdict;
}

/** The leaderboard as a fixed-width text table for terminals and reports. */
export function formatLeaderboard(board: Leaderboard): string {
  const header = ['#', 'variant', 'id', `${board.objective} mean`, '± std', 'folds', 'status'];
  const lines = board.rows.map((r) => [
    String(r.rank),
    r.description,
    r.variantId,
    r.mean === null ? '-' : r.mean.toFixed(4),
    r.std === null ? '-' : r.std.toFixed(4),
    `${r.foldsCompleted}/${board.folds}`,
    rowMark(r, board),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  const table = [fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)];
  if (board.verdict) table.push('', board.verdict.text);
  if (board.selection?.text) table.push(board.selection.text);
  return table.join('\n');
}
