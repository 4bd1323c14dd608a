import type { DatasetPreparer, ModelEvaluator, ModelImporter } from '../ports/artifacts.js';
import type { Clock } from '../ports/clock.js';
import type { Executor } from '../ports/executor.js';
import type { Logger } from '../ports/logger.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { PathPolicy } from '../ports/path-policy.js';
import type { PreparationStarter } from '../ports/preparation.js';
import type { StateStore } from '../ports/state-store.js';
import type { SpecLimits } from '../schemas/spec-limits.js';

/** What the use cases need, built once per process by functions/deps/{local,aws}.ts. */
export interface ServiceDeps {
  state: StateStore;
  objects: ObjectStore;
  executor: Executor;
  datasets: DatasetPreparer;
  models: ModelImporter;
  evaluator: ModelEvaluator;
  clock: Clock;
  logger: Logger;
  /** Time-sortable unique ids (ULIDs by default). */
  newId: () => string;
  /**
   * This process as the owner of the sweeps it drives, with the lease it holds on each (local
   * processes); absent on AWS, where Batch runs a sweep and events settle it.
   */
  owner?: { id: string; leaseMs: number };
  /** Runs preparation off the request path; without it the caller prepares in its background. */
  preparation?: PreparationStarter;
  /** Size limits of a submitted spec; DEFAULT_SPEC_LIMITS when absent. */
  limits?: SpecLimits;
  /**
   * Which local paths a submitted spec may name (`foldsweep serve`: its data roots); relative
   * paths are resolved by it when the sweep is submitted. Absent: paths are kept as given.
   */
  paths?: PathPolicy;
}
