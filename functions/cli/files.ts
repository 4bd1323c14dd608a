/** Reading spec and schedule files, and option values, the same way in every CLI command. */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ValidationError } from '../../shared/errors.js';

/** `--name` as a positive integer, or undefined when absent. */
export function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw ValidationError.single(`--${name}`, `must be a positive integer, got '${value}'`);
  }
  return n;
}

/** Relative local paths (not URIs) resolve against `baseDir`; anything else is kept. */
const against = (baseDir: string) => (p: unknown) =>
  typeof p === 'string' && p.length > 0 && !isAbsolute(p) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(p)
    ? join(baseDir, p)
    : p;

/** Resolves relative local paths of a sweep spec (baseModel, dataset, testSet) against `baseDir`. */
export function resolveSpecPaths(spec: unknown, baseDir: string): unknown {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) return spec;
  const fix = against(baseDir);
  const s = { ...(spec as Record<string, unknown>) };
  s.baseModel = fix(s.baseModel);
  for (const key of ['dataset', 'testSet']) {
    const d = s[key];
    if (typeof d === 'object' && d !== null) {
      const copy = { ...(d as Record<string, unknown>) };
      copy.uri = fix(copy.uri);
      if (copy.labelsUri !== undefined) copy.labelsUri = fix(copy.labelsUri);
      s[key] = copy;
    }
  }
  return s;
}

/** A schedule file: its `dataset` and its `template` (a spec without dataset) resolve alike. */
export function resolveSchedulePaths(input: unknown, baseDir: string): unknown {
  if (typeof input !== 'object' || input === null) return input;
  const s = { ...(input as Record<string, unknown>) };
  const template = typeof s.template === 'object' && s.template !== null ? s.template : {};
  const { dataset, ...rest } = resolveSpecPaths(
    { ...template, dataset: s.dataset },
    baseDir,
  ) as Record<string, unknown>;
  if (s.dataset !== undefined) s.dataset = dataset;
  if (s.template === template) s.template = rest;
  return s;
}

/**
 * Reads a JSON file named on the command line; relative paths inside it resolve against its
 * folder. Errors name `field` (e.g. `<spec>`) and the file.
 */
export async function readJsonFile(
  file: string,
  field: string,
  resolvePaths: (json: unknown, baseDir: string) => unknown,
): Promise<unknown> {
  const text = await readFile(file, 'utf8').catch((cause) => {
    throw ValidationError.single(field, `cannot read ${file}: ${(cause as Error).message}`, cause);
  });
  let json: unknown;
  try {
    // A UTF-8 byte order mark (editors on Windows write one) is not part of the JSON.
    json = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (cause) {
    throw ValidationError.single(
      field,
      `${file} is not valid JSON: ${(cause as Error).message}`,
      cause,
    );
  }
  return resolvePaths(json, dirname(resolve(file)));
}
