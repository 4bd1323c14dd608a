import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BackendUnavailableError, selectBackend } from '../../../trainer/backend.js';

const require = createRequire(import.meta.url);
function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}
const hasNode = installed('@tensorflow/tfjs-node');
const hasNodeGpu = installed('@tensorflow/tfjs-node-gpu');

describe('selectBackend', () => {
  it("picks 'wasm' on auto when tfjs-node is not installed, with SIMD on and threads off", async () => {
    const infos: Array<[object, string | undefined]> = [];
    const logger = { info: (o: object, msg?: string) => infos.push([o, msg]) };
    const r = await selectBackend({ logger });
    if (hasNode || hasNodeGpu) {
      expect(['tensorflow-gpu', 'tensorflow']).toContain(r.name);
      return;
    }
    expect(r.name).toBe('wasm');
    expect(r.tf.getBackend()).toBe('wasm');
    expect(r.detail).toMatch(/simd on, threads off/);
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    expect(infos.some(([o]) => (o as { backend?: string }).backend === 'wasm')).toBe(true);
    // The optional native packages were tried first and reported.
    const tried = infos.map(([o]) => (o as { backend?: string }).backend);
    expect(tried.indexOf('tensorflow-gpu')).toBeLessThan(tried.indexOf('wasm'));
    expect(tried.indexOf('tensorflow')).toBeLessThan(tried.indexOf('wasm'));
    // A training step works on it.
    const g = r.tf.grad((x: tf.Tensor) =>
      r.tf.conv2d(x as tf.Tensor4D, r.tf.ones([3, 3, 1, 2]), 1, 'same').sum(),
    )(r.tf.ones([1, 4, 4, 1]));
    expect(g.shape).toEqual([1, 4, 4, 1]);
  });

  it('is idempotent: the same result object, and the engine is switched back to it', async () => {
    const a = await selectBackend();
    const b = await selectBackend();
    expect(b).toBe(a);
    const c = await selectBackend({ prefer: 'cpu' });
    expect(c.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    const d = await selectBackend();
    expect(d).toBe(a);
    expect(tf.getBackend()).toBe(a.tf.getBackend());
    const [e, f] = await Promise.all([
      selectBackend({ prefer: 'cpu' }),
      selectBackend({ prefer: 'cpu' }),
    ]);
    expect(e).toBe(c);
    expect(f).toBe(c);
    await selectBackend();
  });

  it("prefer 'cpu' gives the pure-JS backend of @tensorflow/tfjs", async () => {
    const r = await selectBackend({ prefer: 'cpu' });
    expect(r.name).toBe('cpu');
    expect(r.tf.getBackend()).toBe('cpu');
    expect(r.tf.add(r.tf.scalar(2), r.tf.scalar(3)).dataSync()[0]).toBe(5);
    expect(r.detail).toMatch(/cpu/);
    await selectBackend();
  });

  it("prefer 'wasm' gives wasm", async () => {
    const r = await selectBackend({ prefer: 'wasm' });
    expect(r.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it.runIf(!hasNode)(
    "prefer 'tensorflow' throws a clear error naming @tensorflow/tfjs-node",
    async () => {
      const err = await selectBackend({ prefer: 'tensorflow' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackendUnavailableError);
      expect((err as Error).message).toMatch(
        /backend 'tensorflow' \(@tensorflow\/tfjs-node\) is unavailable: could not load @tensorflow\/tfjs-node/,
      );
      // Failing to force a backend leaves the active one alone.
      expect(['wasm', 'cpu']).toContain(tf.getBackend());
    },
  );

  it.runIf(!hasNodeGpu)("prefer 'tensorflow-gpu' names @tensorflow/tfjs-node-gpu", async () => {
    await expect(selectBackend({ prefer: 'tensorflow-gpu' })).rejects.toThrow(
      /backend 'tensorflow-gpu' \(@tensorflow\/tfjs-node-gpu\) is unavailable/,
    );
  });

  it('rejects an unknown preference', async () => {
    await expect(selectBackend({ prefer: 'webgl' as unknown as 'cpu' })).rejects.toThrow(
      /Unknown TensorFlow.js backend 'webgl'/,
    );
  });
});

describe('selectBackend with the native packages present (mocked)', () => {
  afterEach(() => {
    vi.doUnmock('@tensorflow/tfjs-node');
    vi.doUnmock('@tensorflow/tfjs-node-gpu');
    vi.doUnmock('@tensorflow/tfjs-backend-wasm');
    vi.resetModules();
  });

  /** A stand-in for tfjs-node's tf namespace: only what selectBackend touches. */
  function fakeTf(version: string) {
    let backend = 'cpu';
    const registry: Record<string, object> = { cpu: {} };
    return {
      getBackend: () => backend,
      setBackend: async (name: string) => {
        backend = name;
        registry[name] = {};
        return true;
      },
      engine: () => ({ registry }),
      ready: async () => {},
      version: { 'tfjs-node': version },
    };
  }

  it('uses tfjs-node (its own tf namespace) when tfjs-node-gpu is broken, without touching wasm', async () => {
    const nodeTf = fakeTf('4.22.0');
    const activeBefore = tf.getBackend();
    vi.resetModules();
    vi.doMock('@tensorflow/tfjs-node-gpu', () => {
      throw new Error('libtensorflow.so.2: cannot open shared object file');
    });
    vi.doMock('@tensorflow/tfjs-node', () => ({ default: nodeTf }));
    const fresh = await import('../../../trainer/backend.js');
    const r = await fresh.selectBackend();
    expect(r.name).toBe('tensorflow');
    expect(r.tf).toBe(nodeTf);
    expect(nodeTf.getBackend()).toBe('tensorflow');
    expect(r.detail).toMatch(/@tensorflow\/tfjs-node@4\.22\.0/);
    // The real @tensorflow/tfjs engine (where wasm lives) was not switched.
    expect(tf.getBackend()).toBe(activeBefore);
    await expect(fresh.selectBackend({ prefer: 'tensorflow-gpu' })).rejects.toThrow(
      /'tensorflow-gpu' \(@tensorflow\/tfjs-node-gpu\) is unavailable: could not load/,
    );
  });

  it('prefers tfjs-node-gpu when it loads', async () => {
    const gpuTf = fakeTf('4.22.0');
    vi.resetModules();
    vi.doMock('@tensorflow/tfjs-node-gpu', () => ({ default: gpuTf }));
    vi.doMock('@tensorflow/tfjs-node', () => ({ default: fakeTf('4.22.0') }));
    const fresh = await import('../../../trainer/backend.js');
    const r = await fresh.selectBackend();
    expect(r.name).toBe('tensorflow-gpu');
    expect(r.tf).toBe(gpuTf);
    expect(await fresh.selectBackend()).toBe(r);
  });

  it('falls back to cpu when nothing faster loads, and names every failure', async () => {
    vi.resetModules();
    const broken = (what: string) => () => {
      throw new Error(`${what} is broken`);
    };
    vi.doMock('@tensorflow/tfjs-node-gpu', broken('gpu'));
    vi.doMock('@tensorflow/tfjs-node', broken('node'));
    vi.doMock('@tensorflow/tfjs-backend-wasm', broken('wasm'));
    const fresh = await import('../../../trainer/backend.js');
    const logged: string[] = [];
    const r = await fresh.selectBackend({
      logger: { info: (o: object) => logged.push(String((o as { backend?: string }).backend)) },
    });
    expect(r.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(logged.slice(0, 3)).toEqual(['tensorflow-gpu', 'tensorflow', 'wasm']);
    await expect(fresh.selectBackend({ prefer: 'wasm' })).rejects.toThrow(
      /backend 'wasm' \(@tensorflow\/tfjs-backend-wasm\) is unavailable/,
    );
    expect(tf.getBackend()).toBe('cpu');
  });
});
