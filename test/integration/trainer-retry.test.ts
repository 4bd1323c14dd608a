/**
 * A trainer killed with SIGKILL mid-trial (as the OOM killer or a kill -9 would) on the local
 * pool: the trial is run again, up to TRIAL_ATTEMPTS in all (as Batch does), and the new attempt
 * resumes from the trial's last per-epoch checkpoint instead of epoch 0. A trainer that dies on
 * every attempt is covered in process-pool-executor.test.ts and trainer-workers.test.ts.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProcessPoolExecutor } from '../../shared/adapters/local/process-pool-executor.js';
import type { ExecutorEvent } from '../../shared/ports/executor.js';
import { getJson } from '../../shared/ports/object-store.js';
import { trialCheckpointPrefix, trialResultKey } from '../../shared/schemas/plan.js';
import { TrialResultSchema } from '../../shared/schemas/trial-result.js';
import { settleSweep } from '../../shared/service/lifecycle.js';
import { createSweep, getSweep } from '../../shared/service/sweeps.js';
import { recordingLogger } from '../helpers/images.js';
import { makeWorkspace } from '../helpers/workspace.js';

const CRASHING_TRAINER = fileURLToPath(new URL('../helpers/crashing-trainer.ts', import.meta.url));
const EPOCHS = 12;
const KILLED_TRIAL = 1;
const KILL_AFTER_EPOCH = 3;

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
beforeEach(async () => {
  ws = await makeWorkspace({ samples: 45 });
  process.env.FOLDSWEEP_TEST_KILL_AFTER_EPOCH = `${KILLED_TRIAL}:${KILL_AFTER_EPOCH}`;
});
afterEach(async () => {
  delete process.env.FOLDSWEEP_TEST_KILL_AFTER_EPOCH;
  await ws.cleanup();
});

describe('ProcessPoolExecutor retries a SIGKILLed trainer', () => {
  it.each(['worker', 'per-trial'] as const)(
    '%s: the trial resumes from its checkpoint on attempt 2 and succeeds',
    async (trainerProcess) => {
      const events: ExecutorEvent[] = [];
      const { logger, records } = recordingLogger();
      const executor = new ProcessPoolExecutor({
        home: ws.home,
        objects: ws.objects,
        state: ws.state,
        concurrency: 1,
        backend: 'wasm',
        trainerProcess,
        trainerEntry: CRASHING_TRAINER,
        logger,
        onEvent: (e) => events.push(e),
        onDrained: async (id) => {
          await settleSweep({ ...ws.deps, executor }, id);
        },
      });
      try {
        const spec = ws.spec({
          searchSpace: { strategy: ['scratch'] },
          training: {
            learningRate: 0.02,
            epochs: EPOCHS,
            batchSize: 8,
            patience: EPOCHS,
            objective: 'val_accuracy',
          },
        });
        const { sweep, plan } = await createSweep({ ...ws.deps, executor }, spec);
        await executor.waitFor(sweep.id);

        const trials = await ws.state.listTrials(sweep.id);
        expect(trials.map((t) => t.status)).toEqual(plan.trials.map(() => 'succeeded'));
        expect(trials[KILLED_TRIAL].attempt).toBe(2);
        const result = TrialResultSchema.parse(
          await getJson(ws.objects, trialResultKey(sweep.id, KILLED_TRIAL)),
        );
        expect(result.attempt).toBe(2);
        expect(result.epochs.map((e) => e.epoch)).toEqual([...Array(EPOCHS).keys()]);

        // Epochs reported for the killed trial: attempt 1 up to the kill, then attempt 2 from
        // after its checkpoint. Epoch 0 (or any epoch) trained twice would show up twice.
        const reported = events
          .filter((e) => e.type === 'epoch' && e.trialIndex === KILLED_TRIAL)
          .map((e) => (e as { epoch: number }).epoch);
        expect(reported.filter((e) => e === 0)).toHaveLength(1);
        for (let i = 1; i < reported.length; i++)
          expect(reported[i]).toBeGreaterThan(reported[i - 1]);
        expect(reported).toContain(KILL_AFTER_EPOCH);
        expect(reported.at(-1)).toBe(EPOCHS - 1);

        const retried = records.filter((r) => /running the trial again/.test(String(r.msg)));
        expect(retried).toHaveLength(1);
        expect(retried[0].obj).toMatchObject({
          trial: KILLED_TRIAL,
          attempt: 1,
          signal: 'SIGKILL',
        });
        // The finished trial's checkpoints are gone; the sweep completed.
        expect(await ws.objects.list(`${trialCheckpointPrefix(sweep.id, KILLED_TRIAL)}/`)).toEqual(
          [],
        );
        expect((await getSweep({ ...ws.deps, executor }, sweep.id)).status).toBe('completed');
      } finally {
        await executor.close();
      }
    },
    180_000,
  );
});
