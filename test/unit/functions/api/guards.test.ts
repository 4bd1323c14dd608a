import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../../../functions/api/app.js';
import { startServer } from '../../../../functions/api/node.js';
import { makeWorkspace } from '../../../helpers/workspace.js';

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
beforeEach(async () => {
  ws = await makeWorkspace();
});
afterEach(async () => {
  await ws.cleanup();
});

const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message: string } }).error;

describe('content type of state-changing requests', () => {
  it('415 for a non-JSON body, naming application/json', async () => {
    const res = await createApp(ws.deps).request('/sweeps', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{}',
    });
    expect(res.status).toBe(415);
    const error = await errorOf(res);
    expect(error.code).toBe('unsupported_media_type');
    expect(error.message).toContain('application/json');
  });

  it('accepts application/json with a charset, and a body-less POST without a content type', async () => {
    // Preparation held: nothing runs in the background after the 202.
    const app = createApp({ ...ws.deps, preparation: { start: async () => {} } });
    const res = await app.request('/sweeps', {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(ws.spec()),
    });
    expect(res.status).toBe(202);
    const { sweep } = (await res.json()) as { sweep: { id: string } };
    const cancel = await app.request(`/sweeps/${sweep.id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(200);
  });
});

describe('Origin check', () => {
  it('403 for a cross-site Origin on a state-changing request', async () => {
    const res = await createApp(ws.deps).request('http://127.0.0.1:8080/sweeps/x/cancel', {
      method: 'POST',
      headers: { origin: 'https://evil.example' },
    });
    expect(res.status).toBe(403);
    expect((await errorOf(res)).message).toContain('https://evil.example');
  });

  it('passes the server’s own origin and requests without Origin; adds no CORS headers', async () => {
    const app = createApp(ws.deps);
    const own = await app.request('http://127.0.0.1:8080/sweeps/nope/cancel', {
      method: 'POST',
      headers: { origin: 'http://127.0.0.1:8080' },
    });
    expect(own.status).toBe(404);
    const none = await app.request('/sweeps/nope/cancel', { method: 'POST' });
    expect(none.status).toBe(404);
    const get = await app.request('/sweeps', { headers: { origin: 'https://evil.example' } });
    expect(get.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('token', () => {
  const app = () => createApp(ws.deps, { token: 's3cret' });
  it('401 without or with a wrong bearer token; health stays open', async () => {
    const none = await app().request('/sweeps');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const wrong = await app().request('/sweeps', { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect((await app().request('/health')).status).toBe(200);
  });
  it('passes the right token', async () => {
    const res = await app().request('/sweeps', { headers: { authorization: 'Bearer s3cret' } });
    expect(res.status).toBe(200);
  });
  it('without the token option no Authorization is needed', async () => {
    expect((await createApp(ws.deps).request('/sweeps')).status).toBe(200);
  });
  it('startServer refuses a non-loopback host without a token, naming --token and FOLDSWEEP_TOKEN', async () => {
    const start = startServer(ws.deps, { hostname: '0.0.0.0', port: 0 });
    await expect(start).rejects.toThrow(/--token.*FOLDSWEEP_TOKEN/);
  });
});

describe('body size', () => {
  it('413 for a declared body over the limit; the option raises it', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) });
    const init = (body: string) => ({
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
      body,
    });
    const res = await createApp(ws.deps).request('/sweeps', init(big));
    expect(res.status).toBe(413);
    expect((await errorOf(res)).code).toBe('payload_too_large');
    const raised = await createApp(ws.deps, { bodyLimitBytes: 4 * 1024 * 1024 }).request(
      '/sweeps',
      init(big),
    );
    expect(raised.status).toBe(400); // past the limit check: an invalid spec
  });
});

describe('methods', () => {
  it('405 with Allow for a wrong method on a known path', async () => {
    const app = createApp(ws.deps);
    const put = await app.request('/sweeps', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, HEAD, OPTIONS, POST');
    const del = await app.request('/health', { method: 'DELETE' });
    expect(del.status).toBe(405);
    expect(del.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    const cancel = await app.request('/sweeps/abc/cancel', { method: 'GET' });
    expect(cancel.status).toBe(405);
    expect(cancel.headers.get('allow')).toBe('OPTIONS, POST');
  });
  it('OPTIONS answers 204 with Allow and no CORS headers; unknown paths stay 404', async () => {
    const app = createApp(ws.deps);
    const res = await app.request('/sweeps/abc', { method: 'OPTIONS' });
    expect(res.status).toBe(204);
    expect(res.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect((await app.request('/nothing', { method: 'OPTIONS' })).status).toBe(404);
    expect((await app.request('/nothing', { method: 'DELETE' })).status).toBe(404);
  });
  it('champion file routes keep working paths (GET allowed)', async () => {
    const res = await createApp(ws.deps).request('/sweeps/abc/champion/model.json', {
      method: 'DELETE',
    });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toContain('GET');
  });
});

describe('GET /sweeps query', () => {
  it('400 naming unknown query parameters', async () => {
    const res = await createApp(ws.deps).request('/sweeps?limit=5&colour=red&sort=x');
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error.message).toContain('colour, sort');
  });
});
