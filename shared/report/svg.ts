/**
 * A small SVG chart kit for the HTML report: scales, ticks and a few chart shapes, each returning
 * an `<svg>` string with no scripts and no external references (the report is one file that
 * opens offline). Every chart root carries `class="chart"` and `data-chart="<kind>"`, so tests
 * and readers can count and find them.
 */

/** Escapes text for HTML/SVG element content and attribute values. */
export function esc(text: unknown): string {
  return String(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Rounds a coordinate to 0.1 px: smaller files, no visible difference. */
const r = (x: number) => Math.round(x * 10) / 10;

/** Tableau 10: distinct colours for series. */
export const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
] as const;

export interface Scale {
  (value: number): number;
  ticks: number[];
  format: (value: number) => string;
}

/** "Nice" tick values (1, 2, 5 x 10^k steps) covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) return [min];
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let k = Math.ceil(min / step - 1e-9); k * step <= max + step * 1e-9; k++) {
    ticks.push(Number((k * step).toPrecision(12)));
  }
  return ticks;
}

function formatTick(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e4 || abs < 1e-3) return value.toExponential(0);
  return String(Number(value.toPrecision(3)));
}

/** A linear scale from [d0, d1] onto [r0, r1]. */
export function linearScale(domain: [number, number], range: [number, number]): Scale {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const span = d1 - d0 || 1;
  const scale = ((v: number) => r0 + ((v - d0) / span) * (r1 - r0)) as Scale;
  scale.ticks = niceTicks(d0, d1);
  scale.format = formatTick;
  return scale;
}

/** A log10 scale (positive domain) with a tick per power of ten and at the domain's values. */
export function logScale(domain: [number, number], range: [number, number]): Scale {
  const [l0, l1] = [Math.log10(domain[0]), Math.log10(domain[1])];
  const lin = linearScale([l0, l1], range);
  const scale = ((v: number) => lin(Math.log10(v))) as Scale;
  const ticks: number[] = [];
  for (let k = Math.floor(l0); k <= Math.ceil(l1); k++) {
    const t = 10 ** k;
    if (t >= domain[0] * 0.999 && t <= domain[1] * 1.001) ticks.push(Number(t.toPrecision(6)));
  }
  scale.ticks = ticks.length >= 2 ? ticks : [domain[0], domain[1]];
  scale.format = formatTick;
  return scale;
}

/** The extent of finite values, padded by `pad` of the span (or ±pad when all are equal). */
export function paddedExtent(values: readonly number[], pad = 0.08): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (!finite.length) return [0, 1];
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const span = hi - lo || Math.abs(hi) || 1;
  return [lo - span * pad, hi + span * pad];
}

export interface Frame {
  width: number;
  height: number;
  margin: { top: number; right: number; bottom: number; left: number };
}

function inner(frame: Frame) {
  const { width, height, margin } = frame;
  return {
    x0: margin.left,
    x1: width - margin.right,
    y0: height - margin.bottom,
    y1: margin.top,
  };
}

/** The root element of a chart: a scalable SVG with its kind and an accessible label. */
export function svgRoot(
  kind: string,
  frame: Pick<Frame, 'width' | 'height'>,
  label: string,
  body: string,
  attrs: Record<string, string | number> = {},
): string {
  const extra = Object.entries(attrs)
    .map(([k, v]) => ` ${k}="${esc(v)}"`)
    .join('');
  return (
    `<svg class="chart" data-chart="${esc(kind)}"${extra} xmlns="http://www.w3.org/2000/svg" ` +
    `viewBox="0 0 ${frame.width} ${frame.height}" width="${frame.width}" height="${frame.height}" ` +
    `role="img" aria-label="${esc(label)}"><title>${esc(label)}</title>${body}</svg>`
  );
}

/** Axes with ticks, grid lines and labels for a y scale and an x scale or categories. */
export function axes(
  frame: Frame,
  y: Scale,
  x: Scale | { categories: string[]; at: (i: number) => number },
  labels: { x?: string; y?: string } = {},
): string {
  const { x0, x1, y0, y1 } = inner(frame);
  const parts: string[] = [];
  for (const t of y.ticks) {
    const py = r(y(t));
    parts.push(
      `<line class="grid" x1="${x0}" x2="${x1}" y1="${py}" y2="${py}"/>`,
      `<text class="tick" x="${x0 - 4}" y="${py + 3}" text-anchor="end">${esc(y.format(t))}</text>`,
    );
  }
  if ('categories' in x) {
    x.categories.forEach((c, i) => {
      parts.push(
        `<text class="tick" x="${r(x.at(i))}" y="${y0 + 12}" text-anchor="middle">${esc(c)}</text>`,
      );
    });
  } else {
    for (const t of x.ticks) {
      const px = r(x(t));
      parts.push(
        `<line class="tickmark" x1="${px}" x2="${px}" y1="${y0}" y2="${y0 + 3}"/>`,
        `<text class="tick" x="${px}" y="${y0 + 12}" text-anchor="middle">${esc(x.format(t))}</text>`,
      );
    }
  }
  parts.push(
    `<line class="axis" x1="${x0}" x2="${x1}" y1="${y0}" y2="${y0}"/>`,
    `<line class="axis" x1="${x0}" x2="${x0}" y1="${y0}" y2="${y1}"/>`,
  );
  if (labels.x) {
    parts.push(
      `<text class="label" x="${r((x0 + x1) / 2)}" y="${frame.height - 3}" text-anchor="middle">${esc(labels.x)}</text>`,
    );
  }
  if (labels.y) {
    const cy = r((y0 + y1) / 2);
    parts.push(
      `<text class="label" transform="translate(10 ${cy}) rotate(-90)" text-anchor="middle">${esc(labels.y)}</text>`,
    );
  }
  return parts.join('');
}

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  color: string;
  dashed?: boolean;
}

/** Polylines with a dot per point (a single point still shows), and a legend in the top right. */
export function lines(series: readonly Series[], x: Scale, y: Scale): string {
  return series
    .map((s) => {
      const pts = s.points.filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
      const path = pts.map(([a, b]) => `${r(x(a))},${r(y(b))}`).join(' ');
      const dash = s.dashed ? ' stroke-dasharray="4 3"' : '';
      const dots = pts
        .map(([a, b]) => `<circle cx="${r(x(a))}" cy="${r(y(b))}" r="1.8" fill="${s.color}"/>`)
        .join('');
      return `<g class="series" data-series="${esc(s.name)}"><polyline fill="none" stroke="${s.color}" stroke-width="1.6"${dash} points="${path}"/>${dots}</g>`;
    })
    .join('');
}

/** A legend row of colour swatches, at (x, y). */
export function legend(
  items: readonly { name: string; color: string; dashed?: boolean }[],
  x: number,
  y: number,
): string {
  let cx = x;
  return items
    .map((it) => {
      const dash = it.dashed ? ' stroke-dasharray="4 3"' : '';
      const out = `<line x1="${cx}" x2="${cx + 14}" y1="${y}" y2="${y}" stroke="${it.color}" stroke-width="2"${dash}/><text class="legend" x="${cx + 17}" y="${y + 3}">${esc(it.name)}</text>`;
      cx += 24 + it.name.length * 5.6;
      return out;
    })
    .join('');
}

/** A colour from white to `#2f5d8a` for a fraction 0..1 (confusion-matrix cells). */
export function heat(fraction: number): string {
  const f = Math.max(0, Math.min(1, fraction));
  const mix = (a: number, b: number) => Math.round(a + (b - a) * f);
  const [r0, g0, b0] = [247, 251, 255];
  const [r1, g1, b1] = [47, 93, 138];
  return `rgb(${mix(r0, r1)},${mix(g0, g1)},${mix(b0, b1)})`;
}
