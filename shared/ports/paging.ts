import { z } from 'zod';
import { ValidationError } from '../errors.js';

/** Largest page any listing returns; the default page size of the HTTP API and the CLI. */
export const MAX_PAGE_LIMIT = 1000;
export const DEFAULT_PAGE_LIMIT = 50;

/** One page of a listing: `limit` items at most, after the position `cursor` names. */
export interface PageRequest {
  /** 1..MAX_PAGE_LIMIT. */
  limit: number;
  /** The `next` of the previous page; absent for the first page. */
  cursor?: string;
}

/**
 * One page and, when more items follow, the opaque cursor of the next page. Paging with the
 * cursors of one listing returns every item that existed throughout exactly once.
 */
export interface Page<T> {
  items: T[];
  next?: string;
}

/**
 * An opaque cursor codec: base64url of JSON carrying the listing's name and the position of its
 * last item (a sort key, or the DynamoDB key the next query starts after). A cursor of another
 * listing, or text that is not a cursor, is a ValidationError on `cursor`.
 * @example
 * const cursors = cursorCodec('schedules', z.object({ id: z.string() }));
 * const next = cursors.encode({ id: last.id });
 * const { id } = cursors.decode(request.cursor);
 */
export function cursorCodec<T>(listing: string, position: z.ZodType<T>) {
  const Envelope = z.object({ l: z.literal(listing), p: position }).strict();
  return {
    encode: (value: T): string =>
      Buffer.from(JSON.stringify({ l: listing, p: value })).toString('base64url'),
    decode(cursor: string): T {
      let json: unknown;
      try {
        json = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      } catch {
        json = undefined;
      }
      const parsed = Envelope.safeParse(json);
      if (!parsed.success) {
        throw ValidationError.single(
          'cursor',
          `is not a cursor of this ${listing} listing: pass the "next" of the previous page unchanged, or leave cursor out for the first page`,
        );
      }
      return parsed.data.p as T;
    },
  };
}

/** `limit` checked: an integer in 1..MAX_PAGE_LIMIT, else a ValidationError on `limit`. */
export function checkPageLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw ValidationError.single(
      'limit',
      `must be an integer from 1 to ${MAX_PAGE_LIMIT}, got ${limit}`,
    );
  }
  return limit;
}

/**
 * The page of `limit` items out of `items`, which holds up to `limit + 1` (the extra one only
 * says that more follow); `next` is the cursor of the last item kept.
 */
export function pageOf<T>(
  items: readonly T[],
  limit: number,
  cursorOf: (last: T) => string,
): Page<T> {
  const kept = items.slice(0, limit);
  const last = kept[kept.length - 1];
  return {
    items: kept,
    ...(items.length > limit && last !== undefined ? { next: cursorOf(last) } : {}),
  };
}

/** The cursor positions every StateStore, ScheduleStore and ModelRegistry adapter shares. */
export const CURSORS = {
  /** Newest first: after (createdAt, id), within one status filter (null: all). */
  sweeps: cursorCodec(
    'sweeps',
    z.object({ createdAt: z.string(), id: z.string(), status: z.string().nullable() }),
  ),
  /** By id: after `id`. */
  schedules: cursorCodec('schedules', z.object({ id: z.string() })),
  /** By name: after `name`. */
  models: cursorCodec('models', z.object({ name: z.string() })),
  /** Oldest first: after `version` of `model`. */
  versions: cursorCodec(
    'versions',
    z.object({ model: z.string(), version: z.number().int().nonnegative() }),
  ),
};

/**
 * The position a sweeps cursor resumes after, checked against the status filter it was made
 * with (a cursor of one listing cannot page another). Undefined: the first page.
 * @throws ValidationError on `cursor`
 */
export function sweepsCursorAfter(cursor: string | undefined, status: string | undefined) {
  const after = cursor === undefined ? undefined : CURSORS.sweeps.decode(cursor);
  if (after && after.status !== (status ?? null)) {
    throw ValidationError.single(
      'cursor',
      `this cursor pages ${after.status === null ? 'all sweeps' : `sweeps of status ${after.status}`}: list with the same status filter, or start again without cursor`,
    );
  }
  return after;
}
