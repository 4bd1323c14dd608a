import { createRoute, z } from '@hono/zod-openapi';
import { NotFoundError } from '../../../shared/errors.js';
import { getJson } from '../../../shared/ports/object-store.js';
import { renderHtmlReport } from '../../../shared/report/html-report.js';
import { buildReportInput } from '../../../shared/report/report-input.js';
import { ChampionMetadataSchema } from '../../../shared/schemas/champion.js';
import { ChampionRecordSchema } from '../../../shared/schemas/state.js';
import type { ServiceDeps } from '../../../shared/service/deps.js';
import { apiRouter, errors, jsonResponse } from '../openapi.js';

const CONTENT_TYPES: Record<string, string> = {
  json: 'application/json',
  bin: 'application/octet-stream',
  txt: 'text/plain; charset=utf-8',
};

/** The champion record of a sweep. @throws NotFoundError for an unknown sweep or no champion yet */
async function championOf(deps: ServiceDeps, sweepId: string) {
  const sweep = await deps.state.getSweep(sweepId);
  if (!sweep) throw new NotFoundError('sweep', sweepId);
  const champion = await deps.state.getChampion(sweepId);
  if (!champion) {
    throw new NotFoundError(
      'champion',
      sweepId,
      `sweep '${sweepId}' has no champion yet (status ${sweep.status}): it is promoted when the sweep completes`,
    );
  }
  return champion;
}

const SweepParams = z.object({ id: z.string().min(1) });

const report = createRoute({
  method: 'get',
  path: '/{id}/report',
  tags: ['sweeps'],
  summary: 'The live HTML report of a sweep (self-contained, no network)',
  request: { params: SweepParams },
  responses: {
    200: { description: 'the report', content: { 'text/html': { schema: z.string() } } },
    404: errors[404],
  },
});

const champion = createRoute({
  method: 'get',
  path: '/{id}/champion',
  tags: ['champion'],
  summary: "The sweep's champion: record, metadata.json, its files and the model URL",
  request: { params: SweepParams },
  responses: {
    200: jsonResponse(
      z.object({
        champion: ChampionRecordSchema.meta({ id: 'ChampionRecord' }),
        metadata: ChampionMetadataSchema.meta({ id: 'ChampionMetadata' }).nullable(),
        files: z.array(z.string()),
        modelUrl: z.string(),
      }),
      'the champion',
    ),
    404: errors[404],
  },
});

/** Documented here; served by a plain route because `file` may hold slashes (`:file{.+}`). */
const championFile = createRoute({
  method: 'get',
  path: '/{id}/champion/{file}',
  tags: ['champion'],
  summary:
    "One file of the champion (model.json, weights, metadata.json): tf.loadLayersModel's URL",
  request: {
    params: SweepParams.extend({ file: z.string().meta({ example: 'model.json' }) }),
  },
  responses: {
    200: {
      description: 'the file',
      content: {
        'application/json': { schema: z.unknown() },
        'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) },
      },
    },
    404: errors[404],
  },
});

/**
 * /sweeps/:id/report (the live HTML report) and the champion: /sweeps/:id/champion (record,
 * metadata.json, file list) and its files /sweeps/:id/champion/<file>, so that stock
 * `tf.loadLayersModel('http://host/sweeps/<id>/champion/model.json')` loads it. Only files that
 * exist under the champion's prefix are served (a listing lookup, never a built path).
 */
export function sweepArtifactsRoutes(deps: ServiceDeps) {
  const app = apiRouter()
    .openapi(report, async (c) => {
      const html = renderHtmlReport(await buildReportInput(deps, c.req.valid('param').id));
      return c.html(html, 200, { 'cache-control': 'no-store' });
    })
    .openapi(champion, async (c) => {
      const { id } = c.req.valid('param');
      const record = await championOf(deps, id);
      const keys = await deps.objects.list(`${record.modelPrefix}/`);
      const metaKey = `${record.modelPrefix}/metadata.json`;
      const metadata = keys.includes(metaKey)
        ? ChampionMetadataSchema.parse(await getJson(deps.objects, metaKey))
        : null;
      return c.json(
        {
          champion: record,
          metadata,
          files: keys.map((k) => k.slice(record.modelPrefix.length + 1)),
          modelUrl: `/sweeps/${encodeURIComponent(id)}/champion/model.json`,
        },
        200,
      );
    });
  app.openAPIRegistry.registerPath(championFile);
  app.get('/:id/champion/:file{.+}', async (c) => {
    const id = c.req.param('id');
    const record = await championOf(deps, id);
    const file = c.req.param('file');
    const keys = await deps.objects.list(`${record.modelPrefix}/`);
    const key = `${record.modelPrefix}/${file}`;
    if (!keys.includes(key)) {
      throw new NotFoundError('file', file, `the champion of sweep '${id}' has no file '${file}'`);
    }
    const body = await deps.objects.get(key);
    const ext = file.slice(file.lastIndexOf('.') + 1).toLowerCase();
    return c.body(body as Uint8Array<ArrayBuffer>, 200, {
      'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
      'content-length': String(body.byteLength),
    });
  });
  return app;
}
