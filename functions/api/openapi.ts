/**
 * What every route file shares: the OpenAPIHono factory whose validation hook turns zod issues
 * into the API's 400, the error responses every operation documents, the paging query and its
 * `next` link, and the document's info.
 * @module
 */
import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import type { ZodError } from 'zod';
import { ValidationError } from '../../shared/errors.js';
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, type Page } from '../../shared/ports/paging.js';
import { toFieldIssues } from '../../shared/schemas/issues.js';
import { ErrorBodySchema } from './errors.js';

/** A validation failure of one request part as the API's ValidationError (a 400 naming fields). */
export function requestError(error: ZodError, target: string): ValidationError {
  const unknown = error.issues.find((i) => i.code === 'unrecognized_keys');
  if (target === 'query' && unknown?.code === 'unrecognized_keys') {
    // pageQuery's message names the unknown parameters and the accepted ones.
    return new ValidationError(
      unknown.message,
      unknown.keys.map((key) => ({ path: key, message: unknown.message })),
    );
  }
  const issues = toFieldIssues(error);
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return new ValidationError(`invalid ${target === 'json' ? 'body' : target}: ${summary}`, issues);
}

/**
 * Route middleware (it runs before the route's validators) refusing an empty body with the
 * message the API has always given: "(body): the body is not JSON: send <what> as JSON".
 */
export function requireBody(what: string): MiddlewareHandler {
  return async (c, next) => {
    if ((await c.req.text()).trim() === '') {
      throw ValidationError.single('(body)', `the body is not JSON: send ${what} as JSON`);
    }
    await next();
  };
}

/** A router whose request validation (query, path, JSON body) fails with the API's 400. */
export function apiRouter() {
  return new OpenAPIHono({
    defaultHook: (result) => {
      if (!result.success) throw requestError(result.error as ZodError, result.target);
    },
  });
}

/** A documented JSON response: its description and its schema. */
export const jsonResponse = <S extends z.ZodType>(schema: S, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

/** The error responses of an operation (all share ErrorBody). */
export const errors = {
  400: jsonResponse(ErrorBodySchema, 'invalid request: every bad field is named in error.issues'),
  404: jsonResponse(ErrorBodySchema, 'no such resource'),
  409: jsonResponse(ErrorBodySchema, 'conflict: the resource is not in a state that allows this'),
} as const;

/** Query parameters of a listing: `limit` and `cursor`, plus `extra`; any other is a 400. */
export function pageQuery<T extends z.ZodRawShape>(extra: T) {
  const names = ['limit', 'cursor', ...Object.keys(extra)].join(', ');
  const unknownParameters = (keys: readonly string[]) =>
    `unknown query parameter${keys.length > 1 ? 's' : ''} ${keys.join(', ')}: this list takes ${names}`;
  const shape = {
    limit: z.coerce
      .number({ error: `limit must be an integer from 1 to ${MAX_PAGE_LIMIT}` })
      .int({ error: `limit must be an integer from 1 to ${MAX_PAGE_LIMIT}` })
      .min(1, { error: `limit must be an integer from 1 to ${MAX_PAGE_LIMIT}` })
      .max(MAX_PAGE_LIMIT, { error: `limit must be an integer from 1 to ${MAX_PAGE_LIMIT}` })
      .default(DEFAULT_PAGE_LIMIT)
      .meta({ description: `page size, 1 to ${MAX_PAGE_LIMIT}`, example: 50 }),
    cursor: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "the previous page's nextCursor (or follow its next link)" }),
    ...extra,
  };
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? unknownParameters(issue.keys) : undefined,
  });
}

/** The paging fields of a list response. */
export const pageFields = {
  next: z
    .string()
    .nullable()
    .meta({ description: 'link to the next page (null on the last page)' }),
  nextCursor: z
    .string()
    .nullable()
    .meta({ description: 'the cursor of the next page (null on the last page)' }),
};

/**
 * `{ [key]: items, next, nextCursor }` for a page, with `next` the same request with the page's
 * cursor, and a `Link: <next>; rel="next"` header.
 */
export function pageBody<K extends string, T>(c: Context, key: K, page: Page<T>) {
  let next: string | null = null;
  if (page.next !== undefined) {
    const url = new URL(c.req.url);
    url.searchParams.set('cursor', page.next);
    next = `${url.pathname}?${url.searchParams.toString()}`;
    c.header('link', `<${next}>; rel="next"`);
  }
  return { [key]: page.items, next, nextCursor: page.next ?? null } as {
    [P in K]: T[];
  } & { next: string | null; nextCursor: string | null };
}

/** The document's title, version and description. */
export const OPENAPI_INFO = {
  title: 'foldsweep API',
  version: '0.1.0',
  description:
    'Cross-validated fine-tuning sweeps of image classifiers: submit a sweep, follow its progress and leaderboard, download the champion, schedule retraining, and manage the model registry. Lists are paged with cursor and limit; follow next until it is null.',
};
