import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ConflictError, NotFoundError, ValidationError } from '../../shared/errors.js';
import type { Logger } from '../../shared/ports/logger.js';
import { FieldIssueSchema } from '../../shared/schemas/state.js';

/** The body of every error response. */
export const ErrorBodySchema = z
  .object({
    error: z.object({
      code: z.string().meta({ example: 'invalid_request' }),
      message: z.string(),
      issues: z.array(FieldIssueSchema).optional(),
      requestId: z.string().optional(),
    }),
  })
  .meta({ id: 'ErrorBody' });
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/**
 * Maps domain errors to HTTP: validation (and an unparsable JSON body) 400, not found 404,
 * conflict 409, else 500 (logged once).
 */
export function errorResponse(c: Context, error: unknown, logger: Logger) {
  if (error instanceof ValidationError) {
    return c.json<ErrorBody>(
      { error: { code: 'invalid_request', message: error.message, issues: error.issues } },
      400,
    );
  }
  if (error instanceof HTTPException && error.status === 400) {
    // The JSON body validator could not parse the body.
    const message =
      'the body is not JSON: send it as JSON with "Content-Type: application/json" (GET /openapi.json has its schema)';
    return c.json<ErrorBody>(
      {
        error: {
          code: 'invalid_request',
          message: `(body): ${message}`,
          issues: [{ path: '(body)', message }],
        },
      },
      400,
    );
  }
  if (error instanceof NotFoundError) {
    return c.json<ErrorBody>({ error: { code: 'not_found', message: error.message } }, 404);
  }
  if (error instanceof ConflictError) {
    return c.json<ErrorBody>({ error: { code: 'conflict', message: error.message } }, 409);
  }
  const requestId = crypto.randomUUID();
  logger.error({ err: error, requestId, path: c.req.path }, 'unhandled error');
  return c.json<ErrorBody>(
    { error: { code: 'internal', message: 'internal error: see the server log', requestId } },
    500,
  );
}
