import type { z } from 'zod';
import { type FieldIssue, ValidationError } from '../errors.js';

/** Turns zod issues into `{ path, message }` pairs with dotted paths (`(root)` for the top). */
export function toFieldIssues(error: z.ZodError): FieldIssue[] {
  const join = (path: readonly PropertyKey[]) =>
    path.length > 0 ? path.map(String).join('.') : '(root)';
  return flattenUnions(error.issues).flatMap((issue) =>
    // One issue per unknown key, at the key's own path, so the caller sees which field to drop.
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({
          path: join([...issue.path, key]),
          message: `unknown field '${key}': remove it or check its spelling`,
        }))
      : issue.code === 'invalid_type' && /received undefined$/.test(issue.message)
        ? [
            {
              path: join(issue.path),
              message: `required: give ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`,
            },
          ]
        : [{ path: join(issue.path), message: issue.message }],
  );
}

/**
 * A union that failed with zod's bare "Invalid input" (e.g. a searchSpace dimension that is a
 * list or a range) reports the issues of the one option the input was shaped for (the options
 * that did not fail at the value itself), so that `lrMultiplier: { min: 0 }` names `.min`; an
 * input of no option's shape says which shapes are accepted.
 */
function flattenUnions(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  return issues.flatMap((issue) => {
    if (issue.code !== 'invalid_union' || issue.message !== 'Invalid input') return [issue];
    const branches = issue.errors;
    const shaped = branches.filter(
      (b) => !(b.length === 1 && b[0].code === 'invalid_type' && b[0].path.length === 0),
    );
    if (shaped.length === 1) {
      return flattenUnions(shaped[0]).map((i) => ({ ...i, path: [...issue.path, ...i.path] }));
    }
    const expected = branches.flatMap((b) =>
      b.length === 1 && b[0].code === 'invalid_type' ? [b[0].expected] : [],
    );
    return expected.length === branches.length
      ? [{ ...issue, message: `expected ${[...new Set(expected)].join(' or ')}` }]
      : [issue];
  });
}

/** Parses `input` with `schema` or throws a ValidationError naming every bad field. */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = toFieldIssues(result.error);
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  throw new ValidationError(`invalid ${what}: ${summary}`, issues, { cause: result.error });
}
