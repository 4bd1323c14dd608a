/**
 * What a rejected preparation leaves behind, removed: the base model it imported and the
 * datasets it prepared (with their by-source pointers), unless another sweep uses them, and
 * anything under the sweep's own prefix. A spec rejected while preparing then changes no object
 * of the home; only its failed sweep record stays (the 202 of `POST /sweeps` promised one).
 * @module
 */
import type { ObjectStore } from '../ports/object-store.js';
import { PlanSchema } from '../schemas/plan.js';
import type { ServiceDeps } from './deps.js';

/** Where preparation writes shared artifacts: imported models and prepared datasets. */
const ARTIFACT_PREFIXES = ['models/', 'datasets/'] as const;

/** Sweeps read when looking for another user of a new artifact (newest first). */
const RECENT_SWEEPS = 200;

/** The keys under the artifact prefixes now: taken before a preparation starts. */
export async function snapshotArtifacts(objects: ObjectStore): Promise<Set<string>> {
  const lists = await Promise.all(ARTIFACT_PREFIXES.map((p) => objects.list(p)));
  return new Set(lists.flat());
}

/** `models/<hash>`, `datasets/<hash>`, or a pointer key itself: what is kept or removed as one. */
function unitOf(key: string): string {
  const [top, second] = key.split('/');
  return second === 'by-source' ? key : `${top}/${second}`;
}

/**
 * Removes the artifacts created since `before` (a snapshot) that no other sweep uses, and the
 * objects under `sweeps/<id>/`. Another sweep still preparing may be about to use what this one
 * imported: then the new artifacts stay (a later rejection or run removes or reuses them).
 * Returns the keys removed.
 */
export async function discardLeftovers(
  deps: Pick<ServiceDeps, 'objects' | 'state' | 'logger'>,
  id: string,
  before: ReadonlySet<string>,
  startedAt: string,
): Promise<string[]> {
  const own = await deps.objects.list(`sweeps/${id}/`);
  const created = [...(await snapshotArtifacts(deps.objects))].filter((k) => !before.has(k));
  let removable = created;
  if (created.length > 0) {
    const others = (await deps.state.listSweeps({ limit: RECENT_SWEEPS })).filter(
      (s) => s.id !== id && s.updatedAt >= startedAt,
    );
    // A pending sweep has imported nothing yet (it imports again when it prepares).
    if (others.some((s) => s.status === 'preparing')) {
      deps.logger.info(
        { sweepId: id, kept: created.length },
        'another sweep is preparing: the new models and datasets of the rejected sweep stay',
      );
      removable = [];
    } else {
      const used = new Set<string>();
      for (const other of others) {
        if (!other.planKey) continue;
        const plan = PlanSchema.safeParse(
          JSON.parse(new TextDecoder().decode(await deps.objects.get(other.planKey))),
        );
        if (!plan.success) continue;
        used.add(plan.data.baseModel.prefix);
        used.add(unitOf(plan.data.dataset.manifestKey));
        if (plan.data.testSet) used.add(unitOf(plan.data.testSet.manifestKey));
      }
      removable = created.filter((k) => !used.has(unitOf(k)));
    }
  }
  const removed = [...removable, ...own];
  for (const key of removed) await deps.objects.delete(key);
  if (removed.length > 0) {
    deps.logger.info(
      { sweepId: id, removed: removed.length },
      'removed what a rejected sweep left',
    );
  }
  return removed;
}
