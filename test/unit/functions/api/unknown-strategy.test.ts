import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../../../functions/api/app.js';
import { makeWorkspace } from '../../../helpers/workspace.js';

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
let app: ReturnType<typeof createApp>;
beforeEach(async () => {
  ws = await makeWorkspace();
  app = createApp(ws.deps);
});
afterEach(async () => {
  await ws.cleanup();
});

describe('POST /sweeps with an unknown strategy', () => {
  it('answers 400 with an issue on searchSpace.strategy.N naming it, and stores nothing', async () => {
    // Prepare
    const spec = { ...ws.spec(), searchSpace: { strategy: ['finetune', 'distill'] } };

    // Act
    const res = await app.request('/sweeps', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(spec),
    });

    // Assess
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { issues: { path: string; message: string }[] } };
    expect(body.error.issues).toEqual([
      {
        path: 'searchSpace.strategy.1',
        message: 'unknown strategy "distill": use one of finetune, bottleneck-linear, scratch',
      },
    ]);
    expect(await ws.state.listSweeps()).toEqual([]);
  });
});
