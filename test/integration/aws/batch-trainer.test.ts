import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_RETRY_RULES, evaluateOnExit } from '../../../shared/adapters/aws/batch-retry.js';
import { getJson } from '../../../shared/ports/object-store.js';
import { type Plan, planKey, trialResultKey } from '../../../shared/schemas/plan.js';
import { TrialResultSchema } from '../../../shared/schemas/trial-result.js';
import { createSweep } from '../../../shared/service/sweeps.js';
import { EXIT } from '../../../trainer/config.js';
import { makeWorkspace } from '../../helpers/workspace.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const TRAINER = fileURLToPath(new URL('../../../trainer/main.ts', import.meta.url));

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
let plan: Plan;

beforeAll(async () => {
  ws = await makeWorkspace({ samples: 30 });
  ({ plan } = await createSweep(ws.deps, ws.spec({ folds: 2 })));
});

afterAll(async () => {
  await ws.cleanup();
});

/** Runs the trainer entry point as a container would, with `env` on top of the trial's. */
function runTrainer(trialIndex: number, env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', TRAINER], {
      cwd: REPO,
      env: {
        PATH: process.env.PATH ?? '',
        FOLDSWEEP_HOME: ws.home,
        FOLDSWEEP_PLAN_KEY: planKey(plan.sweepId),
        FOLDSWEEP_TRIAL_INDEX: String(trialIndex),
        FOLDSWEEP_BACKEND: 'wasm',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const resultOf = async (trialIndex: number) =>
  TrialResultSchema.parse(await getJson(ws.objects, trialResultKey(plan.sweepId, trialIndex)));

describe('the trainer as a Batch container', () => {
  it('logs where it reads and writes, and its backend, as JSON lines', async () => {
    const run = await runTrainer(0);

    expect(run.code).toBe(EXIT.ok);
    const lines = run.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string; storage?: string; backend?: string });
    expect(lines.find((l) => l.msg === 'trainer starting')).toMatchObject({ storage: 'fs' });
    expect(lines.find((l) => l.msg === 'tensorflow backend selected')).toMatchObject({
      backend: 'wasm',
    });
    expect(lines.filter((l) => l.msg === 'epoch').length).toBeGreaterThan(0);
  });

  it('does not train again a trial that already succeeded (a retry after the result was written)', async () => {
    const before = await resultOf(0);

    const run = await runTrainer(0, { FOLDSWEEP_ATTEMPT: '2' });

    expect(run.code).toBe(EXIT.ok);
    expect(run.stdout).toContain('trial already succeeded');
    expect(await resultOf(0)).toEqual(before);
  });

  it('refuses to train without a GPU when FOLDSWEEP_REQUIRE_GPU is set; Batch does not retry it', async () => {
    const run = await runTrainer(1, { FOLDSWEEP_REQUIRE_GPU: 'true' });

    expect(run.code).toBe(EXIT.config);
    expect(evaluateOnExit(BATCH_RETRY_RULES, { exitCode: run.code ?? undefined })).toBe('EXIT');
    const result = await resultOf(1);
    expect(result).toMatchObject({ status: 'failed', objective: null });
    expect(result.reason).toMatch(
      /FOLDSWEEP_REQUIRE_GPU is set but training would run on .* without a GPU/,
    );
  });
});
