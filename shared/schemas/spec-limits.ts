/**
 * Size limits of a sweep spec, checked when a sweep is submitted (HTTP, CLI, schedule runs)
 * before anything is stored or read: the trials a grid makes, string and list lengths, the
 * number of classes. They are not part of SweepSpecSchema, so a stored spec always parses again
 * after a limit is lowered, and a limit can be raised per process (`--max-trials`, the
 * FOLDSWEEP_MAX_* variables: docs/limits-and-safety.md).
 * @module
 */
import { z } from 'zod';
import { type FieldIssue, ValidationError } from '../errors.js';
import { STRATEGY_DESCRIPTORS } from '../strategies/index.js';
import type { SweepSpec } from './sweep-spec.js';

export interface SpecLimits {
  /** Trials (variants x folds) one sweep may plan, counted before duplicate grid points collapse. */
  maxTrials: number;
  /** Characters of `name`. */
  maxNameLength: number;
  /** Characters of any other text value: class names, layer names. */
  maxStringLength: number;
  /** Characters of a path or URI: baseModel, dataset.uri, labelsUri. */
  maxPathLength: number;
  /** Entries of any list: classNames, subset.classes, each searchSpace list. */
  maxListLength: number;
  /** Classes of a dataset (classNames, subset.classes, and the prepared dataset's classes). */
  maxClasses: number;
}

export const DEFAULT_SPEC_LIMITS: Readonly<SpecLimits> = {
  maxTrials: 1000,
  maxNameLength: 100,
  maxStringLength: 256,
  maxPathLength: 4096,
  maxListLength: 100,
  maxClasses: 1000,
};

/** The environment variable that raises each limit. */
export const SPEC_LIMIT_ENV: Readonly<Record<keyof SpecLimits, string>> = {
  maxTrials: 'FOLDSWEEP_MAX_TRIALS',
  maxNameLength: 'FOLDSWEEP_MAX_NAME_LENGTH',
  maxStringLength: 'FOLDSWEEP_MAX_STRING_LENGTH',
  maxPathLength: 'FOLDSWEEP_MAX_PATH_LENGTH',
  maxListLength: 'FOLDSWEEP_MAX_LIST_LENGTH',
  maxClasses: 'FOLDSWEEP_MAX_CLASSES',
};

/** How to raise a limit, said after every limit issue. */
const raise = (limit: keyof SpecLimits) =>
  limit === 'maxTrials'
    ? `raise it with --max-trials N or ${SPEC_LIMIT_ENV.maxTrials}`
    : `raise it with ${SPEC_LIMIT_ENV[limit]}`;

const PositiveIntText = z
  .string()
  .regex(/^[1-9][0-9]{0,9}$/, 'must be a positive integer')
  .transform(Number);

/**
 * The limits an environment sets (FOLDSWEEP_MAX_TRIALS, ...) over the defaults.
 * @throws ValidationError naming the variable when its value is not a positive integer
 * @example
 * const limits = specLimitsFromEnv(process.env); // { maxTrials: 1000, ... }
 */
export function specLimitsFromEnv(env: Record<string, string | undefined>): SpecLimits {
  const limits: SpecLimits = { ...DEFAULT_SPEC_LIMITS };
  for (const key of Object.keys(SPEC_LIMIT_ENV) as (keyof SpecLimits)[]) {
    const name = SPEC_LIMIT_ENV[key];
    const text = env[name];
    if (text === undefined || text === '') continue;
    const parsed = PositiveIntText.safeParse(text.trim());
    if (!parsed.success) {
      throw ValidationError.single(name, `must be a positive integer, got '${text}'`);
    }
    limits[key] = parsed.data;
  }
  return limits;
}

/**
 * Upper bound of the variants a spec's grid makes: for each listed strategy, the product of the
 * lengths of the dimensions it uses (its descriptor's defaults where the spec gives none). Cheap:
 * nothing is expanded.
 */
export function variantUpperBound(spec: SweepSpec): number {
  let total = 0;
  for (const strategy of spec.searchSpace.strategy) {
    const dimensions = STRATEGY_DESCRIPTORS[strategy].dimensions as Record<string, unknown[]>;
    let product = 1;
    for (const [dimension, defaults] of Object.entries(dimensions)) {
      const given = (spec.searchSpace as Record<string, unknown>)[dimension];
      product *= Array.isArray(given) ? given.length : defaults.length;
    }
    total += product;
  }
  return total;
}

/**
 * Every way `spec` exceeds `limits`, as field-named issues stating the bound and how to raise it
 * (empty when within them).
 * @example
 * checkSpecLimits(spec, DEFAULT_SPEC_LIMITS); // [{ path: 'name', message: 'is 300 characters ...' }]
 */
export function checkSpecLimits(spec: SweepSpec, limits: SpecLimits): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const text = (
    path: string,
    value: unknown,
    limit: 'maxNameLength' | 'maxStringLength' | 'maxPathLength',
  ) => {
    if (typeof value === 'string' && value.length > limits[limit]) {
      issues.push({
        path,
        message: `is ${value.length} characters long; the limit is ${limits[limit]}: shorten it (or ${raise(limit)})`,
      });
    }
  };
  const list = (
    path: string,
    value: unknown,
    limit: 'maxListLength' | 'maxClasses' = 'maxListLength',
  ) => {
    if (!Array.isArray(value)) return false;
    if (value.length > limits[limit]) {
      issues.push({
        path,
        message: `has ${value.length} entries; the limit is ${limits[limit]}${limit === 'maxClasses' ? ' classes' : ''}: give fewer (or ${raise(limit)})`,
      });
      return false;
    }
    return true;
  };
  text('name', spec.name, 'maxNameLength');
  text('baseModel', spec.baseModel, 'maxPathLength');
  for (const field of ['dataset', 'testSet'] as const) {
    const ref = spec[field];
    if (!ref) continue;
    text(`${field}.uri`, ref.uri, 'maxPathLength');
    text(`${field}.labelsUri`, ref.labelsUri, 'maxPathLength');
    const classLimit = limits.maxClasses < limits.maxListLength ? 'maxClasses' : 'maxListLength';
    if (list(`${field}.classNames`, ref.classNames, classLimit)) {
      ref.classNames?.forEach((name, i) => {
        text(`${field}.classNames.${i}`, name, 'maxStringLength');
      });
    }
    list(`${field}.subset.classes`, ref.subset?.classes, classLimit);
  }
  text('model.cutLayer', spec.model?.cutLayer, 'maxStringLength');
  let listsFit = true;
  for (const [dimension, values] of Object.entries(spec.searchSpace)) {
    if (!list(`searchSpace.${dimension}`, values)) {
      listsFit &&= !Array.isArray(values);
      continue;
    }
    if (dimension === 'strategy') continue; // names from the registry, checked by the schema
    (values as unknown[]).forEach((value, i) => {
      text(`searchSpace.${dimension}.${i}`, value, 'maxStringLength');
    });
  }
  if (listsFit) {
    const variants = variantUpperBound(spec);
    const trials = variants * spec.folds;
    if (trials > limits.maxTrials) {
      issues.push({
        path: 'searchSpace',
        message:
          `the grid makes up to ${trials} trials (${variants} variants x ${spec.folds} folds); ` +
          `the limit is ${limits.maxTrials} trials per sweep: remove values from the searchSpace ` +
          `lists or use fewer folds (or ${raise('maxTrials')})`,
      });
    }
  }
  return issues;
}

/** checkSpecLimits, thrown as one ValidationError. */
export function assertSpecLimits(spec: SweepSpec, limits: SpecLimits): void {
  const issues = checkSpecLimits(spec, limits);
  if (issues.length === 0) return;
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  throw new ValidationError(`invalid sweep spec: ${summary}`, issues);
}
