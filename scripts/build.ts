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
 * The Lambda bundles include @tensorflow/tfjs (pure JS): the aggregator evaluates champions on
 * the pure-JS cpu backend (the wasm backend needs its .wasm files next to node_modules).
 *
 * Usage: `npm run build` (tsx scripts/build.ts [--outdir dist] [--minify])
 * @module
 */
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

const common: BuildOptions = {
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
  options: { outdir?: string; minify?: boolean } = {},
): Promise<BuildOutput> {
  const outdir = path.resolve(REPO_ROOT, options.outdir ?? 'dist');
  await mkdir(outdir, { recursive: true });
  const lambda = await build({
    ...common,
    minify: options.minify ?? false,
    entryPoints: Object.fromEntries(
      Object.entries(LAMBDA_ENTRIES).map(([name, entry]) => [name, path.join(REPO_ROOT, entry)]),
    ),
    outdir: path.join(outdir, 'lambda'),
    external: [...NATIVE_EXTERNALS],
    plugins: [sharpStub],
  });
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

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { outdir: { type: 'string' }, minify: { type: 'boolean' } },
  });
  const started = Date.now();
  const out = await buildBundles({ outdir: values.outdir, minify: values.minify });
  for (const file of [...Object.values(out.files.lambda), out.files.trainer]) {
    console.log(`  ${path.relative(REPO_ROOT, file)}`);
  }
  console.log(`built in ${Date.now() - started} ms`);
}
