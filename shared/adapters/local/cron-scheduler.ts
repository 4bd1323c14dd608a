import { Cron } from 'croner';
import type { Logger } from '../../ports/logger.js';
import type { Scheduler, Trigger } from '../../ports/scheduler.js';
import { previousFireTime } from '../../schemas/schedule.js';

/** One fire of a schedule: `firedAt` is the slot (the cron time), not the moment it ran. */
export interface ScheduleFire {
  scheduleId: string;
  firedAt: Date;
  trigger: 'cron' | 'catch-up';
}

export interface CronSchedulerOptions {
  /** Runs the schedule (wired to `runSchedule`); its errors are logged, never thrown. */
  onFire: (fire: ScheduleFire) => Promise<unknown>;
  /**
   * Slots that passed while no scheduler ran (the server was down): `run-once` (default) fires
   * ONE catch-up run for the latest missed slot when the trigger is armed; `skip` ignores them.
   */
  missedRuns?: 'run-once' | 'skip';
  logger?: Logger;
  /** Let the process exit while jobs wait (the CLI); `foldsweep serve` keeps them referenced. */
  unref?: boolean;
}

interface Entry {
  trigger: Trigger;
  job?: Cron;
}

/**
 * The local trigger adapter: one croner job per schedule, in this process. Triggers are held
 * from `put` on, but fire only after `start()` (so a CLI process can create schedules without
 * running them; `foldsweep serve` starts it and re-syncs from the schedule store).
 * Missed runs: when a trigger is armed with `since` and a slot passed after `since` (the server
 * was down at 02:00), it fires once for the latest such slot with trigger `catch-up`. Duplicate
 * or overlapping fires are made harmless by the schedule store (one run per slot, one running
 * run per schedule), not here.
 * @example
 * const scheduler = new CronScheduler({ onFire: (f) => runSchedule(deps, f.scheduleId, f) });
 * scheduler.start();
 */
export class CronScheduler implements Scheduler {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Set<Promise<void>>();
  private started = false;

  constructor(private readonly options: CronSchedulerOptions) {}

  async put(trigger: Trigger): Promise<void> {
    this.entries.get(trigger.scheduleId)?.job?.stop();
    const entry: Entry = { trigger: { ...trigger } };
    this.entries.set(trigger.scheduleId, entry);
    if (this.started) this.arm(entry);
  }

  async delete(scheduleId: string): Promise<void> {
    this.entries.get(scheduleId)?.job?.stop();
    this.entries.delete(scheduleId);
  }

  async list(): Promise<Trigger[]> {
    return [...this.entries.values()]
      .map((e) => e.trigger)
      .sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
  }

  /** Arms every trigger (applying the missed-run policy); later puts arm as they come. */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (const entry of this.entries.values()) this.arm(entry);
  }

  /** Stops every job and waits for the fires in progress. */
  async stop(): Promise<void> {
    this.started = false;
    for (const entry of this.entries.values()) {
      entry.job?.stop();
      entry.job = undefined;
    }
    await this.idle();
  }

  /** Resolves when every fire started so far has finished. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** The next fire time of a schedule's armed job. */
  nextFireAt(scheduleId: string): Date | undefined {
    return this.entries.get(scheduleId)?.job?.nextRun() ?? undefined;
  }

  private arm(entry: Entry): void {
    const { scheduleId, cron, timezone, since } = entry.trigger;
    entry.job = new Cron(
      cron,
      { timezone, mode: '5-part', unref: this.options.unref ?? false, catch: true },
      () => {
        // The slot this fire is for, robust to the callback running a little early or late.
        const slot = previousFireTime(cron, timezone, new Date(Date.now() + 1000)) ?? new Date();
        this.fire({ scheduleId, firedAt: slot, trigger: 'cron' });
      },
    );
    if ((this.options.missedRuns ?? 'run-once') === 'run-once' && since) {
      const last = previousFireTime(cron, timezone, new Date());
      if (last && last.getTime() > Date.parse(since)) {
        this.options.logger?.info(
          { scheduleId, slot: last.toISOString(), since },
          'missed a scheduled run while no scheduler ran: running it once now',
        );
        this.fire({ scheduleId, firedAt: last, trigger: 'catch-up' });
      }
    }
    // Fired once: later re-arms (a changed cron) must not catch up the same gap again.
    entry.trigger = { ...entry.trigger, since: undefined };
  }

  private fire(fire: ScheduleFire): void {
    const done = this.options
      .onFire(fire)
      .then(
        () => undefined,
        (error: unknown) => {
          this.options.logger?.error(
            { err: error, scheduleId: fire.scheduleId, firedAt: fire.firedAt.toISOString() },
            'scheduled run could not be fired',
          );
        },
      )
      .finally(() => this.inFlight.delete(done));
    this.inFlight.add(done);
  }
}
