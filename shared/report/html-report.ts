/**
 * The HTML report of a sweep: one self-contained file (inline CSS and SVG, no script, no
 * external reference) drawn from whatever exists: a plan with no results yet, a live sweep with
 * some trials done, a failed one, or a completed one with its champion. Pure: see
 * report-input.ts for the loader that reads the stores.
 */
import {
  buildLeaderboard,
  type Leaderboard,
  type LeaderboardRow,
  rowMark,
} from '../aggregation/leaderboard.js';
import { describePreprocessing, preprocessingOf } from '../model/preprocessing.js';
import { describeVariant } from '../planner/variants.js';
import {
  type ChampionMetadata,
  championModelDescription,
  type Evaluation,
} from '../schemas/champion.js';
import type { Plan, Variant } from '../schemas/plan.js';
import type { ChampionRecord, SweepRecord, TrialRecord } from '../schemas/state.js';
import { APPLIES_TO } from '../schemas/sweep-spec.js';
import type { TrialResult } from '../schemas/trial-result.js';
import {
  confusionChart,
  type DimensionPoint,
  type FoldScoresRow,
  foldScoresChart,
  learningCurveChart,
  objectiveVsChart,
  perClassChart,
  type TimelineBar,
  timelineChart,
} from './charts.js';
import { esc } from './svg.js';

/** Everything the report shows. Only `sweepId` and `generatedAt` are required. */
export interface ReportInput {
  sweepId: string;
  /** The sweep as the state store keeps it (status, times, error). */
  sweep?: {
    status: SweepRecord['status'];
    createdAt: string;
    updatedAt: string;
    name?: string;
    error?: string | null;
    issues?: { path: string; message: string }[];
  };
  /** Absent while the sweep prepares, or when preparation failed. */
  plan?: Plan;
  /** buildLeaderboard(plan, trials); built here from `trials` when absent. */
  leaderboard?: Leaderboard;
  /** The stored TrialResults (any attempts: the highest attempt of each trial is shown). */
  trials: readonly TrialResult[];
  /** The state store's trial records: tell running from pending trials. */
  trialStates?: readonly TrialRecord[];
  champion?: ChampionRecord;
  /** The champion's metadata.json (scores, confusion matrices, lineage). */
  metadata?: ChampionMetadata;
  /** When the report was drawn (ISO). */
  generatedAt: string;
  /** Adds a meta refresh (seconds) so a browser reloads a live report. */
  refreshSeconds?: number;
}

/** A swept dimension of the search space and how to read it off a variant. */
interface Dimension {
  name: string;
  strategies: readonly string[];
  value: (v: Variant) => number | string | undefined;
}

const DIMENSIONS: readonly Dimension[] = [
  {
    name: 'strategy',
    strategies: ['finetune', 'scratch', 'bottleneck-linear'],
    value: (v) => v.strategy,
  },
  { name: 'freezeDepth', strategies: APPLIES_TO.freezeDepth, value: (v) => v.freezeDepth },
  { name: 'lrMultiplier', strategies: APPLIES_TO.lrMultiplier, value: (v) => v.lrMultiplier },
  {
    name: 'headLrMultiplier',
    strategies: APPLIES_TO.headLrMultiplier,
    value: (v) => v.headLrMultiplier ?? 1,
  },
  { name: 'augment', strategies: APPLIES_TO.augment, value: (v) => String(v.augment ?? false) },
  { name: 'svmC', strategies: APPLIES_TO.svmC, value: (v) => v.svmC },
  { name: 'svmLoss', strategies: APPLIES_TO.svmLoss, value: (v) => v.svmLoss },
];

/**
 * The dimensions a plan actually sweeps: those with two or more distinct values among the
 * variants of the strategies they apply to (e.g. svmC among the bottleneck-linear variants).
 */
export function sweptDimensions(
  plan: Pick<Plan, 'variants'>,
): { name: string; variants: Variant[] }[] {
  const out: { name: string; variants: Variant[] }[] = [];
  for (const d of DIMENSIONS) {
    const variants = plan.variants.filter(
      (v) => d.strategies.includes(v.strategy) && d.value(v) !== undefined,
    );
    if (new Set(variants.map((v) => String(d.value(v)))).size >= 2) {
      out.push({ name: d.name, variants });
    }
  }
  return out;
}

/** How a trial stands: its result's status, else the state store's, else pending. */
interface TrialView {
  index: number;
  fold: number;
  status: string;
  result?: TrialResult;
}

function latestResults(plan: Plan | undefined, trials: readonly TrialResult[]) {
  const byTrial = new Map<number, TrialResult>();
  for (const t of trials) {
    if (plan && (t.sweepId !== plan.sweepId || !plan.trials[t.trialIndex])) continue;
    const prev = byTrial.get(t.trialIndex);
    if (!prev || t.attempt >= prev.attempt) byTrial.set(t.trialIndex, t);
  }
  return byTrial;
}

/** The mark a leaderboard row gets: an explicit row status (e.g. pruned) wins. */
function rowStatus(
  row: LeaderboardRow,
  board: Leaderboard,
  champion: ChampionRecord | undefined,
  views: readonly TrialView[],
): { key: string; text: string } {
  if (champion?.variantId === row.variantId) return { key: 'champion', text: 'champion' };
  if (row.pruned) {
    // Successive halving: the rung that stopped it and its score there.
    return { key: 'pruned', text: rowMark(row, board) };
  }
  // A status the leaderboard row carries itself (e.g. pruned) wins over the derived one.
  const explicit = 'status' in row ? (row as { status?: unknown }).status : undefined;
  if (
    typeof explicit === 'string' &&
    explicit &&
    !['ok', 'complete', 'champion'].includes(explicit)
  ) {
    return { key: explicit.replace(/[^a-z0-9-]/gi, '-').toLowerCase(), text: explicit };
  }
  if (row.complete) {
    return row.variantId === board.bestVariantId && !champion
      ? { key: 'leading', text: 'leading' }
      : { key: 'ok', text: 'ok' };
  }
  const pruned = views.filter((v) => v.status === 'pruned').length;
  if (pruned) return { key: 'pruned', text: `pruned (${pruned} of ${views.length} folds)` };
  if (row.foldsFailed > 0) {
    return { key: 'incomplete', text: `incomplete (${row.foldsFailed} failed)` };
  }
  if (views.some((v) => v.status === 'running')) return { key: 'running', text: 'running' };
  return { key: 'pending', text: 'pending' };
}

const fmt = (x: number | null | undefined, digits = 4) =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
const pct = (x: number | null | undefined) =>
  x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)}%`;

/** 850 ms, 12.3 s, 4 min 05 s, 1 h 02 min. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.round(s - m * 60)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2329;background:#fafbfc}
main{max-width:1180px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde2e7;padding-bottom:4px}
h3{font-size:14px;margin:14px 0 6px}
.meta{color:#56606b;font-size:13px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;background:#e4e8ec;color:#333;white-space:nowrap}
.badge.completed,.badge.champion,.badge.succeeded,.badge.ok{background:#d8f0dc;color:#1d6b2c}
.badge.leading{background:#fff2c7;color:#7a5a00}
.badge.running,.badge.aggregating,.badge.preparing{background:#dbe9fb;color:#1f4f8a}
.badge.pending{background:#eceff2;color:#5b6670}
.badge.failed,.badge.incomplete,.badge.cancelled{background:#fadcdc;color:#9b1c1c}
.badge.pruned{background:#efe3f7;color:#6b2f8a}
table{border-collapse:collapse;font-size:13px;background:#fff}
th,td{border:1px solid #e1e5ea;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f1f4f7;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.status-champion td{background:#f1fbf3}tr.status-failed td,tr.status-incomplete td{background:#fff6f6}
tr.status-pruned td{background:#faf5fd;color:#555}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{background:#fff;border:1px solid #e1e5ea;border-radius:6px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:20px}
.charts{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}
section>figure{display:inline-block}
figure{margin:0;background:#fff;border:1px solid #e1e5ea;border-radius:6px;padding:6px}
figcaption{font-size:12px;color:#56606b;max-width:350px}
.placeholder{width:364px;height:156px;display:flex;align-items:center;justify-content:center;flex-direction:column;background:#f4f6f8;border:1px dashed #c9d0d7;border-radius:6px;color:#56606b;font-size:12px;text-align:center;padding:0 8px;box-sizing:border-box}
.foldscore.failed{color:#9b1c1c}.foldscore.pending{color:#8a949e}
svg.chart{max-width:100%;height:auto;display:block}
svg text{font-family:system-ui,sans-serif;fill:#333}
svg .tick{font-size:9px;fill:#56606b}svg .label{font-size:10px;fill:#444}svg .legend{font-size:9px}
svg .paneltitle{font-size:10px;font-weight:600}
svg .rowlabel{font-size:10px}svg .rowlabel.champion{font-weight:700;fill:#1d6b2c}svg .rowlabel.leading{font-weight:700;fill:#7a5a00}
svg .rownote{font-size:9px;fill:#56606b}
svg .grid{stroke:#edf0f3;stroke-width:1}svg .axis{stroke:#9aa4ad}svg .tickmark{stroke:#9aa4ad}
svg .whisker{stroke:#9aa4ad;stroke-width:1.2}svg .band{fill:#4e79a7;fill-opacity:.18}svg .mean{stroke:#1d2329;stroke-width:2}
svg .best{stroke:#59a14f;stroke-dasharray:2 2}svg .bar{fill:#4e79a7}svg .overall{stroke:#e15759;stroke-dasharray:3 2}
svg .span{fill:#4e79a7}svg .span.status-failed{fill:#e15759}svg .span.status-pruned{fill:#b07aa1}
details{margin:8px 0}pre{background:#fff;border:1px solid #e1e5ea;padding:8px;overflow:auto;font-size:12px}
.note{color:#56606b;font-size:13px}
.verdict{font-weight:600}.verdict.scratch-won{color:#8a3b00}
`;

/**
 * The report page. Charts (each `<svg class="chart" data-chart=kind>`):
 * - `fold-scores`: 1 when there is a plan;
 * - `objective-vs`: 1 per swept dimension (sweptDimensions(plan));
 * - `learning-curve`: 1 per trial whose latest result has epochs;
 * - `confusion-matrix` and `per-class-accuracy`: 1 each per champion evaluation (holdout, test)
 *   that carries a confusion matrix;
 * - `timeline`: 1 when any trial result exists.
 * @example
 * await objects.put(htmlReportKey(id), renderHtmlReport(await buildReportInput(deps, id)));
 */
export function renderHtmlReport(input: ReportInput): string {
  const { plan, sweep } = input;
  const title = `Sweep ${input.sweepId}${plan?.spec.name ? ` (${plan.spec.name})` : sweep?.name ? ` (${sweep.name})` : ''}`;
  const body: string[] = [];
  const status = sweep?.status ?? (input.champion ? 'completed' : 'unknown');
  body.push(
    `<header><h1>${esc(title)} <span class="badge ${esc(status)}" data-sweep-status="${esc(status)}">${esc(status)}</span></h1>`,
    `<div class="meta">report drawn ${esc(input.generatedAt)}${sweep ? ` · created ${esc(sweep.createdAt)} · updated ${esc(sweep.updatedAt)}` : ''}${input.refreshSeconds ? ` · reloads every ${input.refreshSeconds} s while the sweep runs` : ''}</div></header>`,
  );
  if (sweep?.error) body.push(`<p class="note"><b>Error:</b> ${esc(sweep.error)}</p>`);
  if (sweep?.issues?.length) {
    body.push(
      `<ul>${sweep.issues.map((i) => `<li><code>${esc(i.path)}</code>: ${esc(i.message)}</li>`).join('')}</ul>`,
    );
  }
  if (!plan) {
    body.push(
      '<p class="note" data-empty="no-plan">No plan yet: the sweep has not finished preparing its data and base model, so there are no trials to show.</p>',
    );
    return page(title, body, input.refreshSeconds);
  }
  const byTrial = latestResults(plan, input.trials);
  const stateOf = new Map((input.trialStates ?? []).map((t) => [t.trialIndex, t.status]));
  const board = input.leaderboard ?? buildLeaderboard(plan, [...byTrial.values()]);
  // Successive halving: the folds a pruned variant never runs are pruned, not pending.
  const prunedIds = new Set(board.rows.filter((r) => r.pruned).map((r) => r.variantId));
  const views: TrialView[] = plan.trials.map((t) => {
    const result = byTrial.get(t.index);
    return {
      index: t.index,
      fold: t.fold,
      status:
        result?.status ??
        stateOf.get(t.index) ??
        (prunedIds.has(t.variantId) ? 'pruned' : 'pending'),
      result,
    };
  });
  const objective = board.objective;
  const variantsById = new Map(plan.variants.map((v) => [v.id, v]));
  const viewsOf = (v: Variant) => views.slice(v.index * plan.folds, (v.index + 1) * plan.folds);
  const foldValue = (t: TrialView): number | string =>
    t.status === 'succeeded' && t.result?.objective !== null && t.result?.objective !== undefined
      ? t.result.objective
      : t.status;

  // Summary cards.
  const counts = new Map<string, number>();
  for (const v of views) counts.set(v.status, (counts.get(v.status) ?? 0) + 1);
  const done = views.length - (counts.get('pending') ?? 0) - (counts.get('running') ?? 0);
  const cards = [
    card(
      'trials',
      `${done} / ${views.length}`,
      [...counts].map(([s, n]) => `${n} ${s}`).join(', '),
    ),
    card('variants × folds', `${plan.variants.length} × ${plan.folds}`, `objective ${objective}`),
  ];
  const champion = input.champion;
  const metrics = input.metadata?.metrics;
  if (champion) {
    const v = variantsById.get(champion.variantId);
    cards.push(
      card(
        'champion',
        v ? describeVariant(v) : champion.variantId,
        `CV ${fmt(champion.objectiveMean)}${metrics ? ` ± ${fmt(metrics.cvStd)}` : ''}`,
      ),
      card(
        'holdout accuracy',
        pct(champion.holdoutAccuracy),
        metrics?.holdout ? `${metrics.holdout.samples} images` : '',
      ),
      card(
        'test accuracy',
        pct(champion.testAccuracy),
        metrics?.test ? `${metrics.test.samples} images` : '',
      ),
    );
  } else {
    const leading = board.rows.find((r) => r.variantId === board.bestVariantId);
    cards.push(
      card(
        'champion',
        'none yet',
        leading
          ? `leading: ${leading.description} (${fmt(leading.mean)})`
          : status === 'failed'
            ? 'no variant completed every fold'
            : 'no variant has completed every fold yet',
      ),
    );
  }
  body.push(`<section id="summary"><div class="cards">${cards.join('')}</div></section>`);

  // Leaderboard.
  const rowsHtml = board.rows.map((row) => {
    const variant = variantsById.get(row.variantId);
    const vs = variant ? viewsOf(variant) : [];
    const mark = rowStatus(row, board, champion, vs);
    const folds = vs
      .map((t) => {
        const f = foldValue(t);
        return typeof f === 'number'
          ? `<span class="foldscore ok">${fmt(f)}</span>`
          : `<span class="foldscore ${esc(f)}" title="${esc(t.result?.reason ?? f)}">${esc(f)}</span>`;
      })
      .join(' ');
    return (
      `<tr class="status-${esc(mark.key)}" data-variant="${esc(row.variantId)}" data-status="${esc(mark.key)}">` +
      `<td class="num">${row.rank}</td><td>${esc(row.description)}</td><td><code>${esc(row.variantId)}</code></td>` +
      `<td class="num">${fmt(row.mean)}</td><td class="num">${fmt(row.std)}</td><td class="num">${fmt(row.min)}</td><td class="num">${fmt(row.max)}</td>` +
      `<td class="num">${row.foldsCompleted}/${board.folds}${row.foldsFailed ? ` (${row.foldsFailed} failed)` : ''}</td>` +
      `<td>${folds}</td><td><span class="badge ${esc(mark.key)}">${esc(mark.text)}</span></td></tr>`
    );
  });
  const foldRows: FoldScoresRow[] = board.rows.map((row) => {
    const variant = variantsById.get(row.variantId);
    return {
      label: `${row.rank}. ${row.description}`,
      variantId: row.variantId,
      folds: variant ? viewsOf(variant).map(foldValue) : [],
      mean: row.mean,
      std: row.std,
      highlight:
        champion?.variantId === row.variantId
          ? 'champion'
          : !champion && row.variantId === board.bestVariantId
            ? 'leading'
            : undefined,
    };
  });
  body.push(
    '<section id="leaderboard"><h2>Leaderboard</h2>',
    '<p class="note">Variants ranked by the fold mean of the objective; a variant with a failed or missing fold is incomplete and ranks after the complete ones.</p>',
    board.verdict
      ? `<p class="verdict${board.verdict.scratchWon ? ' scratch-won' : ''}" id="verdict">${esc(board.verdict.text)}</p>`
      : '',
    board.selection?.text
      ? `<p class="verdict" id="selection">${esc(board.selection.text)}</p>`
      : '',
    `<table><thead><tr><th>#</th><th>variant</th><th>id</th><th>${esc(objective)} mean</th><th>± std</th><th>min</th><th>max</th><th>folds</th><th>fold scores</th><th>status</th></tr></thead><tbody>${rowsHtml.join('')}</tbody></table>`,
    `<h3>Fold scores</h3><figure>${foldScoresChart(foldRows, objective)}</figure></section>`,
  );

  // Objective against each swept dimension.
  const dims = sweptDimensions(plan);
  const rowOf = new Map(board.rows.map((r) => [r.variantId, r]));
  body.push('<section id="dimensions"><h2>Objective against each swept dimension</h2>');
  if (!dims.length) body.push('<p class="note">The grid has a single point per dimension.</p>');
  body.push('<div class="charts">');
  for (const d of dims) {
    const dim = DIMENSIONS.find((x) => x.name === d.name) as Dimension;
    const points: DimensionPoint[] = d.variants.map((v) => ({
      value: dim.value(v) as number | string,
      label: describeVariant(v),
      group: v.strategy,
      folds: viewsOf(v)
        .map(foldValue)
        .filter((f): f is number => typeof f === 'number'),
      mean: rowOf.get(v.id)?.mean ?? null,
    }));
    body.push(`<figure>${objectiveVsChart(d.name, points, objective)}</figure>`);
  }
  body.push('</div></section>');

  // The champion's evaluations.
  body.push('<section id="champion"><h2>Champion</h2>');
  if (!champion) {
    body.push(
      `<p class="note" data-empty="no-champion">${status === 'failed' || status === 'cancelled' ? 'No champion: no variant completed every fold.' : 'No champion yet: it is promoted when the sweep aggregates, after every trial has finished.'}</p>`,
    );
  } else {
    const classNames = input.metadata?.classNames ?? plan.dataset.classes;
    const evals: [string, Evaluation | undefined][] = [
      ['holdout', metrics?.holdout],
      ['test', metrics?.test],
    ];
    body.push(
      `<p>Variant <code>${esc(champion.variantId)}</code>: ${esc(input.metadata ? championModelDescription(input.metadata.lineage) : `the weights of trial ${champion.trialIndex}`)}, promoted ${esc(champion.promotedAt)}. Model: <code>${esc(champion.modelPrefix)}/model.json</code>.</p>`,
    );
    const evalRows = evals
      .filter((e): e is [string, Evaluation] => e[1] !== undefined)
      .map(
        ([set, e]) =>
          `<tr><td>${set}</td><td class="num">${pct(e.accuracy)}</td><td class="num">${fmt(e.loss)}</td><td class="num">${e.samples}</td></tr>`,
      );
    if (evalRows.length) {
      body.push(
        `<table><thead><tr><th>set</th><th>accuracy</th><th>loss</th><th>images</th></tr></thead><tbody>${evalRows.join('')}</tbody></table>`,
      );
    }
    for (const [set, e] of evals) {
      if (!e?.confusion) continue;
      const perClass =
        e.perClassAccuracy ??
        e.confusion.map((row, c) => {
          const n = row.reduce((s, x) => s + x, 0);
          return n ? row[c] / n : null;
        });
      body.push(
        `<h3>${set === 'test' ? 'Test set' : 'Holdout'}</h3><div class="charts">`,
        `<figure>${confusionChart(classNames, e.confusion, set)}</figure>`,
        `<figure>${perClassChart(classNames, perClass, e.accuracy, set)}</figure></div>`,
      );
    }
    if (!evals.some(([, e]) => e?.confusion)) {
      body.push(
        '<p class="note">No confusion matrix stored for this champion (metadata written before they were recorded, or no holdout or test set).</p>',
      );
    }
  }
  body.push('</section>');

  // Learning curves.
  body.push(
    '<section id="curves"><h2>Learning curves</h2><p class="note">Train (solid) and validation (dashed) accuracy and loss per epoch; the green dotted line marks the epoch whose weights were kept.</p>',
  );
  const variantOrder = board.rows
    .map((r) => variantsById.get(r.variantId))
    .filter((v): v is Variant => v !== undefined);
  for (const v of variantOrder) {
    body.push(`<h3>${esc(describeVariant(v))} <code>${esc(v.id)}</code></h3><div class="charts">`);
    for (const t of viewsOf(v)) {
      const res = t.result;
      if (res?.epochs.length) {
        const caption = [
          `trial ${t.index}, fold ${t.fold}: ${res.status}`,
          res.objective !== null ? `${objective} ${fmt(res.objective)}` : '',
          res.bestEpoch !== undefined ? `kept epoch ${res.bestEpoch + 1}` : '',
          res.stoppedEarly ? 'stopped early' : '',
          formatDuration(res.durationMs),
          res.backend ?? '',
        ]
          .filter(Boolean)
          .join(' · ');
        body.push(
          `<figure data-trial="${t.index}">${learningCurveChart(res.epochs, {
            trialIndex: t.index,
            title: `${describeVariant(v)}, fold ${t.fold}`,
            bestEpoch: res.bestEpoch,
          })}<figcaption>${esc(caption)}${res.reason ? `<br>${esc(res.reason)}` : ''}</figcaption></figure>`,
        );
      } else {
        body.push(
          `<div class="placeholder" data-trial="${t.index}" data-status="${esc(t.status)}"><span class="badge ${esc(t.status)}">${esc(t.status)}</span><span>trial ${t.index}, fold ${t.fold}</span>${res?.reason ? `<span>${esc(res.reason)}</span>` : ''}</div>`,
        );
      }
    }
    body.push('</div>');
  }
  body.push('</section>');

  // Failed trials.
  const failed = views.filter((t) => t.result && t.status !== 'succeeded');
  if (failed.length) {
    body.push(
      '<section id="failures"><h2>Failed and stopped trials</h2><table><thead><tr><th>trial</th><th>variant</th><th>fold</th><th>status</th><th>attempt</th><th>reason</th></tr></thead><tbody>',
      ...failed.map((t) => {
        const v = plan.variants[plan.trials[t.index].variantIndex];
        return `<tr data-trial="${t.index}"><td class="num">${t.index}</td><td>${esc(describeVariant(v))}</td><td class="num">${t.fold}</td><td><span class="badge ${esc(t.status)}">${esc(t.status)}</span></td><td class="num">${t.result?.attempt ?? ''}</td><td>${esc(t.result?.reason ?? '')}</td></tr>`;
      }),
      '</tbody></table></section>',
    );
  }

  // Backend and timings.
  body.push('<section id="timings"><h2>Backend and timings</h2>');
  const results = [...byTrial.values()];
  if (!results.length) {
    body.push('<p class="note">No trial has finished yet.</p>');
  } else {
    const backends = new Map<string, number>();
    for (const r of results) {
      const b = r.backend ?? 'unknown';
      backends.set(b, (backends.get(b) ?? 0) + 1);
    }
    const trained = results.filter((r) => r.status === 'succeeded');
    const totalMs = results.reduce((s, r) => s + r.durationMs, 0);
    const epochs = trained.flatMap((r) => r.epochs);
    const starts = results.map((r) => Date.parse(r.startedAt)).filter(Number.isFinite);
    const ends = results.map((r) => Date.parse(r.finishedAt)).filter(Number.isFinite);
    const wall =
      starts.length && ends.length ? Math.max(...ends) - Math.min(...starts) : Number.NaN;
    const featuresMs = results.reduce((s, r) => s + (r.featuresMs ?? 0), 0);
    // The refit (the default champion) is not one of the plan's trials: its result is apart.
    const championResult = champion
      ? (byTrial.get(champion.trialIndex) ??
        input.trials.find((t) => t.trialIndex === champion.trialIndex))
      : undefined;
    const rows: [string, string][] = [
      ['backend (trials)', [...backends].map(([b, n]) => `${b}: ${n}`).join(', ')],
      ...(championResult?.backend
        ? ([['champion trained on', championResult.backend]] as [string, string][])
        : []),
      ['trial time, summed', formatDuration(totalMs)],
      [
        'trial time, mean (succeeded)',
        trained.length
          ? formatDuration(trained.reduce((s, r) => s + r.durationMs, 0) / trained.length)
          : '–',
      ],
      [
        'epoch time, mean',
        epochs.length
          ? formatDuration(epochs.reduce((s, e) => s + e.durationMs, 0) / epochs.length)
          : '–',
      ],
      ['epochs trained', String(epochs.length)],
      ['wall time, first start to last finish', formatDuration(wall)],
      [
        'trials at once, mean',
        Number.isFinite(wall) && wall > 0 ? (totalMs / wall).toFixed(2) : '–',
      ],
    ];
    if (featuresMs > 0)
      rows.push(['bottleneck features (in trial time)', formatDuration(featuresMs)]);
    if (sweep && ['completed', 'failed', 'cancelled'].includes(sweep.status)) {
      rows.push([
        'sweep, created to last update',
        formatDuration(Date.parse(sweep.updatedAt) - Date.parse(sweep.createdAt)),
      ]);
    }
    body.push(
      `<table><tbody>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</tbody></table>`,
    );
    const bars: TimelineBar[] = results
      .sort((a, b) => a.trialIndex - b.trialIndex)
      .map((r) => {
        const start = Date.parse(r.startedAt);
        const end = Date.parse(r.finishedAt);
        const v = plan.variants[plan.trials[r.trialIndex].variantIndex];
        return {
          trialIndex: r.trialIndex,
          label: `${describeVariant(v)} fold ${r.fold}`,
          start: Number.isFinite(start) ? start : 0,
          end: Number.isFinite(end) ? end : Number.isFinite(start) ? start : 0,
          status: r.status,
          backend: r.backend,
        };
      });
    body.push(`<h3>Timeline</h3><figure>${timelineChart(bars)}</figure>`);
  }
  body.push('</section>');

  // Lineage.
  body.push('<section id="lineage"><h2>Lineage</h2>');
  const lineageRows: [string, string][] = [
    [
      'sweep',
      `${plan.sweepId}${plan.spec.name ? ` (${plan.spec.name})` : ''}, planned ${plan.createdAt}`,
    ],
    [
      'dataset',
      `${plan.dataset.source.uri} · ${plan.dataset.count} images · ${plan.dataset.classes.length} classes (${plan.dataset.classes.join(', ')}) · ${plan.dataset.shape.join('×')} · hash ${plan.dataset.hash.slice(0, 16)}`,
    ],
    ['images per class', plan.dataset.countsPerClass.join(', ')],
    ['preprocessing', describePreprocessing(preprocessingOf(plan.dataset))],
    ...preprocessingOf(plan.dataset).warnings.map((w): [string, string] => ['note', w]),
    [
      'folds',
      `${plan.folds} folds · holdout ${plan.foldOf.filter((f) => f < 0).length} images · seed ${plan.spec.seed}`,
    ],
    ...(plan.testSet
      ? ([
          [
            'test set',
            `${plan.testSet.source.uri} · ${plan.testSet.count} images · hash ${plan.testSet.hash.slice(0, 16)}`,
          ],
        ] as [string, string][])
      : []),
    [
      'base model',
      `${plan.baseModel.uri} · hash ${plan.baseModel.hash.slice(0, 16)} · ${plan.baseModel.layers.length} layers below the head (${plan.baseModel.layers.map((l) => l.name).join(', ')})`,
    ],
    ['cut layer', plan.cutLayer ?? plan.baseModel.layers.at(-1)?.name ?? '–'],
    [
      'training',
      `learning rate ${plan.spec.training.learningRate} · ${plan.spec.training.epochs} epochs · batch ${plan.spec.training.batchSize} · patience ${plan.spec.training.patience} · objective ${objective}`,
    ],
  ];
  const lineage = input.metadata?.lineage;
  if (lineage) {
    lineageRows.push(
      [
        'champion variant',
        `${describeVariant(lineage.variant)} (${lineage.variant.id}), learning rate ${lineage.variant.learningRate}`,
      ],
      ['champion weights', championModelDescription(lineage)],
      [
        'champion outputs',
        `${input.metadata?.outputs} · input ${input.metadata?.inputShape.join('×')} · pixels × ${input.metadata?.preprocessing.scale} + ${input.metadata?.preprocessing.offset}`,
      ],
      ['promoted', lineage.promotedAt],
    );
  }
  body.push(
    `<table><tbody>${lineageRows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</tbody></table>`,
    `<details data-preprocessing><summary>Preprocessing steps</summary><ol>${preprocessingOf(
      plan.dataset,
    )
      .steps.map((step) => `<li>${esc(step)}</li>`)
      .join('')}</ol></details>`,
    `<details><summary>Sweep spec</summary><pre>${esc(JSON.stringify(plan.spec, null, 2))}</pre></details>`,
    '</section>',
  );
  return page(title, body, input.refreshSeconds);
}

function card(label: string, value: string, note: string): string {
  return `<div class="card" data-card="${esc(label)}"><span class="meta">${esc(label)}</span><b>${esc(value)}</b><span class="meta">${esc(note)}</span></div>`;
}

function page(title: string, body: string[], refreshSeconds?: number): string {
  const refresh = refreshSeconds
    ? `<meta http-equiv="refresh" content="${Math.max(1, Math.round(refreshSeconds))}">`
    : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,">${refresh}<title>${esc(title)}</title><style>${CSS}</style></head><body><main>${body.join('\n')}</main></body></html>\n`;
}
