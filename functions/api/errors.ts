import type { Context } from 'hono';
import { ConflictError, NotFoundError, ValidationError } from '../../shared/errors.js';
import type { Logger } from '../../shared/ports/logger.js';

export interface ErrorBody {
  error: {
    code: string;
    message: string;
    issues?: { path: string; message: string }[];
    requestId?: string;
  };
}

/** Maps domain errors to HTTP: validation 400, not found 404, conflict 409, else 500 (logged once). */
export function errorResponse(c: Context, error: unknown, logger: Logger) {
  if (error instanceof ValidationError) {
    return c.json<ErrorBody>(
      { error: { code: 'invalid_request', message: error.message, issues: error.issues } },
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
