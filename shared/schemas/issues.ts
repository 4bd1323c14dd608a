import type { z } from 'zod';
import { type FieldIssue, ValidationError } from '../errors.js';

/** Turns zod issues into `{ path, message }` pairs with dotted paths (`(root)` for the top). */
export function toFieldIssues(error: z.ZodError): FieldIssue[] {
  const join = (path: readonly PropertyKey[]) =>
    path.length > 0 ? path.map(String).join('.') : '(root)';
  return error.issues.flatMap((issue) =>
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
