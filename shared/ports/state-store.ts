import type { ChampionRecord, SweepRecord, SweepStatus, TrialRecord } from '../schemas/state.js';

/**
 * Sweeps, trials and champions, with the conditional writes that make retries and duplicate
 * events safe. Local: SQLite; AWS: DynamoDB.
 * Contract:
 * - `createSweep` is create-once: a second call with the same id throws SweepAlreadyExistsError
 *   and changes nothing.
 * - `updateSweep` is compare-and-set when `expectStatus` is given: it applies the patch only if
 *   the stored status is one of them, else throws ConflictError; a missing sweep throws
 *   NotFoundError. It returns the stored record after the write.
 * - `putTrial` upserts by (sweepId, trialIndex).
 * - `promoteChampion` is create-once per sweep: the first call stores and returns
 *   `{ created: true }`, later calls return the stored champion with `created: false`.
 * @example
 * await state.updateSweep(id, { status: 'aggregating' }, { expectStatus: ['running'] });
 */
export interface StateStore {
  createSweep(sweep: SweepRecord): Promise<void>;
  getSweep(id: string): Promise<SweepRecord | undefined>;
  /** Newest first. */
  listSweeps(options?: { limit?: number; status?: SweepStatus }): Promise<SweepRecord[]>;
  updateSweep(
    id: string,
    patch: Partial<Omit<SweepRecord, 'id' | 'createdAt' | 'spec'>>,
    options?: { expectStatus?: readonly SweepStatus[] },
  ): Promise<SweepRecord>;
  putTrial(trial: TrialRecord): Promise<void>;
  /** Ordered by trialIndex. */
  listTrials(sweepId: string): Promise<TrialRecord[]>;
  promoteChampion(
    champion: ChampionRecord,
  ): Promise<{ created: boolean; champion: ChampionRecord }>;
  getChampion(sweepId: string): Promise<ChampionRecord | undefined>;
  close?(): Promise<void>;
}
