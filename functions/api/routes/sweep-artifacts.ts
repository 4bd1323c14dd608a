import { Hono } from 'hono';
import { NotFoundError } from '../../../shared/errors.js';
import { getJson } from '../../../shared/ports/object-store.js';
import { renderHtmlReport } from '../../../shared/report/html-report.js';
import { buildReportInput } from '../../../shared/report/report-input.js';
import { ChampionMetadataSchema } from '../../../shared/schemas/champion.js';
import type { ServiceDeps } from '../../../shared/service/deps.js';

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

/**
 * /sweeps/:id/report (the live HTML report) and the champion: /sweeps/:id/champion (record,
 * metadata.json, file list) and its files /sweeps/:id/champion/<file>, so that stock
 * `tf.loadLayersModel('http://host/sweeps/<id>/champion/model.json')` loads it. Only files that
 * exist under the champion's prefix are served (a listing lookup, never a built path).
 */
export function sweepArtifactsRoutes(deps: ServiceDeps) {
  return new Hono()
    .get('/:id/report', async (c) => {
      const html = renderHtmlReport(await buildReportInput(deps, c.req.param('id')));
      return c.html(html, 200, { 'cache-control': 'no-store' });
    })
    .get('/:id/champion', async (c) => {
      const id = c.req.param('id');
      const champion = await championOf(deps, id);
      const keys = await deps.objects.list(`${champion.modelPrefix}/`);
      const metaKey = `${champion.modelPrefix}/metadata.json`;
      const metadata = keys.includes(metaKey)
        ? ChampionMetadataSchema.parse(await getJson(deps.objects, metaKey))
        : null;
      return c.json({
        champion,
        metadata,
        files: keys.map((k) => k.slice(champion.modelPrefix.length + 1)),
        modelUrl: `/sweeps/${encodeURIComponent(id)}/champion/model.json`,
      });
    })
    .get('/:id/champion/:file{.+}', async (c) => {
      const id = c.req.param('id');
      const champion = await championOf(deps, id);
      const file = c.req.param('file');
      const keys = await deps.objects.list(`${champion.modelPrefix}/`);
      const key = `${champion.modelPrefix}/${file}`;
      if (!keys.includes(key)) {
        throw new NotFoundError(
          'file',
          file,
          `the champion of sweep '${id}' has no file '${file}'`,
        );
      }
      const body = await deps.objects.get(key);
      const ext = file.slice(file.lastIndexOf('.') + 1).toLowerCase();
      return c.body(body as Uint8Array<ArrayBuffer>, 200, {
        'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
        'content-length': String(body.byteLength),
      });
    });
}
