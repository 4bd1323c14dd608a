/**
 * `foldsweep advise <dataset> <model>`: recommends a sweep for a dataset and a base model from the
 * dataset's size per class and a quick linear probe of the model's features, prints why, and can
 * write the recommended spec to a file. Bad input throws ValidationError (main.ts: exit 2).
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ValidationError } from '../../shared/errors.js';
import type { ProbeResult } from '../../shared/ports/artifacts.js';
import type { DatasetRefInput } from '../../shared/schemas/dataset.js';
import { type AdviseDeps, adviseSweep } from '../../shared/service/advise.js';
import { positiveInt, readJsonFile, resolveSpecPaths } from './files.js';

export const ADVISE_USAGE = `Usage:
  foldsweep advise <dataset> <model.json> [options]

<dataset> is an IDX images file (labels next to it, or --labels), a folder with one sub-folder
of images per class, or a JSON file holding a dataset reference ({ "uri", "format", ... }).

Options:
  --classes 5,6,7      IDX: keep only these label values
  --per-class N        use a seeded sample of N images per class
  --class-names a,b,.. IDX: names of label values 0..n-1
  --labels FILE        IDX: the labels file (default: the images file's name with labels-idx1)
  --test-set FILE      a separate test split (same kind as <dataset>, same --classes/--class-names)
  --probe-per-class N  images per class the linear probe samples (default 60)
  --seed N             seeds the probe, the subset and the recommended sweep (default 0)
  --name NAME          the recommended sweep's name
  --out FILE           write the recommended spec to FILE (refused if it exists, unless --force)
  --json               print one JSON document on stdout ({ spec, probes, reasons, warnings,
                       variants, trials, out }); progress and prose go to stderr
  --home DIR           where the prepared data is kept (default FOLDSWEEP_HOME or ./.foldsweep)

Example:
  foldsweep advise /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \\
    examples/fashion-mnist/base-model/model.json --classes 5,6,7,8,9 --per-class 60 --out sweep.json
  foldsweep run sweep.json
`;

export type AdviseDepsFactory = (options: { home?: string }) => AdviseDeps & {
  close(): Promise<void>;
};

const list = (text: string | undefined) => text?.split(',').map((s) => s.trim());

function labelValues(text: string | undefined): number[] | undefined {
  return list(text)?.map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) {
      throw ValidationError.single('--classes', `'${s}' is not a label value (integer >= 0)`);
    }
    return n;
  });
}

/** A dataset reference from a path on the command line and the subset flags. */
async function datasetRef(
  path: string,
  field: string,
  flags: {
    classes?: number[];
    perClass?: number;
    seed?: number;
    classNames?: string[];
    labels?: string;
  },
): Promise<DatasetRefInput> {
  if (path.endsWith('.json')) {
    return (await readJsonFile(path, field, (json, dir) => {
      const fixed = resolveSpecPaths({ dataset: json }, dir) as { dataset: unknown };
      return fixed.dataset;
    })) as DatasetRefInput;
  }
  const absolute = resolve(path);
  if (!existsSync(absolute)) {
    throw ValidationError.single(
      field,
      `${absolute} does not exist: give an IDX images file, a folder of class folders, or a dataset JSON`,
    );
  }
  const folder = statSync(absolute).isDirectory();
  const subset =
    flags.classes || flags.perClass
      ? {
          ...(flags.classes ? { classes: flags.classes } : {}),
          ...(flags.perClass ? { perClass: flags.perClass } : {}),
          seed: flags.seed ?? 0,
        }
      : undefined;
  return {
    uri: absolute,
    format: folder ? 'image-folder' : 'idx',
    ...(flags.labels && !folder ? { labelsUri: resolve(flags.labels) } : {}),
    ...(flags.classNames && !folder ? { classNames: flags.classNames } : {}),
    ...(subset ? { subset } : {}),
  };
}

/** Local paths of a spec rewritten relative to `dir`, where the spec file will be. */
function relativeTo(dir: string, spec: Record<string, unknown>): Record<string, unknown> {
  // Relative (portable with the project) only when both the file and the spec are in the
  // working directory's tree; system paths such as /usr/share/datasets stay absolute.
  const inCwd = (p: string) => !relative(process.cwd(), p).startsWith('..');
  const rel = (p: unknown) =>
    typeof p === 'string' && isAbsolute(p) && inCwd(p) && inCwd(dir) ? relative(dir, p) || '.' : p;
  const out: Record<string, unknown> = { ...spec, baseModel: rel(spec.baseModel) };
  for (const key of ['dataset', 'testSet']) {
    const ref = spec[key] as Record<string, unknown> | undefined;
    if (!ref) continue;
    out[key] = {
      ...ref,
      uri: rel(ref.uri),
      ...(ref.labelsUri !== undefined ? { labelsUri: rel(ref.labelsUri) } : {}),
    };
  }
  return out;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function probeTable(probes: readonly ProbeResult[]): string {
  return probes
    .map(
      (p) =>
        `  ${p.cutLayer.padEnd(12)} ${pct(p.accuracy).padStart(6)} (chance ${pct(p.chance)}; ${p.featureDim} features, ${p.trainSamples} train / ${p.valSamples} scored images, ${p.seconds.toFixed(1)} s)`,
    )
    .join('\n');
}

/**
 * Runs `foldsweep advise ...`; returns the exit code.
 * @example
 * process.exitCode = await adviseCommand(['data/', 'model.json', '--out', 'sweep.json'], (o) => localDeps(o));
 */
export async function adviseCommand(
  args: string[],
  makeDeps: AdviseDepsFactory,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      classes: { type: 'string' },
      'per-class': { type: 'string' },
      'class-names': { type: 'string' },
      labels: { type: 'string' },
      'test-set': { type: 'string' },
      'probe-per-class': { type: 'string' },
      seed: { type: 'string' },
      name: { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean', default: false },
      home: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    out.write(ADVISE_USAGE);
    return 0;
  }
  if (positionals.length !== 2) {
    throw ValidationError.single(
      '<dataset> <model>',
      `give a dataset and a base model: foldsweep advise <dataset> <model.json> (got ${positionals.length} argument(s))`,
    );
  }
  const outFile = values.out === undefined ? undefined : resolve(values.out);
  if (outFile && existsSync(outFile) && !values.force) {
    throw ValidationError.single(
      '--out',
      `${outFile} exists: choose another file or pass --force to overwrite it`,
    );
  }
  const seedFlag = values.seed === undefined ? undefined : Number(values.seed);
  if (seedFlag !== undefined && (!Number.isInteger(seedFlag) || seedFlag < 0)) {
    throw ValidationError.single('--seed', `must be an integer >= 0, got '${values.seed}'`);
  }
  const flags = {
    classes: labelValues(values.classes),
    perClass: positiveInt('per-class', values['per-class']),
    seed: seedFlag,
    classNames: list(values['class-names']),
    labels: values.labels,
  };
  const [datasetPath, modelPath] = positionals;
  const dataset = await datasetRef(datasetPath, '<dataset>', flags);
  const testSet =
    values['test-set'] === undefined
      ? undefined
      : await datasetRef(values['test-set'], '--test-set', {
          ...flags,
          perClass: undefined,
          labels: undefined,
        });
  const deps = makeDeps({ home: values.home });
  try {
    err.write('preparing the dataset and probing the base model ...\n');
    const advice = await adviseSweep(deps, {
      dataset,
      testSet,
      baseModel: resolve(modelPath),
      probePerClass: positiveInt('probe-per-class', values['probe-per-class']),
      seed: seedFlag,
      name: values.name,
    });
    // Without --out (or with --json) stdout carries only JSON (pipe it to a file); prose: stderr.
    const prose = outFile && !values.json ? out : err;
    prose.write(`Linear probe of the base model's features:\n${probeTable(advice.probes)}\n\n`);
    prose.write(`Recommendation:\n${advice.reasons.map((r) => `  - ${r}`).join('\n')}\n\n`);
    if (advice.warnings.length > 0) {
      prose.write(`Check:\n${advice.warnings.map((w) => `  - ${w}`).join('\n')}\n\n`);
    }
    const folds = advice.spec.folds;
    prose.write(
      `The sweep: ${advice.variants} variants x ${folds} folds = ${advice.trials} trials.\n`,
    );
    if (outFile) {
      const spec = relativeTo(dirname(outFile), advice.spec as Record<string, unknown>);
      try {
        await mkdir(dirname(outFile), { recursive: true });
        await writeFile(outFile, `${JSON.stringify(spec, null, 2)}\n`);
      } catch (cause) {
        throw ValidationError.single(
          '--out',
          `cannot write ${outFile}: ${(cause as Error).message}`,
          cause,
        );
      }
      if (!values.json) out.write(`wrote ${outFile}; run it with: foldsweep run ${values.out}\n`);
    }
    if (values.json) {
      const doc = {
        spec: advice.spec,
        probes: advice.probes,
        reasons: advice.reasons,
        warnings: advice.warnings,
        variants: advice.variants,
        trials: advice.trials,
        out: outFile ?? null,
      };
      out.write(`${JSON.stringify(doc, null, 2)}\n`);
    } else if (!outFile) {
      out.write(`${JSON.stringify(advice.spec, null, 2)}\n`);
    }
    return 0;
  } finally {
    await deps.close();
  }
}
