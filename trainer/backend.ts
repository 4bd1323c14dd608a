/**
 * Picks the fastest TensorFlow.js backend this process can load.
 *
 * Order for 'auto': `@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node` (both optional
 * dependencies whose install script downloads libtensorflow; they may be missing or broken, so
 * they are only ever loaded by dynamic import inside try/catch), then `@tensorflow/tfjs-backend-wasm`
 * (SIMD on, threads off in Node; the gradient kernels it lacks are registered from
 * ./wasm-kernels.ts), then the pure-JS 'cpu' backend.
 *
 * Results are memoised per backend: calling again returns the same object, and re-activates that
 * backend in the engine if another call switched away from it.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tfjs from '@tensorflow/tfjs';
import { registerWasmGradientKernels } from './wasm-kernels.js';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export type BackendPreference = 'auto' | BackendName;

import type { Tf } from './tf.js';

export type { Tf };

export interface SelectedBackend {
  name: BackendName;
  tf: Tf;
  /** Human-readable description: package, engine backend name, flags. */
  detail: string;
}

export interface SelectBackendOptions {
  prefer?: BackendPreference;
  logger?: { info(o: object, msg?: string): void };
}

const AUTO_ORDER: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

const PACKAGE_OF: Record<BackendName, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs (backend-cpu)',
};

/** The name the tfjs engine knows each backend by. */
const ENGINE_NAME: Record<BackendName, string> = {
  'tensorflow-gpu': 'tensorflow',
  tensorflow: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

const loaded = new Map<BackendName, Promise<SelectedBackend>>();
let autoChoice: Promise<SelectedBackend> | undefined;

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? String(err);
  if (err && typeof err === 'object' && 'message' in err) return String(err.message);
  return String(err);
}

/**
 * How to get each backend. tfjs-node(-gpu) are optional dependencies whose install script
 * downloads libtensorflow: where that download fails (no network, a proxy, an unsupported
 * platform) npm drops them silently, so a machine may well have only wasm and cpu.
 */
export const INSTALL_HINT: Record<BackendName, string> = {
  'tensorflow-gpu':
    'install it with `npm install @tensorflow/tfjs-node-gpu@4.22.0` on a Linux x64 machine with ' +
    'CUDA 11.2 and cuDNN 8.1 where its install script can download libtensorflow (see the ' +
    "README, 'TensorFlow.js backends'), or leave --backend at auto (it falls back to wasm)",
  tensorflow:
    'install it with `npm install @tensorflow/tfjs-node@4.22.0` where its install script can ' +
    "download libtensorflow (see the README, 'TensorFlow.js backends'), or leave --backend at " +
    'auto (it falls back to wasm)',
  wasm: 'it ships with foldsweep: run `npm ci` to restore node_modules',
  cpu: 'it ships with foldsweep: run `npm ci` to restore node_modules',
};

/** Thrown when a forced backend cannot be used; `cause` carries the underlying failure. */
export class BackendUnavailableError extends Error {
  constructor(
    readonly backend: BackendName,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `TensorFlow.js backend '${backend}' (${PACKAGE_OF[backend]}) is unavailable: ${reason}: ${INSTALL_HINT[backend]}`,
      { cause: options?.cause },
    );
    this.name = 'BackendUnavailableError';
  }
}

async function activate(tf: Tf, engineName: string): Promise<void> {
  const previous = tf.getBackend();
  if (previous === engineName && tf.engine().registry[engineName]) return;
  let failure: unknown;
  try {
    if (await tf.setBackend(engineName)) {
      await tf.ready();
      return;
    }
    failure = new Error(`tf.setBackend('${engineName}') returned false (initialisation failed)`);
  } catch (err) {
    failure = err;
  }
  // A failed setBackend leaves the engine pointing at a backend with no instance: go back.
  if (previous && previous !== engineName && tf.engine().registry[previous]) {
    await tf.setBackend(previous).catch(() => false);
  }
  throw failure;
}

async function loadNode(name: 'tensorflow-gpu' | 'tensorflow'): Promise<SelectedBackend> {
  const pkg = PACKAGE_OF[name];
  let mod: { default?: unknown } & Record<string, unknown>;
  try {
    // A variable specifier keeps TypeScript from resolving a package that is not installed.
    const specifier: string = pkg;
    mod = await import(specifier);
  } catch (err) {
    throw new BackendUnavailableError(name, `could not load ${pkg}: ${errorText(err)}`, {
      cause: err,
    });
  }
  const tf = (mod.default ?? mod) as Tf;
  try {
    await activate(tf, ENGINE_NAME[name]);
  } catch (err) {
    throw new BackendUnavailableError(
      name,
      `${pkg} loaded but its 'tensorflow' backend failed: ${errorText(err)}`,
      { cause: err },
    );
  }
  const version = (tf.version as Record<string, string> | undefined)?.['tfjs-node'];
  return { name, tf, detail: `${pkg}${version ? `@${version}` : ''} (native libtensorflow)` };
}

function wasmDistDir(): string {
  const require = createRequire(import.meta.url);
  // `main` of the package is dist/tf-backend-wasm.node.js, next to the .wasm binaries.
  return `${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}${path.sep}`;
}

function wasmSimdSupported(): boolean {
  // lib is ES2022 without DOM, so WebAssembly is not typed here.
  const wasm = (globalThis as { WebAssembly?: { validate(bytes: Uint8Array): boolean } })
    .WebAssembly;
  if (!wasm) return false;
  try {
    // Same probe tfjs-backend-wasm uses (a tiny module with a SIMD instruction).
    return wasm.validate(
      new Uint8Array([
        0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10, 9, 1, 7, 0, 65, 0, 253, 15,
        26, 11,
      ]),
    );
  } catch {
    return false;
  }
}

async function loadWasm(): Promise<SelectedBackend> {
  const tf = tfjs;
  let simd = false;
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const dir = wasmDistDir();
    // Only possible (and only needed) before the wasm backend is first initialised.
    if (!tf.engine().registry.wasm) wasm.setWasmPaths(dir);
    const isNode = typeof process !== 'undefined' && !!process.versions?.node;
    simd = wasmSimdSupported();
    tf.env().set('WASM_HAS_SIMD_SUPPORT', simd);
    if (isNode) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    registerWasmGradientKernels();
    await activate(tf, 'wasm');
    return {
      name: 'wasm',
      tf,
      detail: `@tensorflow/tfjs-backend-wasm@${wasm.version_wasm} (simd ${simd ? 'on' : 'off'}, threads ${isNode ? 'off' : 'default'}, ${path.relative(process.cwd(), dir) || '.'})`,
    };
  } catch (err) {
    throw new BackendUnavailableError('wasm', errorText(err), { cause: err });
  }
}

async function loadCpu(): Promise<SelectedBackend> {
  const tf = tfjs;
  try {
    await activate(tf, 'cpu');
  } catch (err) {
    throw new BackendUnavailableError('cpu', errorText(err), { cause: err });
  }
  return { name: 'cpu', tf, detail: `@tensorflow/tfjs@${tf.version_core} cpu (pure JavaScript)` };
}

function load(name: BackendName): Promise<SelectedBackend> {
  let p = loaded.get(name);
  if (!p) {
    switch (name) {
      case 'tensorflow-gpu':
      case 'tensorflow':
        p = loadNode(name);
        break;
      case 'wasm':
        p = loadWasm();
        break;
      case 'cpu':
        p = loadCpu();
        break;
    }
    loaded.set(name, p);
    // Failures are not memoised: a later call may try again.
    p.catch(() => {
      if (loaded.get(name) === p) loaded.delete(name);
    });
  }
  return p;
}

async function pickAuto(logger?: SelectBackendOptions['logger']): Promise<SelectedBackend> {
  const skipped: string[] = [];
  for (const name of AUTO_ORDER) {
    try {
      return await load(name);
    } catch (err) {
      skipped.push(`${name}: ${errorText(err)}`);
      logger?.info({ backend: name, reason: errorText(err) }, 'tfjs backend unavailable');
    }
  }
  throw new Error(`No TensorFlow.js backend could be loaded:\n  ${skipped.join('\n  ')}`);
}

/**
 * Loads and activates a TensorFlow.js backend. `prefer` ('auto' by default) forces one backend
 * and throws a {@link BackendUnavailableError} naming it and why when it cannot be loaded.
 */
export async function selectBackend(opts: SelectBackendOptions = {}): Promise<SelectedBackend> {
  const prefer = opts.prefer ?? 'auto';
  let result: SelectedBackend;
  if (prefer === 'auto') {
    if (!autoChoice) {
      autoChoice = pickAuto(opts.logger);
      autoChoice.catch(() => {
        autoChoice = undefined;
      });
    }
    result = await autoChoice;
  } else {
    if (!AUTO_ORDER.includes(prefer)) {
      throw new Error(
        `Unknown TensorFlow.js backend '${String(prefer)}' (expected auto, ${AUTO_ORDER.join(', ')})`,
      );
    }
    result = await load(prefer);
  }
  // Another call may have switched the engine to a different backend in between.
  await activate(result.tf, ENGINE_NAME[result.name]);
  opts.logger?.info({ backend: result.name, detail: result.detail }, 'tfjs backend selected');
  return result;
}
