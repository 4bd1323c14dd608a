import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { scheduleJsonSchema, sweepSpecJsonSchema } from '../../../../shared/schemas/json-schema.js';
import { ScheduleInputSchema } from '../../../../shared/schemas/schedule.js';
import { SweepSpecSchema } from '../../../../shared/schemas/sweep-spec.js';

const EXAMPLES = join(import.meta.dirname, '../../../../examples/fashion-mnist');
const readJson = async (file: string) => JSON.parse(await readFile(join(EXAMPLES, file), 'utf8'));

// strict: false lets zod's extra keywords through; ajv still checks every standard one.
const compile = (schema: object) => new Ajv2020({ strict: false, allErrors: true }).compile(schema);

const schedule = {
  $schema: './schedule.schema.json',
  id: 'fashion-nightly',
  cron: '0 2 * * *',
  timezone: 'Europe/Berlin',
  dataset: { uri: 'data/train-images-idx3-ubyte.gz', format: 'idx' },
  template: { baseModel: 'base-model/model.json', folds: 3, holdoutFraction: 0.15 },
  modelName: 'fashion',
};

describe('sweepSpecJsonSchema()', () => {
  const validate = compile(sweepSpecJsonSchema());

  it.each(['sweep.json', 'strategies.json'])('accepts the example spec %s', async (file) => {
    const spec = await readJson(file);
    expect(validate(spec), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ $schema: './sweep.schema.json', ...spec })).toBe(true);
  });

  it('rejects a bad spec: an unknown key, folds below 2, a missing dataset', async () => {
    const spec = await readJson('sweep.json');
    expect(validate({ ...spec, fold: 3 })).toBe(false);
    expect(validate.errors?.map((e) => e.params)).toContainEqual({ additionalProperty: 'fold' });
    expect(validate({ ...spec, folds: 1 })).toBe(false);
    expect(validate.errors?.map((e) => e.instancePath)).toContain('/folds');
    const { dataset: _dataset, ...noDataset } = spec;
    expect(validate(noDataset)).toBe(false);
  });

  it('matches zod on "$schema": a spec carrying it parses', async () => {
    const spec = { $schema: './sweep.schema.json', ...(await readJson('sweep.json')) };
    expect(SweepSpecSchema.safeParse(spec).success).toBe(true);
  });
});

describe('scheduleJsonSchema()', () => {
  const validate = compile(scheduleJsonSchema());

  it('accepts the schedule of docs/retraining.md with a "$schema" key, as zod does', () => {
    expect(validate(schedule), JSON.stringify(validate.errors)).toBe(true);
    expect(ScheduleInputSchema.safeParse(schedule).success).toBe(true);
  });

  it('checks the template as a sweep spec without dataset', () => {
    expect(validate({ ...schedule, template: { ...schedule.template, folds: 1 } })).toBe(false);
    expect(validate.errors?.map((e) => e.instancePath)).toContain('/template/folds');
    expect(validate({ ...schedule, template: { folds: 3 } })).toBe(false); // no baseModel
    expect(validate({ ...schedule, crn: '0 2 * * *' })).toBe(false);
  });
});
