/**
 * The example sweep, end to end: fine-tune the base CNN (pretrained on Fashion-MNIST classes
 * 0-4) on 100 images per class of classes 5-9 (finetune at several freeze depths and learning
 * rates, bottleneck-linear SVMs, a scratch baseline; 3 folds), then check the champion's
 * test accuracy again with stock @tensorflow/tfjs.
 *
 *   npm run demo            (FOLDSWEEP_HOME defaults to ./.foldsweep)
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../functions/cli/main.js';
import { localDeps } from '../../functions/deps/local.js';
import { championPrefix } from '../../shared/schemas/plan.js';
import { verifyChampion } from './verify-champion.js';

const spec = fileURLToPath(new URL('./sweep.json', import.meta.url));
const code = await main(['run', spec]);
if (code !== 0) process.exit(code);

const deps = localDeps();
const [latest] = await deps.state.listSweeps({ limit: 1, status: 'completed' });
const champion = latest && (await deps.state.getChampion(latest.id));
await deps.close();
if (!champion) {
  console.error('no champion was promoted');
  process.exit(1);
}
const dir = join(deps.home, 'objects', championPrefix(latest.id));
const check = await verifyChampion(dir);
console.log(
  `\nstock @tensorflow/tfjs reloaded ${dir}/model.json: test accuracy ${check.accuracy.toFixed(4)} on ${check.samples} images` +
    ` (foldsweep reported ${champion.testAccuracy?.toFixed(4)})`,
);
if (
  champion.testAccuracy === undefined ||
  Math.abs(check.accuracy - champion.testAccuracy) > 1e-6
) {
  console.error('the reloaded champion does not reproduce the reported test accuracy');
  process.exit(1);
}
