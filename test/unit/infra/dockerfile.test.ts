/**
 * What can be checked about the trainer image without a Docker engine: the CUDA/cuDNN/
 * TensorFlow.js versions that must match, a non-root user, the entry point being the bundle the
 * build writes, a build context holding only that bundle, and the push script's syntax.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TRAINER_BUNDLE, TRAINER_BUNDLE_DIR } from '../../../infra/bundles.js';
import { TRAINER_EXIT } from '../../../shared/schemas/runtime-env.js';

const read = (file: string) => readFileSync(new URL(`../../../${file}`, import.meta.url), 'utf8');
const dockerfile = read('trainer/Dockerfile');
const dockerignore = read('.dockerignore');
const pkg = JSON.parse(read('package.json')) as {
  optionalDependencies?: Record<string, string>;
  engines?: { node?: string };
};

/** Instructions of the Dockerfile (continuations joined, comments dropped). */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));
const stages = instructions
  .join('\n')
  .split(/^FROM /m)
  .slice(1);
const finalStage = stages.at(-1) ?? '';
const arg = (name: string) => dockerfile.match(new RegExp(`^ARG ${name}=(.*)$`, 'm'))?.[1];

describe('trainer/Dockerfile', () => {
  it('builds on a CUDA 11.2 + cuDNN 8 runtime image (what libtensorflow 2.9.1 links against)', () => {
    expect(arg('CUDA_IMAGE')).toMatch(/^nvidia\/cuda:11\.2\.\d+-cudnn8-runtime-ubuntu\d+\.\d+$/);
    expect(dockerfile).not.toMatch(/cuda:12/);
  });

  it('installs the tfjs-node-gpu version package.json pins, a 4.x (libtensorflow 2.9.1)', () => {
    const declared = pkg.optionalDependencies?.['@tensorflow/tfjs-node-gpu']?.replace(/^[\^~]/, '');
    expect(arg('TFJS_VERSION')).toBe(declared);
    expect(arg('TFJS_VERSION')).toMatch(/^4\./);
    expect(dockerfile).toMatch(/"@tensorflow\/tfjs-node-gpu@\$\{TFJS_VERSION\}"/);
  });

  it('runs Node 20, the engine package.json asks for', () => {
    expect(arg('NODE_IMAGE')).toMatch(/^node:20[-.]/);
    expect(pkg.engines?.node).toBe('>=20');
  });

  it('documents TFJS_NODE_CDN_STORAGE for closed networks and passes it to the install', () => {
    expect(dockerfile).toMatch(/^ARG TFJS_NODE_CDN_STORAGE=/m);
    expect(dockerfile).toContain('libtensorflow-gpu-linux-x86_64-2.9.1.tar.gz');
  });

  it('proves at build time that the native addon loads', () => {
    expect(dockerfile).toMatch(/node -e "const tf = require\('@tensorflow\/tfjs-node-gpu'\)/);
  });

  it('runs as a non-root user with TF_FORCE_GPU_ALLOW_GROWTH, the trainer as entry point', () => {
    const user = finalStage.match(/^USER (\S+)$/m)?.[1];
    expect(user).toBeDefined();
    expect(user?.split(':')[0]).not.toMatch(/^(0|root)$/);
    expect(finalStage.indexOf('USER ')).toBeLessThan(finalStage.indexOf('ENTRYPOINT'));
    expect(finalStage).toMatch(/TF_FORCE_GPU_ALLOW_GROWTH=true/);
    const entrypoint = JSON.parse(finalStage.match(/^ENTRYPOINT (.*)$/m)?.[1] ?? '[]') as string[];
    expect(entrypoint[0]).toBe('node');
    expect(entrypoint.at(-1)).toBe(`/opt/foldsweep/dist/${TRAINER_BUNDLE}`);
  });

  it('copies the bundle directory the build writes, into the path the entry point runs', () => {
    expect(finalStage).toMatch(
      new RegExp(`^COPY dist/${TRAINER_BUNDLE_DIR}/ \\./dist/${TRAINER_BUNDLE_DIR}/$`, 'm'),
    );
    expect(finalStage).toMatch(/^WORKDIR \/opt\/foldsweep$/m);
  });

  it('checks at build time that the trainer bundle starts inside the image', () => {
    expect(finalStage).toMatch(/RUN status=0; node dist\/trainer\/main\.mjs/);
    expect(finalStage).toContain(`-ne ${TRAINER_EXIT.config}`);
  });

  it('keeps apt layers lean', () => {
    for (const line of instructions.filter((l) => l.includes('apt-get install'))) {
      expect(line).toContain('--no-install-recommends');
      expect(line).toContain('rm -rf /var/lib/apt/lists/*');
    }
  });
});

describe('.dockerignore', () => {
  /** Docker's rule: the last matching pattern wins; `!` re-includes. */
  function included(file: string): boolean {
    let keep = true;
    for (const raw of dockerignore.split('\n').map((l) => l.trim())) {
      if (raw === '' || raw.startsWith('#')) continue;
      const negate = raw.startsWith('!');
      const pattern = (negate ? raw.slice(1) : raw).replace(/\/$/, '');
      const re = new RegExp(
        `^${pattern
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*\*/g, '<globstar>')
          .replace(/\*/g, '[^/]*')
          .replace(/<globstar>/g, '.*')}(/.*)?$`,
      );
      if (re.test(file)) keep = negate;
    }
    return keep;
  }

  it('sends only the trainer bundle to the build', () => {
    expect(included('dist/trainer/main.mjs')).toBe(true);
    expect(included('dist/trainer/main.mjs.map')).toBe(true);
    for (const file of [
      'node_modules/zod/package.json',
      '.foldsweep/state.db',
      '.git/config',
      'Pulumi.prod.yaml',
      'dist/lambda/api.mjs',
      '.env',
      'trainer/main.ts',
    ]) {
      expect(included(file), file).toBe(false);
    }
  });
});

describe('scripts/push-image.sh', () => {
  const script = read('scripts/push-image.sh');

  it('is valid bash', () => {
    expect(() => execFileSync('bash', ['-n', 'scripts/push-image.sh'])).not.toThrow();
  });

  it('tags with the content tag the stack deploys, builds amd64 from trainer/Dockerfile', () => {
    expect(script).toContain('npx --no-install tsx infra/image-tag.ts');
    expect(script).toContain('pulumi_ stack output trainerRepositoryUrl');
    expect(script).toMatch(/docker build --platform linux\/amd64 --file trainer\/Dockerfile/);
  });
});
