/**
 * Loads what the HTML report of a sweep shows through the ports alone (ObjectStore,
 * StateStore), and writes the report next to the sweep's other objects.
 */
import { buildLeaderboard } from '../aggregation/leaderboard.js';
import { mapBounded } from '../concurrency.js';
import { NotFoundError } from '../errors.js';
import { getJson, type ObjectStore } from '../ports/object-store.js';
import type { StateStore } from '../ports/state-store.js';
import { type ChampionMetadata, ChampionMetadataSchema } from '../schemas/champion.js';
import { PlanSchema, planKey } from '../schemas/plan.js';
import { TERMINAL_SWEEP_STATUSES } from '../schemas/state.js';
import { type TrialResult, TrialResultSchema } from '../schemas/trial-result.js';
import { type ReportInput, renderHtmlReport } from './html-report.js';

/** Where the HTML report of a sweep is stored. */
export const htmlReportKey = (sweepId: string) => `sweeps/${sweepId}/report.html`;

/** How often a browser reloads the report of a sweep that has not finished. */
export const LIVE_REFRESH_SECONDS = 10;

export interface ReportDeps {
  objects: ObjectStore;
  state: StateStore;
}

const READ_CONCURRENCY = 16;

/** Every readable TrialResult stored for a sweep (an unreadable one is left out). */
async function readResults(objects: ObjectStore, sweepId: string): Promise<TrialResult[]> {
  const keys = (await objects.list(`sweeps/${sweepId}/trials/`)).filter((k) =>
    k.endsWith('/result.json'),
  );
  const parsed = await mapBounded(keys, READ_CONCURRENCY, async (key) =>
    TrialResultSchema.safeParse(await getJson(objects, key).catch(() => null)),
  );
  return parsed.flatMap((p) => (p.success ? [p.data] : []));
}

/**
 * What the report of `sweepId` shows, now: the sweep record, its plan (when written), the trial
 * results and states so far, the live leaderboard, and the champion with its metadata.json (when
 * promoted). Works at any point of the sweep's life.
 * @throws NotFoundError when the state store has no such sweep
 */
export async function buildReportInput(
  deps: ReportDeps,
  sweepId: string,
  options: { now?: Date; live?: boolean } = {},
): Promise<ReportInput> {
  const sweep = await deps.state.getSweep(sweepId);
  if (!sweep) throw new NotFoundError('sweep', sweepId);
  const key = sweep.planKey ?? planKey(sweepId);
  const planJson = (await deps.objects.exists(key)) ? await getJson(deps.objects, key) : undefined;
  const plan = planJson === undefined ? undefined : PlanSchema.parse(planJson);
  const [trials, trialStates, champion] = await Promise.all([
    plan ? readResults(deps.objects, sweepId) : Promise.resolve([]),
    deps.state.listTrials(sweepId),
    deps.state.getChampion(sweepId),
  ]);
  let metadata: ChampionMetadata | undefined;
  if (champion) {
    const metaKey = `${champion.modelPrefix}/metadata.json`;
    if (await deps.objects.exists(metaKey)) {
      const parsed = ChampionMetadataSchema.safeParse(await getJson(deps.objects, metaKey));
      if (parsed.success) metadata = parsed.data;
    }
  }
  const live = options.live ?? !TERMINAL_SWEEP_STATUSES.includes(sweep.status);
  return {
    sweepId,
    sweep,
    plan,
    leaderboard: plan ? buildLeaderboard(plan, trials) : undefined,
    trials,
    trialStates,
    champion,
    metadata,
    generatedAt: (options.now ?? new Date()).toISOString(),
    refreshSeconds: live ? LIVE_REFRESH_SECONDS : undefined,
  };
}

/**
 * Renders the report of `sweepId` as it stands and stores it at htmlReportKey(sweepId); returns
 * the key. Call it after aggregation, and after each finished trial for a live file.
 * @throws NotFoundError when the state store has no such sweep
 */
export async function writeHtmlReport(
  deps: ReportDeps,
  sweepId: string,
  options: { now?: Date } = {},
): Promise<string> {
  const html = renderHtmlReport(await buildReportInput(deps, sweepId, { ...options, live: false }));
  const key = htmlReportKey(sweepId);
  await deps.objects.put(key, html);
  return key;
}
