import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../../shared/errors.js';
import { createSweep, getSweep } from '../../../../shared/service/sweeps.js';
import { writeImage } from '../../../helpers/images.js';
import { makeWorkspace, type RecordingExecutor } from '../../../helpers/workspace.js';

let ws: Awaited<ReturnType<typeof makeWorkspace>>;
beforeEach(async () => {
  ws = await makeWorkspace();
});
afterEach(async () => {
  await ws.cleanup();
});

/** Asserts the call fails with a ValidationError naming `path`, and that nothing was stored. */
async function expectRejected(input: unknown, path: string | RegExp, message?: RegExp) {
  const before = await ws.objects.list('sweeps/');
  const error = await createSweep(ws.deps, input).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  const issues = (error as ValidationError).issues;
  expect(issues.some((i) => (typeof path === 'string' ? i.path === path : path.test(i.path)))).toBe(
    true,
  );
  if (message) expect((error as Error).message).toMatch(message);
  // A spec that does not parse stores nothing; one rejected while preparing (model, data) stays
  // as a failed sweep carrying the same issues, so that GET /sweeps/:id can say why.
  const stored = await ws.state.listSweeps();
  expect(stored.length).toBeLessThanOrEqual(1);
  for (const sweep of stored) {
    expect(sweep.status).toBe('failed');
    expect(sweep.issues).toEqual(issues);
    expect(await ws.state.listTrials(sweep.id)).toEqual([]);
  }
  expect(await ws.objects.list('sweeps/')).toEqual(before);
  expect((ws.executor as RecordingExecutor).submitted).toHaveLength(0);
  return error as ValidationError;
}

describe('createSweep()', () => {
  it('plans, stores and submits a valid sweep', async () => {
    const { sweep, plan } = await createSweep(ws.deps, ws.spec());
    expect(sweep.status).toBe('running');
    expect(plan.variants.map((v) => v.strategy)).toEqual(['finetune', 'finetune', 'scratch']);
    expect(plan.trials).toHaveLength(9);
    expect(await ws.objects.exists(`sweeps/${sweep.id}/plan.json`)).toBe(true);
    expect((ws.executor as RecordingExecutor).submitted.map((p) => p.sweepId)).toEqual([sweep.id]);
    const view = await getSweep(ws.deps, sweep.id);
    expect(view.progress).toMatchObject({ trialsTotal: 9, pending: 9, succeeded: 0, fraction: 0 });
  });

  it('reuses the prepared dataset of an earlier sweep on the same data', async () => {
    const first = await createSweep(ws.deps, ws.spec());
    const second = await createSweep(ws.deps, ws.spec({ seed: 2 }));
    expect(second.plan.dataset.hash).toBe(first.plan.dataset.hash);
    expect(ws.logs.filter((r) => r.obj.reused === 'source')).toHaveLength(1);
  });

  it('rejects an unknown field', async () => {
    await expectRejected({ ...ws.spec(), learning_rate: 0.1 }, 'learning_rate', /unknown field/);
  });

  it('rejects negative and missing values, naming each field', async () => {
    const error = await expectRejected(
      { ...ws.spec(), folds: -1, training: { epochs: 0 }, baseModel: undefined },
      'folds',
    );
    const paths = error.issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['folds', 'training.epochs', 'baseModel']));
  });

  it('rejects k larger than the smallest class', async () => {
    await expectRejected(ws.spec({ folds: 20, holdoutFraction: 0.2 }), 'folds', /smallest class/);
  });

  it('rejects a freezeDepth beyond the model layers', async () => {
    await expectRejected(
      ws.spec({ searchSpace: { freezeDepth: [1, 9], lrMultiplier: [0.1] } }),
      'searchSpace.freezeDepth.1',
      /beyond the base model's 5 layers/,
    );
  });

  it('plans finetune, bottleneck-linear and scratch variants with a cut layer', async () => {
    const { plan } = await createSweep(
      ws.deps,
      ws.spec({
        model: { cutLayer: 'gap', head: { dropout: 0.2 } },
        searchSpace: {
          strategy: ['finetune', 'bottleneck-linear', 'scratch'],
          freezeDepth: [2, 'gap'],
          lrMultiplier: [1],
          svmC: [0.1, 1],
          augment: [false, true],
        },
      }),
    );
    expect(plan.cutLayer).toBe('gap');
    expect(plan.variants.map((v) => [v.strategy, v.freezeDepth])).toEqual([
      ['finetune', 2],
      ['finetune', 2],
      ['finetune', 4],
      ['finetune', 4],
      ['bottleneck-linear', 4],
      ['bottleneck-linear', 4],
      ['scratch', 0],
      ['scratch', 0],
    ]);
  });

  it('rejects a cut layer the base model does not have, listing the ones it has', async () => {
    await expectRejected(
      ws.spec({ model: { cutLayer: 'fc9' } }),
      'model.cutLayer',
      /'fc9' names no layer .*use one of conv1, pool1, conv2, gap, fc1/,
    );
  });

  it('rejects a freezeDepth naming no layer up to the cut', async () => {
    await expectRejected(
      ws.spec({ model: { cutLayer: 'conv2' }, searchSpace: { freezeDepth: ['fc1'] } }),
      'searchSpace.freezeDepth.0',
      /'fc1' names none of .* up to the cut layer 'conv2'/,
    );
  });

  it('rejects a strategy parameter no listed strategy uses', async () => {
    await expectRejected(
      ws.spec({ searchSpace: { strategy: ['finetune'], svmC: [1] } }),
      'searchSpace.svmC',
      /applies only to bottleneck-linear, which searchSpace.strategy does not list/,
    );
  });

  it('rejects an SVM C of 0 and augmentation out of bounds, naming each field', async () => {
    const error = await expectRejected(
      ws.spec({
        searchSpace: { strategy: ['bottleneck-linear', 'scratch'], svmC: [0], augment: [true] },
        augmentation: { rotationDegrees: 270 },
      }),
      'searchSpace.svmC.0',
    );
    expect(error.issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(['searchSpace.svmC.0', 'augmentation.rotationDegrees']),
    );
  });

  it('rejects a dataset path that does not exist', async () => {
    await expectRejected(
      ws.spec({ dataset: { uri: join(ws.dir, 'nope-images-idx3-ubyte'), format: 'idx' } }),
      /^dataset/,
      /nope-images-idx3-ubyte/,
    );
  });

  it('rejects a corrupt image and names the file', async () => {
    const root = join(ws.dir, 'folder');
    const img = { width: 8, height: 8, channels: 1 as const, pixels: new Uint8Array(64).fill(90) };
    for (const cls of ['a', 'b']) {
      for (let i = 0; i < 4; i++) await writeImage(join(root, cls, `${i}.png`), img);
    }
    await writeFile(join(root, 'b', 'broken.png'), 'this is not a png');
    await expectRejected(
      ws.spec({ dataset: { uri: root, format: 'image-folder' } }),
      /^dataset/,
      /broken\.png/,
    );
  });

  it('rejects a model file that is not a layers model', async () => {
    const dir = join(ws.dir, 'graph-model');
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'model.json'),
      JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] }),
    );
    await expectRejected(
      ws.spec({ baseModel: join(dir, 'model.json') }),
      'baseModel',
      /layers-model|layers model/,
    );
  });

  it('rejects a model whose weights file is missing', async () => {
    const dir = join(ws.dir, 'no-weights');
    await mkdir(dir, { recursive: true });
    await copyFile(ws.modelPath, join(dir, 'model.json'));
    await expectRejected(
      ws.spec({ baseModel: join(dir, 'model.json') }),
      'baseModel',
      /weights\.bin/,
    );
  });

  it('leaves earlier sweeps untouched when a later spec is bad', async () => {
    const { sweep } = await createSweep(ws.deps, ws.spec());
    const planBefore = await ws.objects.get(`sweeps/${sweep.id}/plan.json`);
    await expect(createSweep(ws.deps, ws.spec({ folds: 1 }))).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect((await ws.state.listSweeps()).map((s) => s.id)).toEqual([sweep.id]);
    expect(await ws.objects.get(`sweeps/${sweep.id}/plan.json`)).toEqual(planBefore);
  });
});
