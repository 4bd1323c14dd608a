import { Cron, CronPattern } from 'croner';
import { z } from 'zod';
import { DatasetRefSchema } from './dataset.js';
import { toFieldIssues } from './issues.js';
import { type SweepSpec, SweepSpecSchema } from './sweep-spec.js';

/**
 * Schedule ids double as EventBridge Scheduler names (`foldsweep-<id>`, at most 64 characters of
 * `[0-9A-Za-z._-]`), so they are short slugs.
 */
export const ScheduleIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$/,
    'use 1-48 letters, digits, ".", "_" or "-", starting with a letter or digit',
  );

/** Model names in the registry: the same slugs as schedule ids. */
export const ModelNameSchema = ScheduleIdSchema;

const MONTH_NAMES = [
  'JAN',
  'FEB',
  'MAR',
  'APR',
  'MAY',
  'JUN',
  'JUL',
  'AUG',
  'SEP',
  'OCT',
  'NOV',
  'DEC',
];
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const FIELD_NAMES = ['minute', 'hour', 'day-of-month', 'month', 'day-of-week'] as const;

/**
 * Why `expr` is not a cron expression foldsweep runs, or undefined when it is one.
 * Accepted: the 5 classic fields (minute hour day-of-month month day-of-week) with numbers,
 * `*`, `,`, `-`, `/` and month/day names, restricted to what both croner (local) and EventBridge
 * Scheduler (AWS) run the same way: no seconds, no `@daily` nicknames, no `L`/`W`/`#`/`?`, no
 * step in day-of-week, and not both day-of-month and day-of-week (cron ORs them, EventBridge
 * cannot express that).
 */
export function cronIssue(expr: string): string | undefined {
  const text = expr.trim();
  if (text.startsWith('@')) {
    return `'${expr}': nicknames are not supported: write the 5 fields, e.g. '0 2 * * *' for 02:00 every day`;
  }
  const fields = text.split(/\s+/);
  if (fields.length !== 5) {
    return (
      `'${expr}' has ${fields.length} fields: give exactly 5 (minute hour day-of-month month ` +
      `day-of-week), e.g. '0 2 * * *' for 02:00 every day`
    );
  }
  for (const [i, field] of fields.entries()) {
    let rest = field.toUpperCase();
    if (i === 3) for (const m of MONTH_NAMES) rest = rest.replaceAll(m, '0');
    if (i === 4) for (const d of DAY_NAMES) rest = rest.replaceAll(d, '0');
    if (!/^[0-9*,/-]+$/.test(rest)) {
      return `'${expr}': the ${FIELD_NAMES[i]} field '${field}' may only hold numbers, names, '*', ',', '-' and '/'`;
    }
  }
  if (fields[4].includes('/')) {
    return `'${expr}': a step ('/') in day-of-week is not supported: list the days, e.g. 'MON,WED,FRI'`;
  }
  if (fields[2] !== '*' && fields[4] !== '*') {
    return (
      `'${expr}': restrict day-of-month or day-of-week, not both (cron would run on either, ` +
      `EventBridge Scheduler cannot express that): set one of them to '*'`
    );
  }
  let job: Cron;
  try {
    job = new Cron(text, { paused: true, mode: '5-part' });
  } catch (error) {
    const why = (error as Error).message.replace(/^CronPattern: /, '');
    return `'${expr}' is not a valid cron expression: ${why}`;
  }
  const next = job.nextRun(new Date('2000-01-01T00:00:00Z'));
  job.stop();
  if (!next) return `'${expr}' never fires (e.g. 31 February): pick a date that exists`;
  return undefined;
}

/** Why `tz` is not an IANA time zone name, or undefined when it is one. */
export function timeZoneIssue(tz: string): string | undefined {
  const shaped = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(tz);
  if (shaped) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return undefined;
    } catch {
      // fall through
    }
  }
  return `'${tz}' is not an IANA time zone: use a name such as 'Europe/Berlin', 'America/New_York' or 'UTC'`;
}

/** The cron expressions mean the same fire times (field by field, names and numbers alike). */
export function sameCron(a: string, b: string): boolean {
  try {
    const [pa, pb] = [a, b].map((e) => new CronPattern(e.trim(), undefined, { mode: '5-part' }));
    const parts = ['minute', 'hour', 'day', 'month', 'dayOfWeek'] as const;
    return (
      parts.every((p) => pa[p].join() === pb[p].join()) &&
      pa.starDOM === pb.starDOM &&
      pa.starDOW === pb.starDOW
    );
  } catch {
    return a.trim() === b.trim();
  }
}

/** The first fire time of a valid cron expression strictly after `after`, in `timezone`. */
export function nextFireTime(cron: string, timezone: string, after: Date): Date | undefined {
  const job = new Cron(cron.trim(), { paused: true, mode: '5-part', timezone });
  const next = job.nextRun(after) ?? undefined;
  job.stop();
  return next;
}

/** The last fire time of a valid cron expression at or before `at`, in `timezone`. */
export function previousFireTime(cron: string, timezone: string, at: Date): Date | undefined {
  const job = new Cron(cron.trim(), { paused: true, mode: '5-part', timezone });
  const [previous] = job.previousRuns(1, new Date(at.getTime() + 1));
  job.stop();
  return previous;
}

/**
 * How a challenger must beat the serving model on the frozen holdout to replace it: by at least
 * `minImprovement` (absolute: accuracy points, or loss units) and by more than nothing.
 */
export const PromotionPolicySchema = z
  .object({
    metric: z.enum(['accuracy', 'loss']).default('accuracy'),
    minImprovement: z
      .number({ error: 'minImprovement must be a number, e.g. 0.01' })
      .min(0, 'minImprovement must be 0 or more')
      .max(1, 'minImprovement is absolute (0.01 = one accuracy point): use at most 1')
      .default(0.01),
  })
  .strict();
export type PromotionPolicy = z.infer<typeof PromotionPolicySchema>;

/** A sweep spec without its dataset (the schedule's dataset fills it in at every run). */
export type SweepTemplate = Omit<SweepSpec, 'dataset'>;

/**
 * A schedule as a client sends it (API body, CLI file): cron + time zone + sweep template +
 * dataset location + promotion policy. The template is a sweep spec without `dataset`, checked
 * with SweepSpecSchema (issues on `template.<field>`); its `holdoutFraction` (more than 0) and
 * `seed` choose the holdout that the first run freezes for every later comparison.
 * @example
 * { "id": "fashion-nightly", "cron": "0 2 * * *", "timezone": "Europe/Berlin",
 *   "dataset": { "uri": "/data/fashion/train-images-idx3-ubyte.gz", "format": "idx" },
 *   "template": { "baseModel": "/models/base/model.json", "folds": 3, "holdoutFraction": 0.15,
 *                 "searchSpace": { "freezeDepth": [0, 3], "lrMultiplier": [1, 0.1] } },
 *   "modelName": "fashion", "promotion": { "metric": "accuracy", "minImprovement": 0.01 } }
 */
export const ScheduleInputSchema = z
  .object({
    /** The JSON Schema an editor validates the file with (`foldsweep schema schedule`); ignored. */
    $schema: z.string().optional(),
    id: ScheduleIdSchema,
    cron: z.string({ error: "give a cron expression, e.g. '0 2 * * *'" }).superRefine((v, ctx) => {
      const issue = cronIssue(v);
      if (issue) ctx.addIssue({ code: 'custom', message: issue });
    }),
    timezone: z
      .string()
      .default('UTC')
      .superRefine((v, ctx) => {
        const issue = timeZoneIssue(v);
        if (issue) ctx.addIssue({ code: 'custom', message: issue });
      }),
    /** Where the data lives; its content may change between runs. */
    dataset: DatasetRefSchema,
    template: z.record(z.string(), z.unknown(), {
      error: 'give the sweep template: a sweep spec object without dataset',
    }),
    /** Registry name the champions are promoted under; default: the schedule id. */
    modelName: ModelNameSchema.optional(),
    promotion: PromotionPolicySchema.default({ metric: 'accuracy', minImprovement: 0.01 }),
    /** A run still going after this long is marked failed so the schedule can run again. */
    maxRunHours: z
      .number()
      .positive()
      .max(24 * 30)
      .default(72),
  })
  .strict()
  .transform((input, ctx) => {
    if ('dataset' in input.template) {
      ctx.addIssue({
        code: 'custom',
        path: ['template', 'dataset'],
        message: 'the dataset of a schedule goes at its top level (dataset), not in the template',
      });
      return z.NEVER;
    }
    const parsed = SweepSpecSchema.safeParse({ ...input.template, dataset: input.dataset });
    if (!parsed.success) {
      for (const issue of toFieldIssues(parsed.error)) {
        if (issue.path === 'dataset' || issue.path.startsWith('dataset.')) continue; // reported above
        const path = issue.path === '(root)' ? [] : issue.path.split('.');
        ctx.addIssue({ code: 'custom', path: ['template', ...path], message: issue.message });
      }
      return z.NEVER;
    }
    if (parsed.data.holdoutFraction <= 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['template', 'holdoutFraction'],
        message:
          'a schedule compares champion and challenger on a holdout frozen at its first run: ' +
          'set holdoutFraction above 0, e.g. 0.2',
      });
      return z.NEVER;
    }
    const { dataset: _dataset, ...template } = parsed.data;
    return { ...input, template: template as Record<string, unknown> };
  });
export type ScheduleInput = z.input<typeof ScheduleInputSchema>;

/**
 * The holdout a schedule froze at its first run: its samples as their own prepared dataset
 * (`datasets/<hash>/`), and the sha256 of every holdout image (`sampleHashesKey`, a JSON array),
 * which later runs drop from training so that new data only ever adds to training.
 */
export const FrozenHoldoutSchema = z.object({
  fraction: z.number().positive(),
  seed: z.number().int().nonnegative(),
  datasetHash: z.string(),
  manifestKey: z.string(),
  sampleHashesKey: z.string(),
  count: z.number().int().positive(),
  countsPerClass: z.array(z.number().int().nonnegative()),
  classes: z.array(z.string()).min(2),
  /** The full dataset version it was drawn from. */
  fromDatasetHash: z.string(),
  frozenAt: z.string(),
});
export type FrozenHoldout = z.infer<typeof FrozenHoldoutSchema>;

/** A schedule as the schedule store keeps it. `template` is the parsed spec minus dataset. */
export const ScheduleRecordSchema = z.object({
  id: ScheduleIdSchema,
  cron: z.string(),
  timezone: z.string(),
  dataset: DatasetRefSchema,
  template: z.record(z.string(), z.unknown()),
  modelName: ModelNameSchema,
  promotion: PromotionPolicySchema,
  maxRunHours: z.number().positive(),
  createdAt: z.string(),
  updatedAt: z.string(),
  holdout: FrozenHoldoutSchema.optional(),
});
export type ScheduleRecord = z.infer<typeof ScheduleRecordSchema>;

export const RUN_STATUSES = [
  'running',
  'skipped',
  'failed',
  'cancelled',
  'promoted',
  'rejected',
] as const;
export const RunStatusSchema = z.enum(RUN_STATUSES);
export type RunStatus = z.infer<typeof RunStatusSchema>;

/** `cron`: the trigger fired; `catch-up`: a slot missed while no scheduler ran; `manual`: run-now. */
export const RunTriggerSchema = z.enum(['cron', 'catch-up', 'manual']);
export type RunTrigger = z.infer<typeof RunTriggerSchema>;

const ScoreSchema = z.object({
  accuracy: z.number(),
  loss: z.number(),
  samples: z.number().int().nonnegative(),
});
export type Score = z.infer<typeof ScoreSchema>;

/**
 * One firing of a schedule, keyed by (scheduleId, firedAt): created once, so a duplicate fire of
 * the same slot finds the first record. `running` until its sweep ends, then `promoted`,
 * `rejected` or `failed`; `skipped` (unchanged dataset, overlap) and `failed` carry a reason.
 * @example
 * { "scheduleId": "fashion-nightly", "firedAt": "2025-01-02T01:00:00.000Z", "trigger": "cron",
 *   "status": "rejected", "sweepId": "01JG…", "dataset": { "hash": "3f…", "count": 1200 },
 *   "challenger": { "accuracy": 0.88, … }, "serving": { "version": 2, "accuracy": 0.91, … },
 *   "modelVersion": 3, "reason": "challenger accuracy 0.8800 does not beat serving v2 0.9100 by 0.01" }
 */
export const ScheduleRunSchema = z.object({
  scheduleId: z.string(),
  firedAt: z.string(),
  trigger: RunTriggerSchema,
  force: z.boolean(),
  status: RunStatusSchema,
  reason: z.string().optional(),
  startedAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().optional(),
  sweepId: z.string().optional(),
  /** The full dataset version this run saw. */
  dataset: z.object({ hash: z.string(), count: z.number().int().nonnegative() }).optional(),
  /** What the sweep trained on: the dataset minus the frozen holdout. */
  training: z.object({ hash: z.string(), count: z.number().int().nonnegative() }).optional(),
  holdout: z.object({ hash: z.string(), count: z.number().int().nonnegative() }).optional(),
  challenger: ScoreSchema.optional(),
  serving: ScoreSchema.extend({ version: z.number().int().positive() }).optional(),
  /** The registry version the challenger was recorded as. */
  modelVersion: z.number().int().positive().optional(),
});
export type ScheduleRun = z.infer<typeof ScheduleRunSchema>;

/** Body of `POST /schedules/:id/runs` (run now). */
export const RunNowRequestSchema = z
  .object({
    /** Run even when the dataset has not changed since the last completed run. */
    force: z.boolean().default(false),
  })
  .strict();

/** A schedule with its next fire time (UTC) and last run, as the API and CLI show it. */
export const ScheduleViewSchema = ScheduleRecordSchema.extend({
  nextFireAt: z.string().optional(),
  lastRun: ScheduleRunSchema.optional(),
});
export type ScheduleView = z.infer<typeof ScheduleViewSchema>;
