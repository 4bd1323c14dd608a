/**
 * A bundle directory for the program under mocks with a bundle for every function of
 * infra/naming.ts (test/helpers' fakeBundleDir writes the api, aggregator and retrain ones).
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LAMBDA_BUNDLES } from '../../../infra/bundles.js';
import { FUNCTION_NAMES } from '../../../infra/naming.js';
import { fakeBundleDir } from '../../helpers/pulumi-mocks.js';

export function fakeBundleDirForAllFunctions(): string {
  const dir = fakeBundleDir();
  for (const fn of FUNCTION_NAMES) {
    const file = path.join(dir, LAMBDA_BUNDLES[fn]);
    if (!existsSync(file)) writeFileSync(file, 'export const handler = async () => ({});\n');
  }
  return dir;
}
