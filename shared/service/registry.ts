import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import type { ModelRegistry } from '../ports/model-registry.js';
import { getJson } from '../ports/object-store.js';
import type { Page, PageRequest } from '../ports/paging.js';
import { ChampionMetadataSchema } from '../schemas/champion.js';
import { parseOrThrow } from '../schemas/issues.js';
import {
  type ModelSource,
  type ModelSummary,
  type ModelVersion,
  type ModelView,
  type NewModelVersion,
  type PromotionEvent,
  RegisterModelRequestSchema,
  RollbackRequestSchema,
  type ServingPointer,
} from '../schemas/registry.js';
import { ModelNameSchema } from '../schemas/schedule.js';
import type { ServiceDeps } from './deps.js';
import { loadPlan } from './sweeps.js';

/** What the registry use cases need. */
export type RegistryDeps = ServiceDeps & { registry: ModelRegistry };

export type { ModelView } from '../schemas/registry.js';

/** Every model name with its serving version. */
export async function listModels(deps: RegistryDeps): Promise<ModelSummary[]> {
  return deps.registry.listModels();
}

/** One page of models (by name) with their serving version. */
export async function pageModels(
  deps: RegistryDeps,
  request: PageRequest,
): Promise<Page<ModelSummary>> {
  return deps.registry.pageModels(request);
}

/**
 * One page of a model's versions, oldest first.
 * @throws NotFoundError when the name has no version
 * @example
 * const { items, next } = await pageModelVersions(deps, 'fashion', { limit: 20 });
 */
export async function pageModelVersions(
  deps: RegistryDeps,
  name: string,
  request: PageRequest,
): Promise<Page<ModelVersion>> {
  const page = await deps.registry.pageVersions(name, request);
  if (page.items.length === 0 && request.cursor === undefined) throw notFound(name);
  return page;
}

/**
 * One model: the serving version, every version with its lineage, and the promotion history.
 * @throws NotFoundError when the name has no version
 * @example
 * const { serving, versions, history } = await getModel(deps, 'fashion');
 */
export async function getModel(deps: RegistryDeps, name: string): Promise<ModelView> {
  const versions = await deps.registry.listVersions(name);
  if (versions.length === 0) throw notFound(name);
  const [pointer, history] = await Promise.all([
    deps.registry.getServing(name),
    deps.registry.listEvents(name),
  ]);
  const serving = pointer ? versions.find((v) => v.version === pointer.version) : undefined;
  return {
    name,
    serving: serving && pointer ? { ...serving, since: pointer.since } : null,
    versions,
    history,
  };
}

/** One version of a model. @throws NotFoundError */
export async function getModelVersion(
  deps: RegistryDeps,
  name: string,
  version: number,
): Promise<ModelVersion> {
  const found = await deps.registry.getVersion(name, version);
  if (!found) throw await missingVersion(deps, name, version);
  return found;
}

/**
 * Serves an earlier version again: `version`, or without it the version that served before the
 * current one. Only versions that have served before qualify (a rejected challenger never did).
 * @throws NotFoundError for an unknown model or version; ValidationError for a version that never
 *   served or serves already; ConflictError when the serving version changed meanwhile
 * @example
 * const { event } = await rollback(deps, 'fashion', { version: 2, reason: 'v3 confuses sandals' });
 */
export async function rollback(
  deps: RegistryDeps,
  name: string,
  input: unknown,
): Promise<{ event: PromotionEvent; serving: ModelVersion }> {
  const request = parseOrThrow(RollbackRequestSchema, input ?? {}, 'rollback request');
  const versions = await deps.registry.listVersions(name);
  if (versions.length === 0) throw notFound(name);
  const [pointer, history] = await Promise.all([
    deps.registry.getServing(name),
    deps.registry.listEvents(name),
  ]);
  const current = pointer?.version ?? null;
  let target = request.version;
  if (target === undefined) {
    const last = [...history].reverse().find((e) => e.toVersion === current);
    if (!last || last.fromVersion === null) {
      throw ValidationError.single(
        'version',
        `model '${name}' has no earlier serving version to roll back to: give a version`,
      );
    }
    target = last.fromVersion;
  }
  const version = versions.find((v) => v.version === target);
  if (!version) throw await missingVersion(deps, name, target);
  if (target === current) {
    throw ValidationError.single('version', `v${target} of model '${name}' serves already`);
  }
  if (!history.some((e) => e.toVersion === target)) {
    throw ValidationError.single(
      'version',
      `v${target} of model '${name}' never served (${version.decision}: ${version.reason}): ` +
        `roll back to a version that served before (${servedVersions(history)})`,
    );
  }
  const at = deps.clock.now().toISOString();
  const event = await deps.registry.setServing(name, target, {
    expectServing: current,
    action: 'rollback',
    reason: request.reason ?? `rolled back from ${current === null ? 'none' : `v${current}`}`,
    at,
  });
  deps.logger.info({ model: name, from: current, to: target }, 'model rolled back');
  return { event, serving: version };
}

/**
 * Records a completed sweep's champion as a version of `name` (source `api`), serving it when
 * `serve` is true. Registering the same sweep again returns the stored version.
 * @throws NotFoundError for an unknown sweep; ValidationError when it has no champion
 * @example
 * const version = await registerChampion(deps, 'fashion', { sweepId: '01JG…', serve: true });
 */
export async function registerChampion(
  deps: RegistryDeps,
  name: string,
  input: unknown,
): Promise<{ created: boolean; version: ModelVersion }> {
  const modelName = parseOrThrow(ModelNameSchema, name, 'model name');
  const request = parseOrThrow(RegisterModelRequestSchema, input, 'register request');
  const sweep = await deps.state.getSweep(request.sweepId);
  if (!sweep) throw new NotFoundError('sweep', request.sweepId);
  if (sweep.status !== 'completed') {
    throw ValidationError.single(
      'sweepId',
      `sweep '${sweep.id}' is ${sweep.status}: only a completed sweep has a champion to register`,
    );
  }
  const { sweepHoldout, ...lineage } = await championLineage(deps, sweep.id, { kind: 'api' });
  const at = deps.clock.now().toISOString();
  const current = (await deps.registry.getServing(modelName))?.version ?? null;
  const reason = request.reason ?? 'registered through the API';
  const outcome = await deps.registry.register(
    {
      ...lineage,
      modelName,
      holdoutScore: sweepHoldout,
      decision: request.serve ? 'promoted' : 'registered',
      reason,
      createdAt: at,
    },
    request.serve
      ? { serve: { expectServing: current, action: 'promote', reason, at } }
      : undefined,
  );
  deps.logger.info(
    { model: modelName, version: outcome.version.version, sweepId: sweep.id, serve: request.serve },
    outcome.created ? 'model version registered' : 'sweep already registered',
  );
  return outcome;
}

export type ChampionLineage = Omit<
  NewModelVersion,
  'modelName' | 'decision' | 'reason' | 'createdAt' | 'holdoutScore' | 'comparedWith'
> & {
  /** The champion's score on its own sweep's holdout, when the sweep had one. */
  sweepHoldout?: { accuracy: number; loss: number; samples: number };
};

/**
 * The lineage of a completed sweep's champion, from its plan, champion record and metadata.json.
 * @throws ValidationError when the sweep has no champion
 */
export async function championLineage(
  deps: ServiceDeps,
  sweepId: string,
  source: ModelSource,
): Promise<ChampionLineage> {
  const champion = await deps.state.getChampion(sweepId);
  if (!champion) {
    throw ValidationError.single('sweepId', `sweep '${sweepId}' has no champion`);
  }
  const plan = await loadPlan(deps, sweepId);
  const metadata = ChampionMetadataSchema.parse(
    await getJson(deps.objects, `${champion.modelPrefix}/metadata.json`),
  );
  return {
    sweepId,
    source,
    modelPrefix: champion.modelPrefix,
    variant: metadata.lineage.variant,
    training: plan.spec.training as Record<string, unknown>,
    folds: plan.folds,
    dataset: {
      hash: plan.dataset.hash,
      count: plan.dataset.count,
      source: plan.dataset.source.uri,
    },
    baseModel: { hash: plan.baseModel.hash, uri: plan.baseModel.uri },
    cv: {
      objective: metadata.metrics.objective,
      mean: metadata.metrics.cvMean,
      std: metadata.metrics.cvStd,
    },
    sweepHoldout: metadata.metrics.holdout,
  };
}

/** The serving pointer and version of a model, or undefined when none serves. */
export async function servingVersion(
  deps: RegistryDeps,
  name: string,
): Promise<{ pointer: ServingPointer; version: ModelVersion } | undefined> {
  const pointer = await deps.registry.getServing(name);
  if (!pointer) return undefined;
  const version = await deps.registry.getVersion(name, pointer.version);
  if (!version) {
    throw new ConflictError(`model '${name}' serves v${pointer.version}, which is not stored`);
  }
  return { pointer, version };
}

function notFound(name: string) {
  return new NotFoundError('model', name, `model '${name}' not found: it has no versions`);
}

async function missingVersion(deps: RegistryDeps, name: string, version: number) {
  const versions = await deps.registry.listVersions(name);
  if (versions.length === 0) return notFound(name);
  const range = `v1..v${versions[versions.length - 1].version}`;
  return new NotFoundError(
    'model version',
    `${name} v${version}`,
    `model '${name}' has no version ${version}: its versions are ${range}`,
  );
}

function servedVersions(history: readonly PromotionEvent[]): string {
  const served = [...new Set(history.map((e) => e.toVersion))].sort((a, b) => a - b);
  return served.length ? served.map((v) => `v${v}`).join(', ') : 'none';
}
