import type {
  ModelSummary,
  ModelVersion,
  NewModelVersion,
  PromotionEvent,
  ServingPointer,
} from '../schemas/registry.js';
import type { Page, PageRequest } from './paging.js';

/** Make a version the serving one, if the serving version is still `expectServing`. */
export interface ServeRequest {
  /** The serving version the caller compared against (null: none serves yet). */
  expectServing: number | null;
  action: 'promote' | 'rollback';
  reason: string;
  at: string;
}

/**
 * Versions per model name, the serving pointer and its history. Local: SQLite; AWS: DynamoDB.
 * Contract:
 * - `register` is create-once per (modelName, sweepId): the first call numbers the version
 *   (previous highest + 1, atomically) and stores it; later calls return the stored version with
 *   `created: false` and serve nothing. With `serve`, storing the version, moving the serving
 *   pointer and appending the promotion event happen in one atomic write, and only if the
 *   serving version is still `serve.expectServing`; otherwise ConflictError and nothing is
 *   stored.
 * - `setServing` moves the serving pointer to an existing version (NotFoundError otherwise)
 *   under the same compare-and-set, appending a promotion event; it returns that event.
 * - `listVersions` and `listEvents` are oldest first.
 * @example
 * const { version } = await registry.register(v, {
 *   serve: { expectServing: 2, action: 'promote', reason: 'beats v2 by 0.03', at },
 * });
 */
export interface ModelRegistry {
  register(
    version: NewModelVersion,
    options?: { serve?: ServeRequest },
  ): Promise<{ created: boolean; version: ModelVersion }>;
  getVersion(modelName: string, version: number): Promise<ModelVersion | undefined>;
  listVersions(modelName: string): Promise<ModelVersion[]>;
  /** Ordered by name. */
  listModels(): Promise<ModelSummary[]>;
  /** One page of models, ordered by name. */
  pageModels(request: PageRequest): Promise<Page<ModelSummary>>;
  /** One page of a model's versions, oldest first (empty for an unknown model). */
  pageVersions(modelName: string, request: PageRequest): Promise<Page<ModelVersion>>;
  getServing(modelName: string): Promise<ServingPointer | undefined>;
  setServing(modelName: string, version: number, request: ServeRequest): Promise<PromotionEvent>;
  listEvents(modelName: string): Promise<PromotionEvent[]>;
  close?(): Promise<void>;
}
