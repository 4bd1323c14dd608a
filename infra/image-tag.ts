/**
 * Prints the trainer image's content tag (see bundles.ts), the one the stack's job definition
 * points at. scripts/push-image.sh tags and pushes the image with it.
 * Usage: `npx tsx infra/image-tag.ts [bundleDir]` (default `dist`).
 */
import { imageContentTag } from './bundles.js';

try {
  process.stdout.write(`${imageContentTag(process.argv[2] ?? 'dist')}\n`);
} catch (error) {
  process.stderr.write(`image-tag: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
