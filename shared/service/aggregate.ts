import {
  buildLeaderboard,
  formatLeaderboard,
  type Leaderboard,
} from '../aggregation/leaderboard.js';
import { mapBounded } from '../concurrency.js';
import { writeEnsemble } from '../model/ensemble.js';
import { describePreprocessing, preprocessingOf } from '../model/preprocessing.js';
import { foldSplit } from '../planner/folds.js';
import { readRefit, refits } from '../planner/refit.js';
import { copyPrefix, getJson } from '../ports/object-store.js';
import {
  type ChampionMetadata,
  ChampionMetadataSchema,
  championModelDescription,
} from '../schemas/champion.js';
import {
  championPrefix,
  leaderboardKey,
  type Plan,
  planCutLayer,
  reportKey,
  type Trial,
  trialAt,
  trialModelPrefix,
  trialResultKey,
} from '../schemas/plan.js';
import type { ChampionRecord } from '../schemas/state.js';
import { type TrialResult, TrialResultSchema } from '../schemas/trial-result.js';
import { strategyOf } from '../strategies/index.js';
import type { ServiceDeps } from './deps.js';
import { loadPlan } from './sweeps.js';

const RESULT_READ_CONCURRENCY = 16;

/** Every TrialResult stored for a sweep (unreadable ones are logged and skipped). */
export async function readTrialResults(deps: ServiceDeps, sweepId: string): Promise<TrialResult[]> {
  const keys = (await deps.objects.list(`sweeps/${sweepId}/trials/`)).filter((k) =>
    k.endsWith('/result.json'),
  );
  // Gets in parallel: against S3 each one is a round trip (16 at once: ~10x faster, see
  // docs/benchmarks/aggregate-1000-results.md).
  const parsed = await mapBounded(keys, RESULT_READ_CONCURRENCY, async (key) =>
    TrialResultSchema.safeParse(await getJson(deps.objects, key).catch(() => null)),
  );
  const results: TrialResult[] = [];
  parsed.forEach((p, i) => {
    if (p.success) results.push(p.data);
    else deps.logger.warn({ key: keys[i] }, 'skipping an unreadable trial result');
  });
  return results;
}

/** The live leaderboard of a sweep, from whatever results exist now. @throws NotFoundError */
export async function getLeaderboard(deps: ServiceDeps, sweepId: string): Promise<Leaderboard> {
  const plan = await loadPlan(deps, sweepId);
  return buildLeaderboard(plan, await readTrialResults(deps, sweepId));
}

/**
 * The sweep's refit (shared/service/refit.ts) as aggregation needs it: `model` when the refit of
 * variant `variantId` succeeded, `failed` with the reason when it was asked for and did not
 * (failed, never ran, or refitted another variant); undefined when no refit was asked for.
 */
async function refitOutcome(
  deps: ServiceDeps,
  plan: Plan,
  variantId: string,
): Promise<
  { model?: { trial: Trial; epochs: number; rule: string }; failed?: string } | undefined
> {
  if (!refits(plan)) return undefined;
  const refit = await readRefit(deps.objects, plan.sweepId);
  if (!refit) return { failed: 'the refit was not run' };
  if (refit.variantId !== variantId) {
    return { failed: `the refit trained variant ${refit.variantId}, not the winner ${variantId}` };
  }
  const result = TrialResultSchema.safeParse(
    await getJson(deps.objects, trialResultKey(plan.sweepId, refit.trialIndex)).catch(() => null),
  );
  if (!result.success) return { failed: `the refit trial ${refit.trialIndex} left no result` };
  if (result.data.status !== 'succeeded') {
    return { failed: `the refit trial failed: ${result.data.reason ?? 'no reason given'}` };
  }
  const trial = trialAt(plan, refit.trialIndex, refit) as Trial;
  return { model: { trial, epochs: refit.epochs, rule: refit.rule.description } };
}

export type AggregateOutcome =
  | { status: 'completed'; leaderboard: Leaderboard; champion: ChampionRecord; promoted: boolean }
  | { status: 'failed'; leaderboard?: Leaderboard; reason: string }
  | { status: 'skipped'; reason: string };

/**
 * The aggregation's work, without moving the sweep (shared/service/lifecycle.ts settleSweep
 * does that around it): writes the leaderboard, promotes the best complete variant's best fold
 * model as the sweep's champion (model files, then metadata.json, then the champion record: the
 * record is the commit point, so a kill at any step leaves no champion record, and the next
 * attempt overwrites the files), evaluates it on the holdout and the test set, and writes the
 * report. A champion already recorded is kept as it is (no copy, no evaluation).
 * @example
 * const outcome = await promoteBest(deps, plan, buildLeaderboard(plan, trials));
 */
export async function promoteBest(
  deps: ServiceDeps,
  plan: Plan,
  leaderboard: Leaderboard,
): Promise<Exclude<AggregateOutcome, { status: 'skipped' }>> {
  const { sweepId } = plan;
  const stamp = () => deps.clock.now().toISOString();
  await deps.objects.put(leaderboardKey(sweepId), JSON.stringify(leaderboard, null, 1));
  const best = leaderboard.rows.find((r) => r.variantId === leaderboard.bestVariantId);
  if (!best || best.bestTrialIndex === null || best.mean === null) {
    const reason =
      'no variant completed every fold: see the failed trials\u2019 reasons in the leaderboard';
    await deps.objects.put(reportKey(sweepId), renderReport(plan, leaderboard, undefined));
    return { status: 'failed', leaderboard, reason };
  }
  const existing = await deps.state.getChampion(sweepId);
  let champion: ChampionRecord;
  let promoted = false;
  if (existing) {
    champion = existing;
  } else {
    const prefix = championPrefix(sweepId);
    const bestFold = plan.trials[best.bestTrialIndex];
    const variant = plan.variants[bestFold.variantIndex];
    // metadata.json last: a folder without it is an unfinished copy.
    await deps.objects.delete(`${prefix}/metadata.json`).catch(() => undefined);
    const refit = await refitOutcome(deps, plan, variant.id);
    // A refit that failed (or refitted another variant) leaves the best fold's model, said so.
    const kind = plan.spec.champion === 'refit' && !refit?.model ? 'best-fold' : plan.spec.champion;
    const trial = kind === 'refit' && refit?.model ? refit.model.trial : bestFold;
    const memberTrials =
      kind === 'ensemble' ? plan.trials.filter((t) => t.variantIndex === variant.index) : [trial];
    const members = memberTrials.map((t) => t.index);
    if (refit?.failed) {
      deps.logger.warn(
        { sweepId, reason: refit.failed },
        'the refit failed: the champion is the best fold model',
      );
    }
    if (kind === 'ensemble') {
      await writeEnsemble(
        deps.objects,
        members.map((i) => trialModelPrefix(sweepId, i)),
        prefix,
      );
    } else {
      await copyPrefix(deps.objects, trialModelPrefix(sweepId, trial.index), prefix);
    }
    // The distinct images the champion's model(s) trained on: the union of the members' folds.
    const trainedOn = new Set(memberTrials.flatMap((t) => foldSplit(plan.foldOf, t.fold).train));
    const holdoutIdx = foldSplit(plan.foldOf, 0).holdout;
    const holdout = holdoutIdx.length
      ? await deps.evaluator.evaluate(prefix, plan.dataset, holdoutIdx)
      : undefined;
    const test = plan.testSet ? await deps.evaluator.evaluate(prefix, plan.testSet) : undefined;
    const promotedAt = stamp();
    const preprocessing = preprocessingOf(plan.dataset);
    const trialResult = TrialResultSchema.safeParse(
      await getJson(deps.objects, trialResultKey(sweepId, trial.index)).catch(() => null),
    );
    const metadata: ChampionMetadata = {
      format: 'foldsweep-champion/1',
      classNames: plan.dataset.classes,
      outputs: strategyOf(variant.strategy).outputs,
      inputShape: plan.dataset.shape,
      preprocessing: { description: describePreprocessing(preprocessing), ...preprocessing },
      lineage: {
        sweepId,
        sweepName: plan.spec.name,
        variant,
        backend: trialResult.success ? trialResult.data.backend : undefined,
        cutLayer: planCutLayer(plan),
        trialIndex: trial.index,
        fold: trial.fold,
        champion: {
          kind,
          trialIndices: members,
          trainingImages: trainedOn.size,
          ...(kind === 'refit' && refit?.model
            ? { refitEpochs: refit.model.epochs, epochRule: refit.model.rule }
            : {}),
          ...(refit?.failed ? { refitFailed: refit.failed } : {}),
        },
        datasetHash: plan.dataset.hash,
        datasetSource: plan.dataset.source.uri,
        baseModelHash: plan.baseModel.hash,
        baseModelUri: plan.baseModel.uri,
        promotedAt,
      },
      metrics: {
        objective: leaderboard.objective,
        cvMean: best.mean,
        cvStd: best.std ?? 0,
        folds: plan.folds,
        holdout,
        test,
      },
    };
    await deps.objects.put(`${prefix}/metadata.json`, JSON.stringify(metadata, null, 2));
    const outcome = await deps.state.promoteChampion({
      sweepId,
      variantId: variant.id,
      trialIndex: trial.index,
      modelPrefix: prefix,
      objectiveMean: best.mean,
      holdoutAccuracy: holdout?.accuracy,
      testAccuracy: test?.accuracy,
      promotedAt,
    });
    champion = outcome.champion;
    promoted = outcome.created;
    if (!outcome.created && outcome.champion.promotedAt !== promotedAt) {
      // A racing aggregation promoted first: make the metadata agree with the stored record.
      metadata.lineage.promotedAt = outcome.champion.promotedAt;
      await deps.objects.put(`${prefix}/metadata.json`, JSON.stringify(metadata, null, 2));
    }
  }
  const metadata = ChampionMetadataSchema.safeParse(
    await getJson(deps.objects, `${champion.modelPrefix}/metadata.json`).catch(() => null),
  );
  await deps.objects.put(
    reportKey(sweepId),
    renderReport(plan, leaderboard, champion, metadata.success ? metadata.data : undefined),
  );
  return { status: 'completed', leaderboard, champion, promoted };
}

function renderReport(
  plan: Plan,
  board: Leaderboard,
  champion: ChampionRecord | undefined,
  metadata?: ChampionMetadata,
): string {
  const lines = [
    `# Sweep ${plan.sweepId}${plan.spec.name ? ` (${plan.spec.name})` : ''}`,
    '',
    `- dataset: ${plan.dataset.source.uri} (${plan.dataset.count} samples, classes ${plan.dataset.classes.join(', ')}, hash ${plan.dataset.hash.slice(0, 12)})`,
    `- preprocessing: ${describePreprocessing(preprocessingOf(plan.dataset))}`,
    ...preprocessingOf(plan.dataset).warnings.map((w) => `- note: ${w}`),
    `- base model: ${plan.baseModel.uri} (hash ${plan.baseModel.hash.slice(0, 12)})`,
    `- ${plan.variants.length} variants x ${plan.folds} folds = ${plan.trials.length} trials, objective ${board.objective}`,
    '',
    '```',
    formatLeaderboard(board),
    '```',
    '',
  ];
  if (champion) {
    lines.push(
      `Champion: variant ${champion.variantId} (trial ${champion.trialIndex}), CV mean ${champion.objectiveMean.toFixed(4)}`,
    );
    if (metadata) lines.push(`Model: ${championModelDescription(metadata.lineage)}`);
    if (champion.holdoutAccuracy !== undefined) {
      lines.push(`Holdout accuracy: ${champion.holdoutAccuracy.toFixed(4)}`);
    }
    if (champion.testAccuracy !== undefined) {
      lines.push(`Test accuracy: ${champion.testAccuracy.toFixed(4)}`);
    }
  } else {
    lines.push('No champion: no variant completed every fold.');
  }
  return `${lines.join('\n')}\n`;
}
