/**
 * `foldsweep schema sweep|schedule`: prints the JSON Schema of a sweep spec or a schedule file.
 */
import { ValidationError } from '../../shared/errors.js';
import { scheduleJsonSchema, sweepSpecJsonSchema } from '../../shared/schemas/json-schema.js';

const SCHEMAS = { sweep: sweepSpecJsonSchema, schedule: scheduleJsonSchema } as const;

/** Prints the schema named by `args[0]`; returns the exit code. */
export function schemaCommand(args: string[], out: NodeJS.WritableStream = process.stdout): number {
  const [name, ...rest] = args;
  if (!(name === 'sweep' || name === 'schedule') || rest.length > 0) {
    throw ValidationError.single(
      '<kind>',
      `give one of sweep, schedule: foldsweep schema sweep > sweep.schema.json${name === undefined ? '' : ` (got '${args.join(' ')}')`}`,
    );
  }
  out.write(`${JSON.stringify(SCHEMAS[name](), null, 2)}\n`);
  return 0;
}
