/**
 * The cron trigger of one schedule. `since`: fire times at or before it are not missed (the
 * schedule's creation or its last scheduled run); adapters that can miss fires (the local one,
 * while no server runs) use it for their missed-run policy, others ignore it.
 */
export interface Trigger {
  scheduleId: string;
  cron: string;
  timezone: string;
  since?: string;
}

/**
 * Makes schedules fire: at each fire time of a trigger, the deployment runs
 * `runSchedule(deps, scheduleId, { firedAt, trigger: 'cron' })`. Local: croner inside
 * `foldsweep serve`; AWS: one EventBridge Scheduler schedule per trigger, invoking the retrain
 * Lambda with `{ scheduleId, scheduledTime }`.
 * Contract: `put` creates or replaces the trigger of `scheduleId`; `delete` removes it and does
 * nothing when there is none; `list` returns every trigger this scheduler holds, by scheduleId.
 * @example
 * await scheduler.put({ scheduleId: 'fashion-nightly', cron: '0 2 * * *', timezone: 'Europe/Berlin' });
 */
export interface Scheduler {
  put(trigger: Trigger): Promise<void>;
  delete(scheduleId: string): Promise<void>;
  list(): Promise<Trigger[]>;
}
