import { request } from 'node:http';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startServer } from '../../functions/api/node.js';
import { makeWorkspace } from '../helpers/workspace.js';

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
beforeEach(async () => {
  ws = await makeWorkspace();
});
afterEach(async () => {
  await ws.cleanup();
});

const MB = 1024 * 1024;

/**
 * Streams up to `total` bytes (chunked, no Content-Length) to POST /sweeps and resolves with the
 * status as soon as the server answers, stopping the upload there.
 */
function streamBody(port: number, total: number) {
  return new Promise<{ status: number; sent: number }>((resolve, reject) => {
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    let answered = false;
    const req = request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/sweeps',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    });
    req.on('response', (res) => {
      answered = true;
      res.resume();
      resolve({ status: res.statusCode ?? 0, sent });
      req.destroy();
    });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    const pump = () => {
      while (!answered && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!answered) req.end();
    };
    pump();
  });
}

it('a 200 MB streamed body gets 413 without the server buffering it', async () => {
  const server = await startServer(ws.deps, { port: 0 });
  try {
    global.gc?.();
    const before = process.memoryUsage().rss;
    const { status, sent } = await streamBody(server.port, 200 * MB);
    const after = process.memoryUsage().rss;
    process.stdout.write(
      `body-limit: rss before ${(before / MB).toFixed(1)} MB, after ${(after / MB).toFixed(1)} MB, sent ${(sent / MB).toFixed(1)} MB before the 413\n`,
    );
    expect(status).toBe(413);
    expect(after).toBeLessThan(200 * MB);
    expect(after - before).toBeLessThan(50 * MB);
  } finally {
    await server.close();
  }
}, 60_000);
