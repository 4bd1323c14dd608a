/**
 * `GET /docs`: the API reference (Swagger UI from the swagger-ui-dist package, served from
 * node_modules; no CDN), reading `GET /openapi.json`. Its 1.9 MB of assets are read on first
 * request and kept in memory; they are not bundled into the Lambda functions, so on AWS `/docs`
 * answers 404 and points to /openapi.json (which any OpenAPI viewer opens).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ErrorBody } from './errors.js';

/** The asset files the page loads, with their content types. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>foldsweep API reference</title>
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: '/openapi.json',
      dom_id: '#swagger-ui',
      deepLinking: true,
      validatorUrl: null,
    });
  </script>
</body>
</html>
`;

/** The folder of the installed swagger-ui-dist package, or undefined when it is not installed. */
function assetFolder(): string | undefined {
  try {
    return dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  } catch {
    return undefined;
  }
}

/** Mounts `GET /docs` and `GET /docs/assets/<file>` on `app` (not part of the OpenAPI document). */
export function mountDocs(app: OpenAPIHono) {
  const cache = new Map<string, Uint8Array>();
  const missing = () =>
    ({
      error: {
        code: 'not_found',
        message:
          'the API reference UI is not part of this deployment (swagger-ui-dist is not installed): open /openapi.json in any OpenAPI viewer, or run foldsweep serve',
      },
    }) satisfies ErrorBody;
  app.get('/docs', (c) =>
    assetFolder() === undefined
      ? c.json(missing(), 404)
      : c.html(PAGE, 200, { 'cache-control': 'no-cache' }),
  );
  app.get('/docs/assets/:file', async (c) => {
    const file = c.req.param('file');
    const type = ASSETS[file];
    const folder = assetFolder();
    if (type === undefined || folder === undefined) return c.json(missing(), 404);
    let body = cache.get(file);
    if (!body) {
      body = new Uint8Array(await readFile(join(folder, file)));
      cache.set(file, body);
    }
    return c.body(body as Uint8Array<ArrayBuffer>, 200, {
      'content-type': type,
      'cache-control': 'public, max-age=3600',
    });
  });
}
