/**
 * `pulumi up` before `npm run build` must fail before creating anything, saying what to run.
 * (Config errors are covered in config.test.ts.) Pulumi mocks, no AWS.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { describe, expect, it } from 'vitest';
import { setupPulumiMocks } from '../../helpers/pulumi-mocks.js';

describe('infra/index.ts without build outputs', () => {
  it('fails with a RunError naming the missing bundle and `npm run build`, creating nothing', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'foldsweep-no-bundles-'));
    const rec = await setupPulumiMocks({ 'foldsweep:bundleDir': empty });

    const loading = import('../../../infra/index.js');

    await expect(loading).rejects.toBeInstanceOf(pulumi.RunError);
    await expect(loading).rejects.toThrow(
      `${path.join(empty, 'lambda', 'api.mjs')} is missing: run \`npm run build\` before \`pulumi up\``,
    );
    await rec.settled();
    expect(rec.resources.filter((r) => r.custom)).toEqual([]);
  });
});
