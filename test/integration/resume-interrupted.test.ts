import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type LocalDeps, localDeps } from '../../functions/deps/local.js';
import type { ExecutorEvent } from '../../shared/ports/executor.js';
import { createSweep, getSweep } from '../../shared/service/sweeps.js';
import { recordingLogger } from '../helpers/images.js';
import { makeWorkspace, RecordingExecutor } from '../helpers/workspace.js';

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
let deps: LocalDeps | undefined;
const events: ExecutorEvent[] = [];

beforeEach(async () => {
  ws = await makeWorkspace({ samples: 45 });
  events.length = 0;
});
afterEach(async () => {
  await deps?.close();
  deps = undefined;
  await ws.cleanup();
});

/** A fresh "process": local deps on the same FOLDSWEEP_HOME. */
function restart() {
  deps = localDeps({
    home: ws.home,
    concurrency: 2,
    backend: 'wasm',
    logger: recordingLogger().logger,
    onEvent: (e) => events.push(e),
  });
  return deps;
}

describe('LocalDeps.adoptOrphans()', () => {
  it('runs only the trials an earlier process did not finish, then aggregates', async () => {
    // A process created the sweep and ran every trial but the last one, then died.
    const spec = ws.spec({
      searchSpace: { strategy: ['finetune'], freezeDepth: [0], lrMultiplier: [1] },
    });
    const first = restart();
    const { sweep, plan } = await createSweep(first, spec);
    await first.executor.waitFor(sweep.id);
    const last = plan.trials.length - 1;
    const trials = await first.state.listTrials(sweep.id);
    await first.state.putTrial({ ...trials[last], status: 'pending', objective: null });
    await first.state.updateSweep(sweep.id, {
      status: 'running',
      updatedAt: new Date().toISOString(),
    });
    await first.close();
    events.length = 0;

    const second = restart();
    expect(await second.adoptOrphans()).toEqual([sweep.id]);
    await second.executor.waitFor(sweep.id);

    const started = events.filter((e) => e.type === 'trial-started').map((e) => e.trialIndex);
    expect(started).toEqual([last]);
    const view = await getSweep(second, sweep.id);
    expect(view.status).toBe('completed');
    expect(view.progress.succeeded).toBe(plan.trials.length);
    expect(await second.state.getChampion(sweep.id)).toBeDefined();
  }, 120_000);

  it('starts the trials of a sweep whose process died before running any', async () => {
    const { sweep, plan } = await createSweep(
      { ...ws.deps, executor: new RecordingExecutor() },
      ws.spec({ searchSpace: { strategy: ['scratch'] } }),
    );
    const d = restart();
    expect(await d.adoptOrphans()).toEqual([sweep.id]);
    await d.executor.waitFor(sweep.id);
    expect(events.filter((e) => e.type === 'trial-started')).toHaveLength(plan.trials.length);
    expect((await getSweep(d, sweep.id)).status).toBe('completed');
    // Nothing left to resume.
    expect(await restart().adoptOrphans()).toEqual([]);
  }, 120_000);
});
