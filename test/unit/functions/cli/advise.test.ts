import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adviseCommand } from '../../../../functions/cli/advise.js';
import { resolveSpecPaths } from '../../../../functions/cli/files.js';
import { localDeps } from '../../../../functions/deps/local.js';
import { ValidationError } from '../../../../shared/errors.js';
import { planSweep } from '../../../../shared/planner/plan-sweep.js';
import { SweepSpecSchema } from '../../../../shared/schemas/sweep-spec.js';
import { makeTempDir, type TempDir, writeIdxPair } from '../../../helpers/images.js';
import { bandImages } from '../../../helpers/tiny-model.js';
import { writeTinyModel } from '../../../helpers/workspace.js';

function sink() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

let tmp: TempDir;
let model: string;
let images: string;
let home: string;

beforeAll(async () => {
  tmp = await makeTempDir();
  model = await writeTinyModel(join(tmp.path, 'model'), 4);
  // 4 label values, 30 images each; the advice is asked for 3 of them.
  const { pixels, labels } = bandImages(120, 4);
  images = (
    await writeIdxPair(join(tmp.path, 'data'), {
      labels: Array.from(labels),
      rows: 8,
      cols: 8,
      pixels,
    })
  ).imagesFile;
  home = join(tmp.path, 'home');
});
afterAll(() => tmp.cleanup());

const makeDeps = (o: { home?: string }) => localDeps({ home: o.home ?? home });

async function advise(args: string[]) {
  const out = sink();
  const err = sink();
  const code = await adviseCommand(args, makeDeps, out.stream, err.stream);
  return { code, out: out.text(), err: err.text() };
}

describe('foldsweep advise', () => {
  it('probes the model, explains the advice and writes a spec the planner accepts', async () => {
    const specFile = join(tmp.path, 'specs', 'advised.json');
    const { code, out } = await advise([
      images,
      model,
      '--classes',
      '0,1,2',
      '--class-names',
      'top,upper,lower,bottom',
      '--home',
      home,
      '--seed',
      '4',
      '--name',
      'bands',
      '--out',
      specFile,
    ]);
    expect(code).toBe(0);
    expect(out).toMatch(/Linear probe of the base model's features:\n {2}fc1 .*\n {2}pool1 /);
    expect(out).toMatch(/90 images: under ~1,000,? .*bottleneck-linear/);
    expect(out).toMatch(/The sweep: \d+ variants x 5 folds = \d+ trials/);
    expect(out).toContain(`wrote ${specFile}`);

    const written = JSON.parse(await readFile(specFile, 'utf8'));
    expect(written.name).toBe('bands');
    expect(written.dataset.subset).toEqual({ classes: [0, 1, 2], seed: 4 });
    expect(written.dataset.classNames).toEqual(['top', 'upper', 'lower', 'bottom']);
    // Paths in the spec resolve back to the files given (relative only inside the working tree).
    const resolved = SweepSpecSchema.parse(resolveSpecPaths(written, join(tmp.path, 'specs')));
    expect(resolved.baseModel).toBe(model);
    expect(resolved.dataset.uri).toBe(images);

    // The planner accepts it against the real artifacts (freezeDepth names exist, folds fit).
    const deps = makeDeps({});
    try {
      const base = await deps.models.importBaseModel(resolved.baseModel, 'baseModel');
      const dataset = await deps.datasets.prepare(resolved.dataset, base.inputShape, 'dataset');
      const plan = planSweep({
        sweepId: 'advised',
        createdAt: new Date().toISOString(),
        spec: resolved,
        dataset,
        labels: await deps.objects.get(dataset.labelsKey),
        baseModel: base,
      });
      expect(plan.trials.length).toBe(plan.variants.length * resolved.folds);
      expect(plan.variants.some((v) => v.strategy === 'bottleneck-linear')).toBe(true);
      // freezeDepth 0, and pool1 (the tiny CNN's early layer, depth 2) unless the probe of
      // this untrained base is too weak for freezing to make sense.
      const depths = new Set(
        plan.variants.filter((v) => v.strategy === 'finetune').map((v) => v.freezeDepth),
      );
      expect(depths.has(0)).toBe(true);
      expect([...depths].every((d) => d === 0 || d === 2)).toBe(true);
      expect(depths.has(2)).toBe(!out.includes('domains look far apart'));
    } finally {
      await deps.close();
    }
  });

  it('prints only the spec JSON on stdout, the prose on stderr, when no --out is given', async () => {
    const { code, out, err } = await advise([images, model, '--classes', '1,2,3', '--home', home]);
    expect(code).toBe(0);
    expect(SweepSpecSchema.parse(JSON.parse(out)).dataset.uri).toBe(images);
    expect(err).toContain('Recommendation:');
  });

  it('never overwrites an existing file without --force', async () => {
    const specFile = join(tmp.path, 'keep.json');
    await writeFile(specFile, '{"mine": true}\n');
    await expect(advise([images, model, '--out', specFile, '--home', home])).rejects.toThrow(
      /--out: .*keep\.json exists: choose another file or pass --force/,
    );
    expect(await readFile(specFile, 'utf8')).toBe('{"mine": true}\n');
    const forced = await advise([images, model, '--out', specFile, '--force', '--home', home]);
    expect(forced.code).toBe(0);
    expect(JSON.parse(await readFile(specFile, 'utf8')).baseModel).toBeDefined();
  });

  it('names the argument that is wrong', async () => {
    await expect(advise([images])).rejects.toThrow(
      /<dataset> <model>: give a dataset and a base model/,
    );
    await expect(advise([join(tmp.path, 'nope.gz'), model])).rejects.toThrow(
      /<dataset>: .*nope\.gz does not exist/,
    );
    await expect(
      advise([images, join(tmp.path, 'missing', 'model.json'), '--home', home]),
    ).rejects.toThrow(/model: .*does not exist: give the path of a tfjs layers model.json/);
    await expect(advise([images, model, '--classes', '1,x'])).rejects.toThrow(
      /--classes: 'x' is not a label value/,
    );
    await expect(advise([images, model, '--classes', '0,9', '--home', home])).rejects.toThrow(
      ValidationError,
    );
    expect(existsSync(join(tmp.path, 'specs', 'none.json'))).toBe(false);
  });
});
