/**
 * `foldsweep schedule add|list|show|rm|run-now`: scheduled retraining from the command line.
 * Thin: parse arguments, call one service function, print. Bad input throws ValidationError,
 * which main.ts prints with its field paths (exit code 2).
 */
import { parseArgs } from 'node:util';
import type { CronScheduler } from '../../shared/adapters/local/cron-scheduler.js';
import { ValidationError } from '../../shared/errors.js';
import type { ScheduleRun } from '../../shared/schemas/schedule.js';
import {
  createSchedule,
  deleteSchedule,
  getSchedule,
  listSchedules,
  type RetrainDeps,
  runSchedule,
  syncTriggers,
} from '../../shared/service/schedules.js';
import { positiveInt, readJsonFile, resolveSchedulePaths } from './files.js';

/** Retrain deps of a CLI process (the lead's localDeps), closed when the command ends. */
export type RetrainCliDeps = RetrainDeps & {
  home: string;
  executor: RetrainDeps['executor'] & { waitFor?(sweepId: string): Promise<void> };
  close(): Promise<void>;
};
export type RetrainDepsFactory = (options: {
  home?: string;
  concurrency?: number;
}) => RetrainCliDeps;

export const SCHEDULE_USAGE = `Usage:
  foldsweep schedule add <schedule.json> [--home DIR]
  foldsweep schedule list [--home DIR] [--json]
  foldsweep schedule show <id> [--limit N] [--home DIR] [--json]
  foldsweep schedule rm <id> [--home DIR]
  foldsweep schedule run-now <id> [--force] [--no-wait] [--concurrency N] [--home DIR] [--json]

A schedule file: { "id", "cron", "timezone", "dataset", "template", "modelName", "promotion" }
(see docs/retraining.md). Relative paths in it resolve against its folder.
`;

/** How often `foldsweep serve` re-reads the schedules (to pick up ones the CLI added or removed). */
export const SYNC_INTERVAL_MS = 30_000;

/**
 * Starts scheduled retraining inside `foldsweep serve`: syncs the cron triggers from the schedule
 * store, starts them (a slot missed while the server was down runs once now), and re-syncs every
 * 30 s. Resolves with a function that stops it all.
 * @example
 * const stopScheduler = await startScheduler(deps);
 * ... await stopScheduler();
 */
export async function startScheduler(
  deps: RetrainDeps & { scheduler: CronScheduler },
  intervalMs = SYNC_INTERVAL_MS,
): Promise<() => Promise<void>> {
  await syncTriggers(deps);
  deps.scheduler.start();
  const timer = setInterval(() => {
    syncTriggers(deps).catch((error: unknown) =>
      deps.logger.error({ err: error }, 'syncing the schedules failed'),
    );
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await deps.scheduler.stop();
  };
}

function one(positionals: string[], what: string, usage: string): string {
  if (positionals.length !== 1)
    throw ValidationError.single(`<${what}>`, `give one ${what}: ${usage}`);
  return positionals[0];
}

const short = (hash?: string) => (hash ? hash.slice(0, 12) : '-');
const score = (s?: { accuracy: number }) => (s ? s.accuracy.toFixed(4) : '-');

/** One line per run: when, how, outcome, sweep, data, scores, version, why. */
export function formatRuns(runs: readonly ScheduleRun[]): string {
  if (runs.length === 0) return '(no runs yet)';
  const rows = runs.map((r) => [
    r.firedAt,
    r.trigger,
    r.status,
    r.sweepId ?? '-',
    r.dataset ? `${short(r.dataset.hash)} (${r.dataset.count})` : '-',
    score(r.challenger),
    r.serving ? `v${r.serving.version} ${score(r.serving)}` : '-',
    r.modelVersion ? `v${r.modelVersion}` : '-',
    r.reason ?? '',
  ]);
  return table(
    [
      'fired at',
      'trigger',
      'status',
      'sweep',
      'dataset',
      'challenger',
      'serving',
      'version',
      'reason',
    ],
    rows,
  );
}

/** Left-aligned columns, two spaces apart. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/**
 * Runs `foldsweep schedule <sub> ...` with deps from `makeDeps`; returns the exit code
 * (0 done, 1 a run that failed).
 * @example
 * process.exitCode = await scheduleCommand(['list'], (o) => localDeps(o));
 */
export async function scheduleCommand(
  args: string[],
  makeDeps: RetrainDepsFactory,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      home: { type: 'string' },
      json: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      'no-wait': { type: 'boolean', default: false },
      limit: { type: 'string' },
      concurrency: { type: 'string' },
    },
  });
  if (!['add', 'list', 'show', 'rm', 'run-now'].includes(sub ?? '')) {
    out.write(SCHEDULE_USAGE);
    return sub === undefined || sub === 'help' ? 0 : 2;
  }
  const print = (value: unknown, text: () => string) =>
    out.write(`${values.json ? JSON.stringify(value, null, 2) : text()}\n`);
  const deps = makeDeps({
    home: values.home,
    concurrency: positiveInt('concurrency', values.concurrency),
  });
  try {
    if (sub === 'add') {
      const file = one(positionals, 'schedule.json', 'foldsweep schedule add <schedule.json>');
      const schedule = await createSchedule(
        deps,
        await readJsonFile(file, '<schedule>', resolveSchedulePaths),
      );
      print(
        schedule,
        () =>
          `schedule ${schedule.id} added: '${schedule.cron}' (${schedule.timezone}), model ` +
          `${schedule.modelName}\n(a running \`foldsweep serve\` picks it up within 30 s)`,
      );
      return 0;
    }
    if (sub === 'list') {
      const schedules = await listSchedules(deps);
      print(schedules, () =>
        schedules.length === 0
          ? '(no schedules)'
          : table(
              ['id', 'cron', 'timezone', 'model', 'next fire (UTC)', 'last run'],
              schedules.map((s) => [
                s.id,
                s.cron,
                s.timezone,
                s.modelName,
                s.nextFireAt ?? '-',
                s.lastRun ? `${s.lastRun.status} (${s.lastRun.firedAt})` : '-',
              ]),
            ),
      );
      return 0;
    }
    const id = one(positionals, 'id', `foldsweep schedule ${sub} <id>`);
    if (sub === 'show') {
      const view = await getSchedule(deps, id, { limit: positiveInt('limit', values.limit) });
      const s = view.schedule;
      print(view, () =>
        [
          `schedule ${s.id}: '${s.cron}' (${s.timezone}), next ${s.nextFireAt ?? '-'}`,
          `  dataset: ${s.dataset.uri} (${s.dataset.format})`,
          `  model: ${s.modelName}; promote when ${s.promotion.metric} beats serving by ${s.promotion.minImprovement}`,
          `  holdout: ${s.holdout ? `${s.holdout.count} samples, ${short(s.holdout.datasetHash)}, frozen ${s.holdout.frozenAt}` : 'frozen at the first run'}`,
          '',
          formatRuns(view.runs),
        ].join('\n'),
      );
      return 0;
    }
    if (sub === 'rm') {
      await deleteSchedule(deps, id);
      print({ deleted: id }, () => `schedule ${id} deleted (its model versions stay)`);
      return 0;
    }
    // run-now
    let { run } = await runSchedule(deps, id, { force: values.force, trigger: 'manual' });
    if (run.status === 'running' && run.sweepId && !values['no-wait'] && deps.executor.waitFor) {
      process.stderr.write(`sweep ${run.sweepId} running (home ${deps.home}) ...\n`);
      await deps.executor.waitFor(run.sweepId);
      run = (await deps.schedules.getRun(run.scheduleId, run.firedAt)) ?? run;
    }
    print(run, () => formatRuns([run]));
    return run.status === 'failed' ? 1 : 0;
  } finally {
    await deps.close();
  }
}
