import { Hono } from 'hono';
import { ValidationError } from '../../../shared/errors.js';
import {
  getModel,
  getModelVersion,
  listModels,
  type RegistryDeps,
  registerChampion,
  rollback,
} from '../../../shared/service/registry.js';
import { readJsonBody } from './schedules.js';

/** /models: the registry: names, one model with versions and history, rollback, register. */
export function modelsRoutes(deps: RegistryDeps) {
  return new Hono()
    .get('/', async (c) => c.json({ models: await listModels(deps) }))
    .get('/:name', async (c) => c.json(await getModel(deps, c.req.param('name'))))
    .get('/:name/versions/:version', async (c) => {
      const version = Number(c.req.param('version'));
      if (!Number.isInteger(version) || version < 1) {
        throw ValidationError.single('version', 'version is a positive integer, e.g. 2');
      }
      return c.json(await getModelVersion(deps, c.req.param('name'), version));
    })
    .post('/:name/rollback', async (c) => {
      const body = await readJsonBody(c.req, '{ "version": 2 }', true);
      return c.json(await rollback(deps, c.req.param('name'), body));
    })
    .post('/:name/versions', async (c) => {
      const body = await readJsonBody(c.req, '{ "sweepId": "...", "serve": true }');
      const { created, version } = await registerChampion(deps, c.req.param('name'), body);
      return c.json({ created, version }, created ? 201 : 200, {
        location: `/models/${version.modelName}/versions/${version.version}`,
      });
    });
}
