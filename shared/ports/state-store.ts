import { ConflictError } from '../errors.js';
import type { ChampionRecord, SweepRecord, SweepStatus, TrialRecord } from '../schemas/state.js';
import type { Page, PageRequest } from './paging.js';

export interface UpdateSweepOptions {
  expectStatus?: readonly SweepStatus[];
  /** The writer's owner id and its clock: see the contract. */
  expectLease?: { owner: string; now: string };
}

/** Whether `owner` may write a sweep whose stored owner is `current` at time `now` (ISO). */
export function leaseAllows(
  current: SweepRecord['owner'],
  lease: { owner: string; now: string },
): boolean {
  return !current || current.id === lease.owner || current.leaseUntil < lease.now;
}

/**
 * Sweeps, trials and champions, with the conditional writes that make retries and duplicate
 * events safe. Local: SQLite; AWS: DynamoDB.
 * Contract:
 * - `createSweep` is create-once: a second call with the same id throws SweepAlreadyExistsError
 *   and changes nothing.
 * - `updateSweep` is compare-and-set when `expectStatus` is given: it applies the patch only if
 *   the stored status is one of them, else throws ConflictError; a missing sweep throws
 *   NotFoundError. It returns the stored record after the write.
 * - With `expectLease` the patch applies only when the sweep has no owner, is owned by
 *   `expectLease.owner`, or its owner's lease ended before `expectLease.now`; else ConflictError
 *   (a live process drives the sweep). Both conditions are checked in the same atomic write.
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
  /**
   * One page of sweeps, newest first (createdAt, then id, descending), optionally of one status.
   * A cursor is valid only with the status filter it was issued for (ValidationError otherwise).
   */
  pageSweeps(request: PageRequest & { status?: SweepStatus }): Promise<Page<SweepRecord>>;
  updateSweep(
    id: string,
    patch: Partial<Omit<SweepRecord, 'id' | 'createdAt' | 'spec'>>,
    options?: UpdateSweepOptions,
  ): Promise<SweepRecord>;
  putTrial(trial: TrialRecord): Promise<void>;
  /** Ordered by trialIndex. */
  listTrials(sweepId: string): Promise<TrialRecord[]>;
  promoteChampion(
    champion: ChampionRecord,
  ): Promise<{ created: boolean; champion: ChampionRecord }>;
  getChampion(sweepId: string): Promise<ChampionRecord | undefined>;
  /**
   * Removes a sweep and its trial records (no-op when absent). Only for a submission nobody was
   * told about: `foldsweep run` undoes a spec rejected while preparing. Optional: stores without
   * it keep the failed record.
   */
  deleteSweep?(id: string): Promise<void>;
  close?(): Promise<void>;
}

/** The ConflictError of a write refused because another process's lease is alive. */
export function leaseConflict(id: string, current: SweepRecord): ConflictError {
  return new ConflictError(
    `sweep '${id}' is driven by ${current.owner?.id} (lease until ${current.owner?.leaseUntil}); nothing was changed`,
  );
}
