/**
 * Bundles the deployable entry points with esbuild, one ESM file each (`--format=esm
 * --platform=node --target=node20`, `.mjs` so Node loads them as ESM whatever package.json says):
 * - dist/lambda/{api,aggregator,retrain,prepare}.mjs, each exporting `handler`; infra/ deploys each file
 *   alone as index.mjs, so everything they import is inside them;
 * - dist/trainer/main.mjs, the Batch container's command (trainer/Dockerfile).
 *
 * What is not bundled, and why:
 * - @tensorflow/tfjs-node and @tensorflow/tfjs-node-gpu: native addons that load libtensorflow
 *   from their own folder; backend.ts imports them by a runtime-computed name inside try/catch,
 *   so they are external everywhere. In the trainer image they are installed in node_modules.
 * - the trainer bundle leaves every @tensorflow/* package external: tfjs-node-gpu brings its own
 *   @tensorflow/tfjs, and one engine must serve the backend and the training code (a bundled
 *   copy of tfjs would be a second engine that never sees the GPU backend).
 * - better-sqlite3: a native addon of the local adapters; no AWS bundle reaches it, external so
 *   that one never tries to inline a .node binding.
 * - sharp: a native addon (platform-specific binaries). The Lambda bundles get a stub that throws
 *   a clear error when called: image-folder datasets (and resizing) are prepared where sharp is
 *   installed, IDX data and already prepared datasets work in Lambda. External in the trainer,
 *   which never decodes images.
 * TensorFlow.js in the Lambda bundles: only what each function runs (issue #14 item 9; sizes and
 * cold starts in docs/benchmarks/lambda-bundles.md). The api, aggregator and retrain functions
 * can evaluate a champion (aggregation, its re-drive, a scheduled run's challenger), always on the
 * pure-JS cpu backend: tfjs-node is not in a Lambda, and the wasm backend needs its .wasm files
 * next to node_modules, which a one-file bundle has not. So `@tensorflow/tfjs` is replaced by
 * core + layers + the cpu backend (no webgl, converter or data), and the wasm backend by a stub
 * that fails to load (trainer/backend.ts then falls back to cpu, as it did in Lambda before).
 * The prepare function never evaluates: trainer/evaluate.ts is a stub there, and no tfjs is in
 * it at all. `--tfjs full` builds the old way (the whole package), for the benchmark.
 *
 * Usage: `npm run build` (tsx scripts/build.ts [--outdir dist] [--minify] [--tfjs slim|full])
 * @module
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type BuildOptions, build, type Metafile, type Plugin } from 'esbuild';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const LAMBDA_ENTRIES = {
  api: 'functions/api/lambda.ts',
  aggregator: 'functions/aggregator/lambda.ts',
  retrain: 'functions/retrain/lambda.ts',
  prepare: 'functions/prepare/lambda.ts',
} as const;
export const TRAINER_ENTRY = 'trainer/main.ts';

export const NATIVE_EXTERNALS = [
  '@tensorflow/tfjs-node',
  '@tensorflow/tfjs-node-gpu',
  'better-sqlite3',
] as const;

// CommonJS dependencies inside an ESM bundle still call require(), and read __dirname.
const BANNER = [
  "import { createRequire as __foldsweepCreateRequire } from 'node:module';",
  "import { fileURLToPath as __foldsweepFileURLToPath } from 'node:url';",
  "import { dirname as __foldsweepDirname } from 'node:path';",
  'const require = __foldsweepCreateRequire(import.meta.url);',
  'const __filename = __foldsweepFileURLToPath(import.meta.url);',
  'const __dirname = __foldsweepDirname(__filename);',
].join('\n');

const SHARP_MISSING =
  'sharp (image decoding and resizing) is not part of this Lambda bundle: prepare image-folder ' +
  'datasets, or images that need resizing, with the local CLI (foldsweep run), then refer to ' +
  'the prepared dataset';

/** Replaces `sharp` with a module whose every use throws an error saying what to do. */
export const sharpStub: Plugin = {
  name: 'foldsweep-sharp-stub',
  setup(b) {
    b.onResolve({ filter: /^sharp$/ }, () => ({ path: 'sharp', namespace: 'sharp-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'sharp-stub' }, () => ({
      loader: 'js',
      contents: `export default function sharp() {
  throw new Error(${JSON.stringify(SHARP_MISSING)});
}`,
    }));
  },
};

/** The parts of @tensorflow/tfjs a Lambda function runs: inference on the cpu backend. */
const TFJS_CPU_ONLY = `import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
import '@tensorflow/tfjs-backend-cpu';
import { version_core } from '@tensorflow/tfjs-core';
import { version_layers } from '@tensorflow/tfjs-layers';
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-layers';
export const version = { 'tfjs-core': version_core, 'tfjs-layers': version_layers, 'tfjs-backend-cpu': version_cpu };
`;

const WASM_MISSING =
  'the tfjs wasm backend is not part of this Lambda bundle (no .wasm files next to it): ' +
  'Lambda functions evaluate on the cpu backend';

const EVALUATOR_MISSING =
  'the prepare function does not evaluate models: TensorFlow.js is not part of its bundle';

/**
 * Replaces `@tensorflow/tfjs` by core + layers + cpu and the wasm backend by a module that throws
 * when loaded; with `evaluator: false` also trainer/evaluate.ts by a stub (no tfjs at all).
 */
export function lambdaTfjs(options: { evaluator: boolean }): Plugin {
  return {
    name: 'foldsweep-lambda-tfjs',
    setup(b) {
      b.onResolve({ filter: /^@tensorflow\/tfjs$/ }, () => ({
        path: 'tfjs-cpu-only',
        namespace: 'lambda-tfjs',
      }));
      // Their ES modules, for every importer (layers' CommonJS build requires core too): one
      // copy of the engine, whose gradients and chained ops the lines above register.
      b.onResolve({ filter: /^@tensorflow\/(tfjs-core|tfjs-layers|tfjs-backend-cpu)$/ }, (args) => {
        const pkg = path.join(REPO_ROOT, 'node_modules', args.path);
        const { module } = JSON.parse(readFileSync(path.join(pkg, 'package.json'), 'utf8'));
        return { path: path.join(pkg, module) };
      });
      b.onResolve({ filter: /^@tensorflow\/tfjs-backend-wasm$/ }, () => ({
        path: 'tfjs-backend-wasm',
        namespace: 'lambda-tfjs',
      }));
      if (!options.evaluator) {
        b.onResolve({ filter: /\/trainer\/evaluate\.js$/ }, () => ({
          path: 'evaluate',
          namespace: 'lambda-tfjs',
        }));
      }
      b.onLoad({ filter: /.*/, namespace: 'lambda-tfjs' }, (args) => {
        if (args.path === 'tfjs-cpu-only') {
          return { loader: 'js', contents: TFJS_CPU_ONLY, resolveDir: REPO_ROOT };
        }
        const missing = args.path === 'evaluate' ? EVALUATOR_MISSING : WASM_MISSING;
        return {
          loader: 'js',
          contents: `throw new Error(${JSON.stringify(missing)});\nexport {};`,
        };
      });
    },
  };
}

/** Functions that evaluate champions (aggregation, re-drive, a scheduled run's challenger). */
const EVALUATES: Record<keyof typeof LAMBDA_ENTRIES, boolean> = {
  api: true,
  aggregator: true,
  retrain: true,
  prepare: false,
};

export const common: BuildOptions = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  outExtension: { '.js': '.mjs' },
  banner: { js: BANNER },
  logLevel: 'warning',
  metafile: true,
  absWorkingDir: REPO_ROOT,
};

export interface BuildOutput {
  outdir: string;
  files: { lambda: Record<keyof typeof LAMBDA_ENTRIES, string>; trainer: string };
  metafiles: { lambda: Metafile; trainer: Metafile };
}

/** Builds every bundle into `outdir` (default `<repo>/dist`). */
export async function buildBundles(
  options: { outdir?: string; minify?: boolean; tfjs?: 'slim' | 'full' } = {},
): Promise<BuildOutput> {
  const outdir = path.resolve(REPO_ROOT, options.outdir ?? 'dist');
  await mkdir(outdir, { recursive: true });
  // One build per function: each gets the tfjs it runs (see lambdaTfjs).
  const builds = await Promise.all(
    (Object.keys(LAMBDA_ENTRIES) as (keyof typeof LAMBDA_ENTRIES)[]).map((name) =>
      build({
        ...common,
        minify: options.minify ?? false,
        entryPoints: { [name]: path.join(REPO_ROOT, LAMBDA_ENTRIES[name]) },
        outdir: path.join(outdir, 'lambda'),
        external: [...NATIVE_EXTERNALS],
        plugins:
          options.tfjs === 'full'
            ? [sharpStub]
            : [sharpStub, lambdaTfjs({ evaluator: EVALUATES[name] })],
      }),
    ),
  );
  const lambda = { metafile: mergeMetafiles(builds.map((b) => b.metafile as Metafile)) };
  const trainer = await build({
    ...common,
    minify: options.minify ?? false,
    entryPoints: { main: path.join(REPO_ROOT, TRAINER_ENTRY) },
    outdir: path.join(outdir, 'trainer'),
    external: [...NATIVE_EXTERNALS, '@tensorflow/*', 'sharp'],
  });
  const files = {
    lambda: Object.fromEntries(
      Object.keys(LAMBDA_ENTRIES).map((name) => [name, path.join(outdir, 'lambda', `${name}.mjs`)]),
    ) as Record<keyof typeof LAMBDA_ENTRIES, string>,
    trainer: path.join(outdir, 'trainer', 'main.mjs'),
  };
  return {
    outdir,
    files,
    metafiles: { lambda: lambda.metafile as Metafile, trainer: trainer.metafile as Metafile },
  };
}

function mergeMetafiles(metafiles: Metafile[]): Metafile {
  return {
    inputs: Object.assign({}, ...metafiles.map((m) => m.inputs)),
    outputs: Object.assign({}, ...metafiles.map((m) => m.outputs)),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { outdir: { type: 'string' }, minify: { type: 'boolean' }, tfjs: { type: 'string' } },
  });
  if (values.tfjs !== undefined && values.tfjs !== 'slim' && values.tfjs !== 'full') {
    throw new Error(`--tfjs must be slim or full, not '${values.tfjs}'`);
  }
  const started = Date.now();
  const out = await buildBundles({
    outdir: values.outdir,
    minify: values.minify,
    tfjs: values.tfjs as 'slim' | 'full' | undefined,
  });
  for (const file of [...Object.values(out.files.lambda), out.files.trainer]) {
    console.log(`  ${path.relative(REPO_ROOT, file)}`);
  }
  console.log(`built in ${Date.now() - started} ms`);
}
