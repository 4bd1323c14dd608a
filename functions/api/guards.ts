import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ErrorBody } from './errors.js';

/** Default largest request body: JSON specs are a few KB; 1 MB leaves ample room. */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const fail = (c: Context, status: 401 | 403 | 405 | 413 | 415, code: string, message: string) =>
  c.json<ErrorBody>({ error: { code, message } }, status);

/** Loopback hosts, where `startServer` runs without a token. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * Every request but the public GETs (`/health`, the API document `/openapi.json` and its reference
 * page `/docs`, which hold no data) must carry `Authorization: Bearer <token>` (401 otherwise).
 * Compared in constant time: both sides are hashed to equal-length digests first.
 */
export function requireToken(token: string): MiddlewareHandler {
  const expected = createHash('sha256').update(token).digest();
  return async (c, next) => {
    if ((c.req.method === 'GET' || c.req.method === 'HEAD') && isPublicPath(c.req.path)) {
      return next();
    }
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer (.+)$/i.exec(header);
    const given = createHash('sha256')
      .update(match?.[1] ?? '')
      .digest();
    if (!match || !timingSafeEqual(given, expected)) {
      c.header('www-authenticate', 'Bearer');
      return fail(
        c,
        401,
        'unauthorized',
        'send the server token as "Authorization: Bearer <token>"',
      );
    }
    return next();
  };
}

/** Paths that need no token: liveness, the OpenAPI document and the reference UI. */
export function isPublicPath(path: string): boolean {
  return (
    path === '/health' ||
    path === '/openapi.json' ||
    path === '/docs' ||
    path.startsWith('/docs/assets/')
  );
}

/** Converts a Hono route path ('/sweeps/:id', '/x/:file{.+}') to an anchored regex. */
function routeRegex(path: string): RegExp {
  let source = '';
  for (const part of path.split('/').filter(Boolean)) {
    const param = /^:\w+(?:\{(.+)\})?$/.exec(part);
    if (param) source += `/(?:${param[1] ?? '[^/]+'})`;
    else if (part === '*') source += '(?:/.*)?';
    else source += `/${part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`;
  }
  return new RegExp(`^${source || '/'}/?$`);
}

/**
 * The methods `app` answers on `path` (from its registered routes), with HEAD for GET and
 * OPTIONS; empty when no route has that path.
 */
export function allowedMethods(app: Pick<Hono, 'routes'>, path: string): string[] {
  const methods = new Set<string>();
  for (const route of app.routes) {
    if (route.method === 'ALL') continue; // middleware
    if (routeRegex(route.path).test(path)) methods.add(route.method);
  }
  if (methods.size === 0) return [];
  if (methods.has('GET')) methods.add('HEAD');
  methods.add('OPTIONS');
  return [...methods].sort();
}

/**
 * A known path with a method it does not serve: 405 with `Allow`. OPTIONS on a known path:
 * 204 with `Allow` (no CORS headers). Unknown paths fall through to the 404.
 */
export function methodGuard(app: Pick<Hono, 'routes'>): MiddlewareHandler {
  return async (c, next) => {
    const allowed = allowedMethods(app, c.req.path);
    if (allowed.length === 0) return next();
    const method = c.req.method;
    if (method === 'OPTIONS') return c.body(null, 204, { allow: allowed.join(', ') });
    if (!allowed.includes(method)) {
      c.header('allow', allowed.join(', '));
      return fail(
        c,
        405,
        'method_not_allowed',
        `${method} is not allowed on ${c.req.path}: use ${allowed.join(', ')}`,
      );
    }
    return next();
  };
}

/**
 * State-changing requests with an `Origin` other than the server's own are refused (403): a web
 * page on another site cannot drive the API through the browser. No Origin (curl, SDKs) passes.
 */
export function sameOriginGuard(allowedOrigins: readonly string[] = []): MiddlewareHandler {
  return async (c, next) => {
    const origin = c.req.header('origin');
    if (origin === undefined || !STATE_CHANGING.has(c.req.method)) return next();
    const own = new URL(c.req.url).origin;
    if (origin === own || allowedOrigins.includes(origin)) return next();
    return fail(
      c,
      403,
      'forbidden_origin',
      `cross-site request refused: Origin ${origin} is not this server (${own})`,
    );
  };
}

/**
 * State-changing requests that carry a body must send it as `application/json` (415 otherwise).
 * A body-less request (no content type, no length or length 0, not chunked) passes.
 */
export function jsonContentTypeGuard(): MiddlewareHandler {
  return async (c, next) => {
    if (!STATE_CHANGING.has(c.req.method)) return next();
    const type = c.req.header('content-type');
    const length = c.req.header('content-length');
    const chunked = c.req.header('transfer-encoding') !== undefined;
    const bodyless =
      type === undefined && !chunked && (length === undefined || Number(length) === 0);
    if (bodyless) return next();
    const mediaType = (type ?? '').split(';')[0]?.trim().toLowerCase();
    if (mediaType === 'application/json') return next();
    return fail(
      c,
      415,
      'unsupported_media_type',
      `${type === undefined ? 'no content type' : `content type ${type}`} is not accepted: send the body as JSON with "Content-Type: application/json"`,
    );
  };
}

/**
 * Bodies over `maxBytes` are refused with 413 before they are buffered: a declared
 * Content-Length is checked up front; a streamed body is cut off once it passes the limit.
 */
export function bodySizeGuard(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) =>
      fail(
        c,
        413,
        'payload_too_large',
        `the body is larger than the ${maxBytes}-byte limit (raise it with the bodyLimitBytes option)`,
      ),
  });
}
