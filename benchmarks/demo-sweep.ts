/**
 * The example sweep (examples/fashion-mnist/sweep.json, what `npm run demo` runs) before and after
 * the trainer speed work, on the same machine in one session (issue 7).
 *
 *   npm run bench:demo                   (writes docs/benchmarks/demo-sweep.md)
 *   npx tsx benchmarks/demo-sweep.ts [--rounds 1] [--epochs N] [--configs before,kernels,after]
 *                                    [--concurrency 2] [--before-tree DIR] [--out FILE]
 *
 * Each run is `foldsweep run <spec>` (functions/cli/main.ts: prepare data and model, the sweep on
 * the local process pool, aggregation with the test-set evaluation) in a fresh FOLDSWEEP_HOME,
 * under /usr/bin/time, which reports the wall time and the user + system CPU time of the whole
 * process tree (the CLI and every trainer process it waited for). Configurations:
 *  - before: FOLDSWEEP_WASM_KERNELS=baseline and one trainer process per trial
 *    (FOLDSWEEP_TRAINER_PROCESS=per-trial), the trainer before issue 7's kernels and workers;
 *  - kernels: the 'fast' kernels, still one process per trial;
 *  - after: the 'fast' kernels on long-lived trainer workers (the default);
 *  - round1: 'after' run from another checkout given by --before-tree DIR (issue 15: a worktree
 *    of the commit before its kernels, `git worktree add --detach DIR <commit>` with node_modules
 *    linked), so `--configs round1,after` compares the trainer before and after that round.
 * Rounds run every configuration once, in a rotating order, so load from other work hits them
 * alike. `--epochs` overrides the spec's epochs (stated in the output) when the full sweep is too
 * long to run several times.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fmt, loadAverage, machine, median } from './common.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '1' },
    epochs: { type: 'string' },
    configs: { type: 'string', default: 'before,kernels,after' },
    concurrency: { type: 'string', default: '2' },
    'before-tree': { type: 'string' },
    out: { type: 'string' },
  },
});

const ROOT = path.resolve(import.meta.dirname, '..');
const SPEC = path.join(ROOT, 'examples/fashion-mnist/sweep.json');
const CLI = path.join(ROOT, 'functions/cli/main.ts');

const CONFIGS = {
  before: {
    label: "'baseline' kernels, one process per trial (before)",
    env: { FOLDSWEEP_WASM_KERNELS: 'baseline', FOLDSWEEP_TRAINER_PROCESS: 'per-trial' },
  },
  kernels: {
    label: "'fast' kernels, one process per trial",
    env: { FOLDSWEEP_WASM_KERNELS: 'fast', FOLDSWEEP_TRAINER_PROCESS: 'per-trial' },
  },
  after: {
    label: "'fast' kernels, trainer workers (after)",
    env: { FOLDSWEEP_WASM_KERNELS: 'fast', FOLDSWEEP_TRAINER_PROCESS: 'worker' },
  },
  // Issue 15 (round 2): the same 'after' configuration run from another checkout (--before-tree,
  // e.g. a worktree of the commit before round 2), against this checkout's 'after'.
  round1: {
    label: "'fast' kernels, trainer workers, from --before-tree (before this round)",
    env: { FOLDSWEEP_WASM_KERNELS: 'fast', FOLDSWEEP_TRAINER_PROCESS: 'worker' },
  },
} as const;
type ConfigName = keyof typeof CONFIGS;

interface Run {
  config: ConfigName;
  round: number;
  wall: number;
  user: number;
  system: number;
  /** Seconds the CLI reports for createSweep + the sweep + aggregation. */
  sweep: number;
  testAccuracy: string;
  load: string;
}

const log = (s: string) => process.stderr.write(`${s}\n`);

function beforeTree(): string {
  const dir = args['before-tree'];
  if (!dir) throw new Error("configuration 'round1' needs --before-tree DIR (another checkout)");
  return path.resolve(dir as string);
}

/** The spec with absolute paths (and the epochs override) in `dir`. */
function writeSpec(dir: string): string {
  const spec = JSON.parse(readFileSync(SPEC, 'utf8'));
  const abs = (p: string) => (path.isAbsolute(p) ? p : path.join(path.dirname(SPEC), p));
  spec.baseModel = abs(spec.baseModel);
  if (args.epochs) spec.training.epochs = Number(args.epochs);
  const file = path.join(dir, 'sweep.json');
  writeFileSync(file, JSON.stringify(spec, null, 1));
  return file;
}

function runOnce(config: ConfigName, round: number): Promise<Run> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'foldsweep-demo-bench-'));
  const spec = writeSpec(dir);
  const timeFile = path.join(dir, 'time.txt');
  const load = loadAverage();
  const env = {
    ...process.env,
    ...CONFIGS[config].env,
    FOLDSWEEP_HOME: path.join(dir, 'home'),
    FOLDSWEEP_LOG_LEVEL: 'warn',
  };
  const root = config === 'round1' ? beforeTree() : ROOT;
  const cli = path.join(root, path.relative(ROOT, CLI));
  const argv = ['-f', '%e %U %S', '-o', timeFile, process.execPath, '--import', 'tsx', cli];
  argv.push('run', spec, '--concurrency', args.concurrency as string, '--backend', 'wasm');
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', argv, {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr = (stderr + c).slice(-4000);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        if (code !== 0) throw new Error(`${config}: foldsweep run exited ${code}\n${stderr}`);
        const [wall, user, system] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).map(Number);
        const sweep = Number(/: completed in ([\d.]+) s/.exec(stdout)?.[1] ?? Number.NaN);
        const testAccuracy = /test accuracy: ([\d.]+)/.exec(stdout)?.[1] ?? '?';
        resolve({ config, round, wall, user, system, sweep, testAccuracy, load });
      } catch (error) {
        reject(error);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

const names = (args.configs as string).split(',').filter(Boolean) as ConfigName[];
for (const n of names) if (!(n in CONFIGS)) throw new Error(`unknown configuration ${n}`);
const rounds = Number(args.rounds);
const spec = JSON.parse(readFileSync(SPEC, 'utf8'));
const epochs = args.epochs ? Number(args.epochs) : spec.training.epochs;
const loadBefore = loadAverage();
const started = Date.now();
const runs: Run[] = [];
for (let round = 0; round < rounds; round++) {
  const order = names.map((_, i) => names[(i + round) % names.length]);
  for (const config of order) {
    log(`round ${round + 1}/${rounds}: ${config} (load ${loadAverage()})`);
    const r = await runOnce(config, round);
    log(`  wall ${r.wall} s, CPU ${fmt(r.user + r.system)} s, test accuracy ${r.testAccuracy}`);
    runs.push(r);
  }
}
const loadAfter = loadAverage();

const lines: string[] = [];
lines.push('# The example sweep before and after the trainer speed work');
lines.push('');
lines.push(
  `- command: \`npx tsx benchmarks/demo-sweep.ts ${process.argv.slice(2).join(' ')}\`${args.out?.endsWith('docs/benchmarks/demo-sweep.md') ? ' (`npm run bench:demo`)' : ''}${args['before-tree'] ? ` (--before-tree: a checkout of ${execFileSync('git', ['-C', args['before-tree'], 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()})` : ''}`,
);
lines.push(
  `- date: ${new Date(started).toISOString()}, ${((Date.now() - started) / 1000).toFixed(0)} s in all`,
);
lines.push(`- machine: ${machine()}`);
lines.push(
  `- sweep: examples/fashion-mnist/sweep.json (${spec.dataset.subset.perClass} images per class of 5 classes, ${spec.folds} folds: every variant on every fold, then the winner's refit), ` +
    `${epochs} epochs${args.epochs ? ` (the spec says ${spec.training.epochs}: overridden with --epochs)` : ''}, patience ${spec.training.patience}; ` +
    `\`foldsweep run --concurrency ${args.concurrency} --backend wasm\` in a fresh FOLDSWEEP_HOME per run`,
);
lines.push(`- load average (1, 5, 15 min) before: ${loadBefore}; after: ${loadAfter}`);
lines.push('');
lines.push(
  '| configuration | runs | wall s (median) | CPU s (median) | CPU user / system | wall ratio | CPU ratio |',
);
lines.push('|---|---:|---:|---:|---:|---:|---:|');
const base = runs.filter((r) => r.config === names[0]);
const baseWall = median(base.map((r) => r.wall));
const baseCpu = median(base.map((r) => r.user + r.system));
for (const n of names) {
  const rs = runs.filter((r) => r.config === n);
  const wall = median(rs.map((r) => r.wall));
  const cpu = median(rs.map((r) => r.user + r.system));
  lines.push(
    `| ${CONFIGS[n].label} | ${rs.length} | ${fmt(wall)} | ${fmt(cpu)} | ${fmt(median(rs.map((r) => r.user)))} / ${fmt(median(rs.map((r) => r.system)))} | ${(baseWall / wall).toFixed(2)}x faster | ${(baseCpu / cpu).toFixed(2)}x less |`,
  );
}
lines.push('');
lines.push('Each run:');
lines.push('');
lines.push(
  '| round | configuration | load at start | wall s | CPU s | sweep s (CLI) | test accuracy |',
);
lines.push('|---:|---|---|---:|---:|---:|---:|');
for (const r of runs) {
  lines.push(
    `| ${r.round + 1} | ${r.config} | ${r.load} | ${fmt(r.wall)} | ${fmt(r.user + r.system)} | ${fmt(r.sweep)} | ${r.testAccuracy} |`,
  );
}
lines.push('');
lines.push(
  'Wall and CPU are /usr/bin/time over `foldsweep run`: CPU is user + system time of the CLI and of every trainer process it waited for (tsx\'s esbuild helper processes that outlive their trainer are not counted). Ratios are against the first configuration. "sweep s" is what the CLI reports (data and model preparation, the sweep, aggregation with the test-set evaluation). A load average above nproc means other work shared the cores.',
);
const text = `${lines.join('\n')}\n`;
process.stdout.write(text);
if (args.out) {
  mkdirSync(path.dirname(args.out), { recursive: true });
  writeFileSync(args.out, text);
  log(`wrote ${args.out}`);
}
