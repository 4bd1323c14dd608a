import { Validator } from '@seriousme/openapi-schema-validator';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../../../functions/api/app.js';
import { sweepRecordFactory } from '../../../contracts/state-store.contract.js';
import { makeRetrainWorkspace, modelVersionFactory } from '../../../helpers/retrain-fixtures.js';

let ws: Awaited<ReturnType<typeof makeRetrainWorkspace>>;
let app: ReturnType<typeof createApp>;
beforeEach(async () => {
  ws = await makeRetrainWorkspace();
  app = createApp(ws.deps);
});
afterEach(async () => {
  await ws.cleanup();
});

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, { operationId?: string; parameters?: { name: string }[] }>>;
}

async function documentOf(): Promise<OpenApiDocument> {
  const res = await app.request('/openapi.json');
  expect(res.status).toBe(200);
  return (await res.json()) as OpenApiDocument;
}

/** Hono's `/sweeps/:id/champion/:file{.+}` as OpenAPI's `/sweeps/{id}/champion/{file}`. */
const openApiPath = (honoPath: string) => honoPath.replace(/:(\w+)(\{[^}]*\})?/g, '{$1}');

/** The UI's own asset files: static files of the reference page, not API operations. */
const UNDOCUMENTED = new Set(['GET /docs/assets/{file}']);

describe('GET /openapi.json', () => {
  it('is an OpenAPI 3.1 document that a real validator accepts', async () => {
    const doc = await documentOf();
    const validator = new Validator();

    const result = await validator.validate(doc as unknown as Record<string, unknown>);

    expect(doc.openapi).toBe('3.1.0');
    expect(validator.version).toBe('3.1');
    expect(result.errors, JSON.stringify(result.errors, null, 2)).toBeUndefined();
    expect(result.valid).toBe(true);
  });

  it('lists every route the app serves, and serves every operation it lists', async () => {
    const doc = await documentOf();
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
      ),
    );
    const served = new Set(
      app.routes
        .filter((r) => r.method !== 'ALL') // middleware
        .map((r) => `${r.method} ${openApiPath(r.path)}`)
        .filter((route) => !UNDOCUMENTED.has(route)),
    );

    expect([...served].filter((route) => !documented.has(route))).toEqual([]);
    expect([...documented].filter((route) => !served.has(route))).toEqual([]);
    expect(served.size).toBeGreaterThanOrEqual(20);
    for (const list of ['/sweeps', '/schedules', '/models', '/models/{name}/versions']) {
      const names = doc.paths[list]?.get?.parameters?.map((p) => p.name);
      expect(names, list).toEqual(expect.arrayContaining(['limit', 'cursor']));
    }
  });

  it('describes bodies with the shared schemas (the sweep spec, the schedule)', async () => {
    const doc = (await documentOf()) as unknown as {
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['SweepSpec', 'SweepRecord', 'ScheduleInput', 'ErrorBody']),
    );
    expect(Object.keys(doc.components.schemas.SweepSpec?.properties ?? {})).toEqual(
      expect.arrayContaining(['baseModel', 'dataset', 'folds', 'searchSpace', 'training']),
    );
  });
});

describe('with a token', () => {
  it('serves the document and /docs without it, declaring the bearer scheme; the API needs it', async () => {
    const guarded = createApp(ws.deps, { token: 's3cret' });

    const res = await guarded.request('/openapi.json');
    const doc = (await res.json()) as {
      security?: unknown;
      components: { securitySchemes?: Record<string, unknown> };
    };

    expect(res.status).toBe(200);
    expect(doc.security).toEqual([{ bearer: [] }]);
    expect(doc.components.securitySchemes?.bearer).toEqual({ type: 'http', scheme: 'bearer' });
    expect((await new Validator().validate(doc as Record<string, unknown>)).valid).toBe(true);
    expect((await guarded.request('/docs')).status).toBe(200);
    expect((await guarded.request('/sweeps')).status).toBe(401);
  });
});

describe('paging over HTTP', () => {
  /** Follows `next` links from `first`; returns each page's items under `key`. */
  async function follow(first: string, key: string) {
    const pages: { id?: string; name?: string; version?: number }[][] = [];
    let url: string | null = first;
    while (url !== null) {
      const res = await app.request(url);
      expect(res.status, url).toBe(200);
      const body = (await res.json()) as Record<string, unknown> & { next: string | null };
      pages.push(body[key] as never);
      if (body.next !== null) expect(res.headers.get('link')).toBe(`<${body.next}>; rel="next"`);
      url = body.next;
    }
    return pages;
  }

  it('GET /sweeps pages newest first through next links, each sweep once', async () => {
    for (let i = 0; i < 7; i++) {
      await ws.deps.state.createSweep(
        sweepRecordFactory({
          id: `s${i}`,
          status: i % 2 ? 'completed' : 'failed',
          createdAt: `2025-01-01T10:0${i}:00.000Z`,
        }),
      );
    }

    const pages = await follow('/sweeps?limit=3', 'sweeps');
    const completed = await follow('/sweeps?status=completed&limit=2', 'sweeps');
    const bogus = await app.request('/sweeps?status=bogus');

    expect(pages.map((p) => p.map((s) => s.id))).toEqual([
      ['s6', 's5', 's4'],
      ['s3', 's2', 's1'],
      ['s0'],
    ]);
    expect(completed.flat().map((s) => s.id)).toEqual(['s5', 's3', 's1']);
    expect(bogus.status).toBe(400);
    expect(((await bogus.json()) as { error: { message: string } }).error.message).toMatch(
      /status: status must be one of pending, preparing, running/,
    );
  });

  it('GET /schedules, /models and /models/{name}/versions page the same way', async () => {
    for (const name of ['b', 'a', 'c']) {
      await ws.deps.registry.register(
        modelVersionFactory({ modelName: name, sweepId: `s-${name}` }),
      );
    }
    for (const n of [1, 2, 3]) {
      await ws.deps.registry.register(modelVersionFactory({ modelName: 'a', sweepId: `s${n}` }));
    }

    const models = await follow('/models?limit=2', 'models');
    const versions = await follow('/models/a/versions?limit=3', 'versions');
    const schedules = await follow('/schedules?limit=2', 'schedules');

    expect(models.map((p) => p.map((m) => m.name))).toEqual([['a', 'b'], ['c']]);
    expect(versions.map((p) => p.map((v) => v.version))).toEqual([[1, 2, 3], [4]]);
    expect(schedules).toEqual([[]]);
    expect((await app.request('/models/nope/versions')).status).toBe(404);
  });

  it.each(['/sweeps', '/schedules', '/models', '/models/a/versions'])(
    'GET %s: unknown query parameters, a bad limit or cursor are a 400 naming them',
    async (path) => {
      await ws.deps.registry.register(modelVersionFactory({ modelName: 'a' }));
      const unknown = await app.request(`${path}?limit=5&colour=red&sort=x`);
      expect(unknown.status).toBe(400);
      const body = (await unknown.json()) as {
        error: { message: string; issues: { path: string }[] };
      };
      expect(body.error.message).toMatch(
        /unknown query parameters colour, sort: this list takes limit, cursor/,
      );
      expect(body.error.issues.map((i) => i.path)).toEqual(['colour', 'sort']);

      for (const [query, field] of [
        ['limit=0', 'limit'],
        ['limit=1001', 'limit'],
        ['limit=ten', 'limit'],
        ['cursor=nope', 'cursor'],
      ]) {
        const res = await app.request(`${path}?${query}`);
        expect(res.status, query).toBe(400);
        const error = ((await res.json()) as { error: { issues: { path: string }[] } }).error;
        expect(error.issues.map((i) => i.path)).toContain(field);
      }
    },
  );
});
