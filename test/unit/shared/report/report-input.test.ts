import { afterEach, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../../../shared/errors.js';
import { getText } from '../../../../shared/ports/object-store.js';
import {
  buildReportInput,
  htmlReportKey,
  LIVE_REFRESH_SECONDS,
  writeHtmlReport,
} from '../../../../shared/report/report-input.js';
import { trialResultKey } from '../../../../shared/schemas/plan.js';
import { completedScenario, liveScenario, seededStores } from '../../../helpers/report-fixtures.js';

let stores: Awaited<ReturnType<typeof seededStores>> | undefined;
afterEach(async () => {
  await stores?.cleanup();
  stores = undefined;
});

describe('buildReportInput()', () => {
  it('reads a live sweep through the ports: plan, results, running trials, leaderboard, no champion', async () => {
    const scenario = liveScenario();
    stores = await seededStores(scenario);
    // An unreadable result is left out, not fatal.
    await stores.objects.put(trialResultKey(stores.plan.sweepId, 20), '{not json');

    const input = await buildReportInput(stores.deps, stores.plan.sweepId, {
      now: new Date('2025-02-03T04:05:06.000Z'),
    });

    expect(input.plan).toEqual(stores.plan);
    expect(input.trials.map((t) => t.trialIndex).sort((a, b) => a - b)).toEqual(
      scenario.input.trials.map((t) => t.trialIndex).sort((a, b) => a - b),
    );
    expect(input.trialStates?.find((t) => t.trialIndex === 13)?.status).toBe('running');
    expect(input.leaderboard).toEqual(scenario.input.leaderboard);
    expect(input.champion).toBeUndefined();
    expect(input.metadata).toBeUndefined();
    expect(input.sweep?.status).toBe('running');
    expect(input.refreshSeconds).toBe(LIVE_REFRESH_SECONDS);
    expect(input.generatedAt).toBe('2025-02-03T04:05:06.000Z');
  });

  it('reads the champion record and its metadata.json (confusion matrices kept)', async () => {
    const scenario = completedScenario();
    stores = await seededStores(scenario);
    const input = await buildReportInput(stores.deps, stores.plan.sweepId);
    expect(input.champion).toEqual(scenario.input.champion);
    expect(input.metadata?.metrics.test?.confusion).toEqual(
      scenario.input.metadata?.metrics.test?.confusion,
    );
    expect(input.metadata?.metrics.holdout?.perClassAccuracy).toEqual([1, 0.75, 1]);
    expect(input.refreshSeconds).toBeUndefined();
  });

  it('throws NotFoundError for an unknown sweep', async () => {
    stores = await seededStores(liveScenario());
    await expect(buildReportInput(stores.deps, 'nope')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('writeHtmlReport()', () => {
  it('stores the rendered report at sweeps/<id>/report.html, without a reload tag', async () => {
    const scenario = completedScenario();
    stores = await seededStores(scenario);
    const key = await writeHtmlReport(stores.deps, stores.plan.sweepId);
    expect(key).toBe(`sweeps/${stores.plan.sweepId}/report.html`);
    expect(htmlReportKey('abc')).toBe('sweeps/abc/report.html');
    const html = await getText(stores.objects, key);
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.match(/data-chart="confusion-matrix"/g)).toHaveLength(2);
    expect(html).not.toContain('http-equiv="refresh"');
  });
});
