/**
 * The report's charts, each a pure function of its data returning one `<svg class="chart"
 * data-chart="<kind>">` (see svg.ts). Kinds: fold-scores, learning-curve, objective-vs,
 * confusion-matrix, per-class-accuracy, timeline.
 */
import {
  axes,
  esc,
  type Frame,
  heat,
  legend,
  linearScale,
  lines,
  logScale,
  PALETTE,
  paddedExtent,
  type Scale,
  svgRoot,
} from './svg.js';

const r = (x: number) => Math.round(x * 10) / 10;
const fmt4 = (x: number) => x.toFixed(4);

/** One leaderboard row as the fold-scores chart draws it. */
export interface FoldScoresRow {
  label: string;
  variantId: string;
  /** Per fold: the objective, 'failed', or 'pending' (also running, pruned…: anything not a score). */
  folds: (number | string)[];
  mean: number | null;
  std: number | null;
  /** A CSS colour for the row's label (status). */
  highlight?: 'champion' | 'leading';
}

/**
 * Each variant's fold scores as dots on one row, with the mean (tick), mean ± std (band) and
 * min-max (whisker), in leaderboard order.
 */
export function foldScoresChart(rows: readonly FoldScoresRow[], objective: string): string {
  const rowH = 20;
  const frame: Frame = {
    width: 760,
    height: 60 + rowH * Math.max(1, rows.length),
    margin: { top: 22, right: 120, bottom: 34, left: 210 },
  };
  const scores = rows.flatMap((row) => row.folds.filter((f): f is number => typeof f === 'number'));
  const x = linearScale(paddedExtent(scores, 0.05), [
    frame.margin.left,
    frame.width - frame.margin.right,
  ]);
  const yAt = (i: number) => frame.margin.top + rowH * i + rowH / 2;
  const y0 = frame.height - frame.margin.bottom;
  const parts: string[] = [];
  for (const t of x.ticks) {
    const px = r(x(t));
    parts.push(
      `<line class="grid" x1="${px}" x2="${px}" y1="${frame.margin.top}" y2="${y0}"/>`,
      `<text class="tick" x="${px}" y="${y0 + 12}" text-anchor="middle">${esc(x.format(t))}</text>`,
    );
  }
  parts.push(
    `<line class="axis" x1="${frame.margin.left}" x2="${frame.width - frame.margin.right}" y1="${y0}" y2="${y0}"/>`,
    `<text class="label" x="${r((frame.margin.left + frame.width - frame.margin.right) / 2)}" y="${frame.height - 4}" text-anchor="middle">${esc(objective)} per fold (dots), mean (bar), mean ± std (band), min-max (line)</text>`,
  );
  rows.forEach((row, i) => {
    const cy = yAt(i);
    const cls = row.highlight ? ` ${row.highlight}` : '';
    parts.push(
      `<text class="rowlabel${cls}" x="${frame.margin.left - 6}" y="${cy + 3}" text-anchor="end">${esc(row.label)}</text>`,
    );
    const values = row.folds.filter((f): f is number => typeof f === 'number');
    if (values.length) {
      const lo = Math.min(...values);
      const hi = Math.max(...values);
      parts.push(`<line class="whisker" x1="${r(x(lo))}" x2="${r(x(hi))}" y1="${cy}" y2="${cy}"/>`);
    }
    if (row.mean !== null) {
      const std = row.std ?? 0;
      const a = r(x(row.mean - std));
      const b = r(x(row.mean + std));
      parts.push(
        `<rect class="band" x="${a}" y="${cy - 6}" width="${r(Math.max(1, b - a))}" height="12"><title>${esc(`${row.label}: mean ${fmt4(row.mean)} ± ${fmt4(std)}`)}</title></rect>`,
        `<line class="mean" x1="${r(x(row.mean))}" x2="${r(x(row.mean))}" y1="${cy - 7}" y2="${cy + 7}"/>`,
      );
    }
    row.folds.forEach((f, fold) => {
      if (typeof f !== 'number') return;
      parts.push(
        `<circle class="fold" cx="${r(x(f))}" cy="${cy}" r="3.2" fill="${PALETTE[fold % PALETTE.length]}"><title>${esc(`${row.label} fold ${fold}: ${fmt4(f)}`)}</title></circle>`,
      );
    });
    const others = row.folds.filter((f) => typeof f !== 'number') as string[];
    const note = others.length ? summarise(others) : '';
    if (note) {
      parts.push(
        `<text class="rownote" x="${frame.width - frame.margin.right + 6}" y="${cy + 3}">${esc(note)}</text>`,
      );
    }
  });
  const folds = Math.max(0, ...rows.map((row) => row.folds.length));
  parts.push(
    legend(
      Array.from({ length: folds }, (_, f) => ({
        name: `fold ${f}`,
        color: PALETTE[f % PALETTE.length],
      })),
      frame.width - frame.margin.right - 50 * folds,
      10,
    ),
  );
  return svgRoot('fold-scores', frame, `${objective}: fold scores per variant`, parts.join(''), {
    'data-rows': rows.length,
  });
}

function summarise(states: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const s of states) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
}

export interface CurvePoint {
  epoch: number;
  loss: number;
  accuracy: number;
  /** null: no validation split (a refit); the validation line is left out. */
  valLoss: number | null;
  valAccuracy: number | null;
}

const TRAIN = PALETTE[0];
const VAL = PALETTE[1];

/**
 * One trial's learning curves: accuracy (left panel) and loss (right), train and validation per
 * epoch, the kept epoch marked.
 */
export function learningCurveChart(
  epochs: readonly CurvePoint[],
  options: { trialIndex: number; title: string; bestEpoch?: number },
): string {
  const panelW = 175;
  const height = 156;
  const margin = { top: 28, right: 8, bottom: 28, left: 36 };
  const xs = epochs.map((e) => e.epoch + 1);
  const xDomain: [number, number] = [Math.min(1, ...xs), Math.max(2, ...xs)];
  const panel = (offset: number, kind: 'accuracy' | 'loss') => {
    const frame: Frame = {
      width: offset + panelW,
      height,
      margin: { ...margin, left: margin.left + offset },
    };
    const x = linearScale(xDomain, [frame.margin.left, frame.width - margin.right]);
    x.ticks = x.ticks.filter((t) => Number.isInteger(t));
    const values =
      kind === 'accuracy'
        ? [0, 1]
        : [0, ...epochs.flatMap((e) => [e.loss, e.valLoss ?? Number.NaN]).filter(Number.isFinite)];
    const top = kind === 'accuracy' ? 1 : Math.max(...values) * 1.05 || 1;
    const y = linearScale([0, top], [height - margin.bottom, margin.top]);
    const [train, val] =
      kind === 'accuracy'
        ? [
            epochs.map((e) => [e.epoch + 1, e.accuracy] as const),
            epochs.flatMap((e) =>
              e.valAccuracy === null ? [] : [[e.epoch + 1, e.valAccuracy] as const],
            ),
          ]
        : [
            epochs.map((e) => [e.epoch + 1, e.loss] as const),
            epochs.flatMap((e) => (e.valLoss === null ? [] : [[e.epoch + 1, e.valLoss] as const])),
          ];
    let best = '';
    if (options.bestEpoch !== undefined) {
      const bx = r(x(options.bestEpoch + 1));
      best = `<line class="best" x1="${bx}" x2="${bx}" y1="${margin.top}" y2="${height - margin.bottom}"><title>kept epoch ${options.bestEpoch + 1}</title></line>`;
    }
    return (
      `<g class="panel" data-panel="${kind}">` +
      axes(frame, y, x, { x: 'epoch' }) +
      `<text class="paneltitle" x="${frame.margin.left}" y="${margin.top - 5}">${kind}</text>` +
      best +
      lines(
        [
          { name: `train ${kind}`, points: train, color: TRAIN },
          { name: `validation ${kind}`, points: val, color: VAL, dashed: true },
        ],
        x,
        y,
      ) +
      '</g>'
    );
  };
  const body =
    panel(0, 'accuracy') +
    panel(panelW, 'loss') +
    legend(
      [
        { name: 'train', color: TRAIN },
        { name: 'validation', color: VAL, dashed: true },
      ],
      panelW * 2 - 140,
      9,
    );
  return svgRoot(
    'learning-curve',
    { width: panelW * 2, height },
    `learning curves of trial ${options.trialIndex}: ${options.title}`,
    body,
    { 'data-trial': options.trialIndex, 'data-epochs': epochs.length },
  );
}

/** One variant's point on a dimension chart. */
export interface DimensionPoint {
  value: number | string;
  label: string;
  /** Colour group (the strategy). */
  group: string;
  folds: readonly number[];
  mean: number | null;
}

/**
 * The objective against one swept dimension: each variant's fold scores (hollow) and mean
 * (filled), coloured by strategy; numeric dimensions spanning 10x or more use a log axis.
 */
export function objectiveVsChart(
  dimension: string,
  points: readonly DimensionPoint[],
  objective: string,
): string {
  const frame: Frame = {
    width: 360,
    height: 230,
    margin: { top: 24, right: 12, bottom: 34, left: 46 },
  };
  const { left, right, top, bottom } = frame.margin;
  const ys = points.flatMap((p) => [...p.folds, ...(p.mean === null ? [] : [p.mean])]);
  const y = linearScale(paddedExtent(ys), [frame.height - bottom, top]);
  const numeric = points.every((p) => typeof p.value === 'number');
  const groups = [...new Set(points.map((p) => p.group))];
  const colorOf = (g: string) => PALETTE[groups.indexOf(g) % PALETTE.length];
  let xOf: (p: DimensionPoint) => number;
  let xAxis: Scale | { categories: string[]; at: (i: number) => number };
  if (numeric) {
    const nums = points.map((p) => p.value as number);
    const lo = Math.min(...nums);
    const hi = Math.max(...nums);
    const useLog = lo > 0 && hi / lo >= 10;
    const pad = useLog ? 1.4 : (hi - lo || 1) * 0.08;
    const scale = useLog
      ? logScale([lo / pad, hi * pad], [left, frame.width - right])
      : linearScale([lo - pad, hi + pad], [left, frame.width - right]);
    if (useLog || nums.every(Number.isInteger)) {
      scale.ticks = [...new Set(nums)].sort((a, b) => a - b);
    }
    xOf = (p) => scale(p.value as number);
    xAxis = scale;
  } else {
    const categories = [...new Set(points.map((p) => String(p.value)))];
    const band = (frame.width - left - right) / categories.length;
    const at = (i: number) => left + band * (i + 0.5);
    xOf = (p) => at(categories.indexOf(String(p.value)));
    xAxis = { categories, at };
  }
  const parts = [axes(frame, y, xAxis, { x: dimension, y: objective })];
  // Several variants can share a value (e.g. freezeDepth 3 at two rates): spread them a little.
  const seen = new Map<string, number>();
  for (const p of points) {
    const key = String(p.value);
    const k = seen.get(key) ?? 0;
    seen.set(key, k + 1);
    const cx = xOf(p) + (k % 2 ? 1 : -1) * Math.ceil(k / 2) * 5;
    const color = colorOf(p.group);
    for (const f of p.folds) {
      parts.push(
        `<circle class="foldpt" cx="${r(cx)}" cy="${r(y(f))}" r="2.6" fill="none" stroke="${color}"><title>${esc(`${p.label}: fold ${fmt4(f)}`)}</title></circle>`,
      );
    }
    if (p.mean !== null) {
      parts.push(
        `<circle class="meanpt" cx="${r(cx)}" cy="${r(y(p.mean))}" r="4.2" fill="${color}"><title>${esc(`${p.label}: mean ${fmt4(p.mean)}`)}</title></circle>`,
      );
    }
  }
  if (!ys.length) {
    parts.push(
      `<text class="rownote" x="${r((left + frame.width - right) / 2)}" y="${r((top + frame.height - bottom) / 2)}" text-anchor="middle">no finished trial yet</text>`,
    );
  }
  parts.push(
    legend(
      groups.map((g) => ({ name: g, color: colorOf(g) })),
      left,
      10,
    ),
  );
  return svgRoot('objective-vs', frame, `${objective} against ${dimension}`, parts.join(''), {
    'data-dimension': dimension,
  });
}

const short = (name: string, n = 12) => (name.length > n ? `${name.slice(0, n - 1)}…` : name);

/** A confusion matrix: rows true classes, columns predictions; cells shaded by row fraction. */
export function confusionChart(
  classNames: readonly string[],
  confusion: readonly (readonly number[])[],
  set: string,
): string {
  const n = classNames.length;
  const cell = Math.max(14, Math.min(40, Math.floor(320 / n)));
  const margin = { top: 64, right: 44, bottom: 10, left: 92 };
  const frame = {
    width: Math.max(300, margin.left + cell * n + margin.right),
    height: margin.top + cell * n + 26,
  };
  const parts: string[] = [
    `<text class="label" x="${margin.left + (cell * n) / 2}" y="12" text-anchor="middle">predicted</text>`,
    `<text class="label" transform="translate(10 ${margin.top + (cell * n) / 2}) rotate(-90)" text-anchor="middle">true</text>`,
  ];
  classNames.forEach((name, i) => {
    const cx = margin.left + cell * (i + 0.5);
    parts.push(
      `<text class="tick" transform="translate(${r(cx)} ${margin.top - 4}) rotate(-45)">${esc(short(name))}</text>`,
      `<text class="tick" x="${margin.left - 4}" y="${r(margin.top + cell * (i + 0.5) + 3)}" text-anchor="end">${esc(short(name))}</text>`,
    );
  });
  const fontSize = cell < 22 ? 7 : 10;
  confusion.forEach((row, t) => {
    const total = row.reduce((s, x) => s + x, 0);
    row.forEach((count, p) => {
      const f = total ? count / total : 0;
      const x = margin.left + cell * p;
      const y = margin.top + cell * t;
      parts.push(
        `<rect class="cell" x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${heat(f)}"><title>${esc(`true ${classNames[t]}, predicted ${classNames[p]}: ${count} (${(f * 100).toFixed(1)}% of the class)`)}</title></rect>`,
        `<text class="count" x="${x + cell / 2}" y="${y + cell / 2 + fontSize / 3}" text-anchor="middle" font-size="${fontSize}" fill="${f > 0.5 ? '#fff' : '#222'}">${count}</text>`,
      );
    });
  });
  const samples = confusion.reduce((s, row) => s + row.reduce((a, b) => a + b, 0), 0);
  parts.push(
    `<text class="legend" x="4" y="${frame.height - 6}">${esc(`${set}: ${samples} images; shade: share of the true class`)}</text>`,
  );
  return svgRoot('confusion-matrix', frame, `confusion matrix on the ${set} set`, parts.join(''), {
    'data-set': set,
    'data-classes': n,
  });
}

/** Accuracy per true class as horizontal bars (0-1), with the overall accuracy as a line. */
export function perClassChart(
  classNames: readonly string[],
  perClass: readonly (number | null)[],
  overall: number,
  set: string,
): string {
  const barH = 16;
  const frame: Frame = {
    width: 360,
    height: 40 + barH * classNames.length,
    margin: { top: 8, right: 48, bottom: 30, left: 92 },
  };
  const { left, right, top, bottom } = frame.margin;
  const x = linearScale([0, 1], [left, frame.width - right]);
  const y0 = frame.height - bottom;
  const parts: string[] = [];
  for (const t of x.ticks) {
    const px = r(x(t));
    parts.push(
      `<line class="grid" x1="${px}" x2="${px}" y1="${top}" y2="${y0}"/>`,
      `<text class="tick" x="${px}" y="${y0 + 12}" text-anchor="middle">${esc(x.format(t))}</text>`,
    );
  }
  classNames.forEach((name, i) => {
    const y = top + barH * i;
    const a = perClass[i];
    parts.push(
      `<text class="tick" x="${left - 4}" y="${y + barH / 2 + 3}" text-anchor="end">${esc(short(name))}</text>`,
    );
    if (a === null || a === undefined) {
      parts.push(`<text class="rownote" x="${left + 4}" y="${y + barH / 2 + 3}">no samples</text>`);
      return;
    }
    parts.push(
      `<rect class="bar" x="${left}" y="${y + 2}" width="${r(x(a) - left)}" height="${barH - 4}"><title>${esc(`${name}: ${(a * 100).toFixed(1)}%`)}</title></rect>`,
      `<text class="rownote" x="${r(x(a) + 4)}" y="${y + barH / 2 + 3}">${(a * 100).toFixed(1)}%</text>`,
    );
  });
  const ox = r(x(overall));
  parts.push(
    `<line class="overall" x1="${ox}" x2="${ox}" y1="${top}" y2="${y0}"><title>overall ${(overall * 100).toFixed(1)}%</title></line>`,
    `<line class="axis" x1="${left}" x2="${frame.width - right}" y1="${y0}" y2="${y0}"/>`,
    `<text class="label" x="${r((left + frame.width - right) / 2)}" y="${frame.height - 4}" text-anchor="middle">${esc(`${set} accuracy per class (line: overall ${(overall * 100).toFixed(1)}%)`)}</text>`,
  );
  return svgRoot(
    'per-class-accuracy',
    frame,
    `accuracy per class on the ${set} set`,
    parts.join(''),
    {
      'data-set': set,
      'data-classes': classNames.length,
    },
  );
}

/** One trial's span on the timeline. */
export interface TimelineBar {
  trialIndex: number;
  label: string;
  start: number;
  end: number;
  status: string;
  backend?: string;
}

/** When each trial ran (ms since the first start), one row per trial: shows the parallelism. */
export function timelineChart(bars: readonly TimelineBar[]): string {
  const rowH = Math.max(2, Math.min(10, Math.floor(360 / Math.max(1, bars.length))));
  const frame: Frame = {
    width: 760,
    height: 44 + rowH * bars.length,
    margin: { top: 8, right: 16, bottom: 34, left: 60 },
  };
  const { left, right, top, bottom } = frame.margin;
  const t0 = Math.min(...bars.map((b) => b.start));
  const t1 = Math.max(...bars.map((b) => b.end), t0 + 1000);
  const x = linearScale([0, (t1 - t0) / 1000], [left, frame.width - right]);
  const y0 = frame.height - bottom;
  const parts: string[] = [];
  for (const t of x.ticks) {
    const px = r(x(t));
    parts.push(
      `<line class="grid" x1="${px}" x2="${px}" y1="${top}" y2="${y0}"/>`,
      `<text class="tick" x="${px}" y="${y0 + 12}" text-anchor="middle">${esc(x.format(t))}</text>`,
    );
  }
  bars.forEach((b, i) => {
    const a = x((b.start - t0) / 1000);
    const w = Math.max(1.5, x((b.end - t0) / 1000) - a);
    parts.push(
      `<rect class="span status-${esc(b.status)}" x="${r(a)}" y="${top + rowH * i + 0.5}" width="${r(w)}" height="${Math.max(1, rowH - 1)}"><title>${esc(`trial ${b.trialIndex} ${b.label}: ${b.status}${b.backend ? ` on ${b.backend}` : ''}, ${((b.end - b.start) / 1000).toFixed(1)} s`)}</title></rect>`,
    );
  });
  parts.push(
    `<text class="tick" x="${left - 4}" y="${top + 8}" text-anchor="end">trial ${bars[0]?.trialIndex ?? ''}</text>`,
    `<line class="axis" x1="${left}" x2="${frame.width - right}" y1="${y0}" y2="${y0}"/>`,
    `<text class="label" x="${r((left + frame.width - right) / 2)}" y="${frame.height - 4}" text-anchor="middle">seconds since the first trial started (one row per trial, in trial order)</text>`,
  );
  return svgRoot('timeline', frame, 'trial timeline', parts.join(''), { 'data-rows': bars.length });
}
