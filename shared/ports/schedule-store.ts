import { ConflictError } from '../errors.js';
import { parseOrThrow } from '../schemas/issues.js';
import { definedFields } from '../schemas/patch.js';
import {
  type FrozenHoldout,
  type RunStatus,
  type ScheduleRecord,
  type ScheduleRun,
  ScheduleRunSchema,
} from '../schemas/schedule.js';
import type { Page, PageRequest } from './paging.js';

/** What `createRun` did: stored it, or found the same slot (duplicate) or another active run. */
export type CreateRunOutcome =
  | { created: true; run: ScheduleRun }
  | { created: false; reason: 'duplicate'; run: ScheduleRun }
  | { created: false; reason: 'overlap'; run: ScheduleRun };

export type RunPatch = Partial<
  Omit<ScheduleRun, 'scheduleId' | 'firedAt' | 'trigger' | 'startedAt'>
>;

/**
 * Schedules and their run history, with the conditional writes that make duplicate and
 * overlapping fires safe. Local: SQLite; AWS: DynamoDB.
 * Contract:
 * - `createSchedule` is create-once: an existing id throws ConflictError and changes nothing.
 * - `setFrozenHoldout` is set-once: the first call stores it (`created: true`), later calls
 *   return the stored holdout with `created: false`; a missing schedule throws NotFoundError.
 * - `deleteSchedule` removes the schedule and its runs; it returns false when there was none.
 * - `createRun` is create-once per (scheduleId, firedAt), and keeps at most one `running` run
 *   per schedule: creating a `running` run while another one is running stores nothing and
 *   returns that other run with `reason: 'overlap'`; the same slot again returns the stored run
 *   with `reason: 'duplicate'`. Both checks are atomic with the write.
 * - `updateRun` is compare-and-set when `expectStatus` is given (ConflictError otherwise, nothing
 *   written); a missing run throws NotFoundError. It returns the stored run after the write.
 * - `listRuns` is newest first (by firedAt); `findRunBySweep` finds the run that started a sweep.
 * @example
 * const outcome = await schedules.createRun({ scheduleId, firedAt, status: 'running', ... });
 * if (!outcome.created && outcome.reason === 'overlap') { ... }
 */
export interface ScheduleStore {
  createSchedule(schedule: ScheduleRecord): Promise<void>;
  getSchedule(id: string): Promise<ScheduleRecord | undefined>;
  /** Ordered by id. */
  listSchedules(): Promise<ScheduleRecord[]>;
  /** One page of schedules, ordered by id. */
  pageSchedules(request: PageRequest): Promise<Page<ScheduleRecord>>;
  setFrozenHoldout(
    id: string,
    holdout: FrozenHoldout,
  ): Promise<{ created: boolean; holdout: FrozenHoldout }>;
  deleteSchedule(id: string): Promise<boolean>;
  createRun(run: ScheduleRun): Promise<CreateRunOutcome>;
  updateRun(
    scheduleId: string,
    firedAt: string,
    patch: RunPatch,
    options?: { expectStatus?: readonly RunStatus[] },
  ): Promise<ScheduleRun>;
  getRun(scheduleId: string, firedAt: string): Promise<ScheduleRun | undefined>;
  findRunBySweep(sweepId: string): Promise<ScheduleRun | undefined>;
  listRuns(scheduleId: string, options?: { limit?: number }): Promise<ScheduleRun[]>;
  close?(): Promise<void>;
}

/**
 * What `updateRun` stores: `current` with the patch's set fields, validated. The run's identity
 * (schedule, slot, trigger, start) never changes. With `expectStatus`, a run in another status is
 * a ConflictError and nothing changes. Shared by the SQLite and DynamoDB stores.
 */
export function applyRunPatch(
  current: ScheduleRun,
  patch: RunPatch,
  expectStatus?: readonly RunStatus[],
): ScheduleRun {
  const { scheduleId, firedAt } = current;
  if (expectStatus && !expectStatus.includes(current.status)) {
    throw new ConflictError(
      `run ${scheduleId}@${firedAt} is '${current.status}', expected ` +
        `${expectStatus.map((s) => `'${s}'`).join(' or ')}; nothing was changed`,
    );
  }
  return parseOrThrow(
    ScheduleRunSchema,
    {
      ...current,
      ...definedFields(patch),
      scheduleId,
      firedAt,
      trigger: current.trigger,
      startedAt: current.startedAt,
    },
    `update of run ${scheduleId}@${firedAt}`,
  );
}
