import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  renderHtmlReport,
  sweptDimensions,
} from '../../../../shared/report/html-report.js';
import { niceTicks } from '../../../../shared/report/svg.js';
import { TEST_CREATED_AT } from '../../../helpers/factories.js';
import {
  completedScenario,
  FIXTURE_SWEPT_DIMENSIONS,
  liveScenario,
  reportPlan,
} from '../../../helpers/report-fixtures.js';

/** Chart counts by kind, from the rendered markup. */
function chartsByKind(html: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const m of html.matchAll(/<svg class="chart" data-chart="([a-z-]+)"/g)) {
    counts[m[1]] = (counts[m[1]] ?? 0) + 1;
  }
  return counts;
}

const attr = (html: string, kind: string, name: string) =>
  [...html.matchAll(new RegExp(`data-chart="${kind}"[^>]*?${name}="([^"]*)"`, 'g'))].map(
    (m) => m[1],
  );

/** Every row's data-status, by variant id. */
function rowStatuses(html: string): Record<string, string> {
  return Object.fromEntries(
    [
      ...html.matchAll(/<tr class="status-[^"]*" data-variant="([^"]+)" data-status="([^"]+)"/g),
    ].map((m) => [m[1], m[2]]),
  );
}

describe('renderHtmlReport() of a live sweep (no champion, trials pending)', () => {
  const { input, withCurves } = liveScenario();
  const html = renderHtmlReport(input);
  const plan = input.plan;
  if (!plan) throw new Error('the live scenario has a plan');

  it('draws a fold-scores chart, one chart per swept dimension, one learning curve per trial with epochs, a timeline, and no champion charts', () => {
    expect(chartsByKind(html)).toEqual({
      'fold-scores': 1,
      'objective-vs': FIXTURE_SWEPT_DIMENSIONS.length,
      'learning-curve': withCurves,
      timeline: 1,
    });
    expect(attr(html, 'objective-vs', 'data-dimension')).toEqual(FIXTURE_SWEPT_DIMENSIONS);
    const curveTrials = input.trials
      .filter((t) => t.epochs.length)
      .map((t) => String(t.trialIndex))
      .sort();
    expect(attr(html, 'learning-curve', 'data-trial').sort()).toEqual(curveTrials);
    expect(attr(html, 'fold-scores', 'data-rows')).toEqual([String(plan.variants.length)]);
  });

  it('marks each variant: leading, ok, running, incomplete (failed fold), pending', () => {
    const v = plan.variants;
    const statuses = rowStatuses(html);
    expect(Object.keys(statuses)).toHaveLength(v.length);
    expect(statuses[v[3].id]).toBe('incomplete');
    expect(statuses[v[4].id]).toBe('running');
    expect(statuses[v[5].id]).toBe('pending');
    expect(statuses[v[6].id]).toBe('pending');
    const best = input.leaderboard?.bestVariantId ?? '';
    expect(statuses[best]).toBe('leading');
    expect([v[0], v[1], v[2]].filter((x) => x.id !== best).map((x) => statuses[x.id])).toEqual([
      'ok',
      'ok',
    ]);
    expect(html).toContain('incomplete (1 failed)');
  });

  it('shows placeholders for trials without curves, with their state', () => {
    const placeholders = [
      ...html.matchAll(/class="placeholder" data-trial="(\d+)" data-status="([a-z]+)"/g),
    ];
    expect(placeholders).toHaveLength(plan.trials.length - withCurves);
    const byTrial = Object.fromEntries(placeholders.map((m) => [m[1], m[2]]));
    expect(byTrial['10']).toBe('failed');
    expect(byTrial['13']).toBe('running');
    expect(byTrial['14']).toBe('pending');
  });

  it('says there is no champion yet, and reloads itself', () => {
    expect(html).toContain('data-empty="no-champion"');
    expect(html).toContain('<meta http-equiv="refresh" content="10">');
    expect(html).toContain('data-sweep-status="running"');
  });

  it('is self-contained: no script, no external reference, escaped text', () => {
    // The one link: an empty inline favicon, so a browser does not ask the server for one.
    expect(html.match(/<link[^>]*>/g)).toEqual(['<link rel="icon" href="data:,">']);
    const rest = html.replace('<link rel="icon" href="data:,">', '');
    expect(rest).not.toMatch(/<script|<link|<img|<iframe|src=|href=|url\(|@import/i);
    expect(html.replaceAll('http://www.w3.org/2000/svg', '')).not.toMatch(/https?:\/\//);
    expect(html).toContain('exited with code 137 &lt;oom&gt; &amp; no result');
    expect(html).not.toContain('<oom>');
  });
});

describe('renderHtmlReport() of a completed sweep with a champion', () => {
  const { input, withCurves } = completedScenario();
  const html = renderHtmlReport(input);

  it('adds a confusion matrix and per-class accuracy for the holdout and the test set', () => {
    expect(chartsByKind(html)).toEqual({
      'fold-scores': 1,
      'objective-vs': FIXTURE_SWEPT_DIMENSIONS.length,
      'learning-curve': withCurves,
      'confusion-matrix': 2,
      'per-class-accuracy': 2,
      timeline: 1,
    });
    expect(attr(html, 'confusion-matrix', 'data-set')).toEqual(['holdout', 'test']);
    expect(attr(html, 'confusion-matrix', 'data-classes')).toEqual(['3', '3']);
    // The test matrix's cells, row by row.
    const test = html.slice(html.indexOf('data-set="test"'));
    const counts = [...test.matchAll(/<text class="count"[^>]*>(\d+)<\/text>/g)]
      .slice(0, 9)
      .map((m) => Number(m[1]));
    expect(counts).toEqual([18, 2, 0, 3, 14, 3, 0, 1, 19]);
    expect(html).toContain('70.0%');
  });

  it('marks the champion row, shows its scores and lineage, and does not reload', () => {
    const champion = input.champion;
    expect(rowStatuses(html)[champion?.variantId ?? '']).toBe('champion');
    expect(Object.values(rowStatuses(html)).filter((s) => s === 'champion')).toHaveLength(1);
    expect(html).toContain('91.7%');
    expect(html).toContain('85.0%');
    expect(html).toContain(`trial ${champion?.trialIndex}, fold`);
    expect(html).toContain('backend (trials)');
    expect(html).toContain('wasm: 21');
    expect(html).not.toContain('http-equiv="refresh"');
    // The ranking verdict (first vs second, paired over the folds) above the table.
    const verdict = html.match(/<p class="verdict[^"]*" id="verdict">([^<]+)<\/p>/);
    expect(verdict?.[1]).toMatch(/over the same \d folds|fewer than 2 completed folds/);
  });

  it('draws no confusion charts from metadata written before they were recorded', () => {
    const metadata = input.metadata;
    if (!metadata) throw new Error('the scenario has metadata');
    const {
      confusion: _a,
      perClassAccuracy: _b,
      ...holdout
    } = metadata.metrics.holdout ?? {
      accuracy: 0,
      loss: 0,
      samples: 0,
    };
    const old = renderHtmlReport({
      ...input,
      metadata: { ...metadata, metrics: { ...metadata.metrics, holdout, test: undefined } },
    });
    expect(chartsByKind(old)['confusion-matrix']).toBeUndefined();
    expect(old).toContain('No confusion matrix stored');
  });
});

describe('renderHtmlReport() marks', () => {
  it('a pruned variant when its leaderboard row carries status pruned', () => {
    const { input } = liveScenario();
    const board = input.leaderboard;
    if (!board) throw new Error('the live scenario has a leaderboard');
    const pruned = board.rows[board.rows.length - 1];
    const rows = board.rows.map((r) =>
      r === pruned ? Object.assign({}, r, { status: 'pruned' }) : r,
    );
    const html = renderHtmlReport({ ...input, leaderboard: { ...board, rows } });
    expect(rowStatuses(html)[pruned.variantId]).toBe('pruned');
    expect(html).toContain('<span class="badge pruned">pruned</span>');
  });

  it('a sweep with no plan yet (preparing) with its status and no charts', () => {
    const html = renderHtmlReport({
      sweepId: 'sweep-x',
      sweep: {
        status: 'failed',
        createdAt: TEST_CREATED_AT,
        updatedAt: TEST_CREATED_AT,
        error: 'dataset.uri: no such file',
        issues: [{ path: 'dataset.uri', message: 'no such file <x>' }],
      },
      trials: [],
      generatedAt: TEST_CREATED_AT,
    });
    expect(chartsByKind(html)).toEqual({});
    expect(html).toContain('data-empty="no-plan"');
    expect(html).toContain('data-sweep-status="failed"');
    expect(html).toContain('no such file &lt;x&gt;');
  });

  it('a sweep with no result yet: every trial pending, a fold chart and empty dimension charts', () => {
    const plan = reportPlan();
    const html = renderHtmlReport({
      sweepId: plan.sweepId,
      plan,
      trials: [],
      generatedAt: TEST_CREATED_AT,
    });
    expect(chartsByKind(html)).toEqual({
      'fold-scores': 1,
      'objective-vs': FIXTURE_SWEPT_DIMENSIONS.length,
    });
    expect(new Set(Object.values(rowStatuses(html)))).toEqual(new Set(['pending']));
    expect(html).toContain('No trial has finished yet');
  });
});

describe('sweptDimensions()', () => {
  it('lists a dimension only when it takes two values among the strategies it applies to', () => {
    expect(sweptDimensions(reportPlan()).map((d) => d.name)).toEqual(FIXTURE_SWEPT_DIMENSIONS);
    const svm = sweptDimensions(reportPlan()).find((d) => d.name === 'svmC');
    expect(svm?.variants.map((v) => v.strategy)).toEqual([
      'bottleneck-linear',
      'bottleneck-linear',
    ]);
  });
});

describe('chart helpers', () => {
  it('niceTicks gives round steps without float noise', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.63, 0.81)).toEqual([0.65, 0.7, 0.75, 0.8]);
  });

  it('formatDuration reads at each scale', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(12_340)).toBe('12.3 s');
    expect(formatDuration(245_000)).toBe('4 min 05 s');
    expect(formatDuration(3_720_000)).toBe('1 h 02 min');
  });
});
