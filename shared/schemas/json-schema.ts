/**
 * JSON Schemas (draft 2020-12) of the files a user writes, generated from the zod schemas that
 * check them, so an editor validates `sweep.json` through its `"$schema"` key exactly as
 * `foldsweep run` and `POST /sweeps` will (checks written as code, such as "augmentation needs a
 * variant that augments", stay with zod).
 * @module
 */
import { z } from 'zod';
import { ScheduleInputSchema } from './schedule.js';
import { SweepSpecSchema } from './sweep-spec.js';

type JsonSchema = Record<string, unknown> & {
  properties?: Record<string, unknown>;
  required?: string[];
};

const toJsonSchema = (schema: z.ZodType): JsonSchema =>
  // Input side: what a user writes (defaults may be left out).
  z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;

/**
 * The JSON Schema of a sweep spec (`foldsweep schema sweep`).
 * @example
 * // sweep.json: { "$schema": "./sweep.schema.json", "baseModel": "...", "dataset": { ... } }
 * await writeFile('sweep.schema.json', JSON.stringify(sweepSpecJsonSchema(), null, 2));
 */
export function sweepSpecJsonSchema(): JsonSchema {
  return {
    ...toJsonSchema(SweepSpecSchema),
    title: 'foldsweep sweep spec',
    description:
      'A sweep: base model + dataset + search space + k folds + training settings (foldsweep run, POST /sweeps).',
  };
}

/**
 * The JSON Schema of a schedule file (`foldsweep schema schedule`); its `template` is a sweep
 * spec without `dataset`.
 */
export function scheduleJsonSchema(): JsonSchema {
  const schedule = toJsonSchema(ScheduleInputSchema);
  const { $schema: _draft, ...spec } = toJsonSchema(SweepSpecSchema);
  const { dataset: _dataset, ...specProperties } = spec.properties ?? {};
  const template = {
    ...spec,
    description: 'a sweep spec without dataset (the schedule gives it at its top level)',
    properties: specProperties,
    required: (spec.required ?? []).filter((key) => key !== 'dataset'),
  };
  return {
    ...schedule,
    title: 'foldsweep schedule',
    description: 'Scheduled retraining: cron + time zone + dataset + sweep template + promotion.',
    properties: { ...schedule.properties, template },
  };
}
