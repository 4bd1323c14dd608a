import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  IMAGE_INPUTS,
  imageContentTag,
  LAMBDA_BUNDLES,
  lambdaBundlePaths,
  MissingBundleError,
  REPO_ROOT,
} from '../../../infra/bundles.js';

/** A repo-shaped folder with the image inputs and a trainer bundle. */
function fakeRoot(trainerSource = 'console.log("trainer");\n'): string {
  const root = mkdtempSync(path.join(tmpdir(), 'foldsweep-root-'));
  for (const input of IMAGE_INPUTS) {
    mkdirSync(path.dirname(path.join(root, input)), { recursive: true });
    cpSync(path.join(REPO_ROOT, input), path.join(root, input));
  }
  mkdirSync(path.join(root, 'dist/trainer'), { recursive: true });
  writeFileSync(path.join(root, 'dist/trainer/main.mjs'), trainerSource);
  return root;
}

describe('imageContentTag()', () => {
  it('is the same for the same inputs and changes when the trainer bundle changes', () => {
    const a = imageContentTag('dist', fakeRoot());
    const b = imageContentTag('dist', fakeRoot());
    const changed = imageContentTag('dist', fakeRoot('console.log("trainer v2");\n'));
    expect(a).toMatch(/^t-[0-9a-f]{16}$/);
    expect(b).toBe(a);
    expect(changed).not.toBe(a);
  });

  it('changes when a file next to the bundle (a source map, a wasm file) changes', () => {
    const root = fakeRoot();
    const before = imageContentTag('dist', root);
    writeFileSync(path.join(root, 'dist/trainer/main.mjs.map'), '{}');
    expect(imageContentTag('dist', root)).not.toBe(before);
  });

  it('changes when the Dockerfile changes', () => {
    const root = fakeRoot();
    const before = imageContentTag('dist', root);
    writeFileSync(path.join(root, 'trainer/Dockerfile'), 'FROM scratch\n');
    expect(imageContentTag('dist', root)).not.toBe(before);
  });

  it('asks for `npm run build` when there is no trainer bundle', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'foldsweep-empty-'));
    expect(() => imageContentTag('dist', root)).toThrow(MissingBundleError);
    expect(() => imageContentTag('dist', root)).toThrow(/run `npm run build` before `pulumi up`/);
  });
});

describe('lambdaBundlePaths()', () => {
  it('resolves every function to <bundleDir>/lambda/<name>.mjs', () => {
    const root = fakeRoot();
    for (const file of Object.values(LAMBDA_BUNDLES)) {
      mkdirSync(path.dirname(path.join(root, 'dist', file)), { recursive: true });
      writeFileSync(path.join(root, 'dist', file), 'export const handler = () => {};');
    }
    expect(lambdaBundlePaths(path.join(root, 'dist'))).toEqual({
      api: path.join(root, 'dist/lambda/api.mjs'),
      aggregator: path.join(root, 'dist/lambda/aggregator.mjs'),
      retrain: path.join(root, 'dist/lambda/retrain.mjs'),
      prepare: path.join(root, 'dist/lambda/prepare.mjs'),
    });
  });

  it('names the first missing bundle', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'foldsweep-nobundle-'));
    expect(() => lambdaBundlePaths(dir)).toThrow(`${path.join(dir, 'lambda/api.mjs')} is missing`);
  });
});
