/**
 * The local CLI: `foldsweep run <spec.json>` runs a sweep in this process and prints the
 * leaderboard; `foldsweep serve` serves the HTTP API. Both keep everything under FOLDSWEEP_HOME.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatLeaderboard } from '../../shared/aggregation/leaderboard.js';
import { FoldsweepError, ValidationError } from '../../shared/errors.js';
import { championPrefix, reportKey } from '../../shared/schemas/plan.js';
import { getLeaderboard } from '../../shared/service/aggregate.js';
import { createSweep, getSweep } from '../../shared/service/sweeps.js';
import { startServer } from '../api/node.js';
import { localDeps, resumeInterruptedSweeps } from '../deps/local.js';
import { adviseCommand } from './advise.js';
import { positiveInt, readJsonFile, resolveSpecPaths } from './files.js';
import { modelsCommand } from './models.js';
import { SweepProgressView } from './progress.js';
import { scheduleCommand, startScheduler } from './schedule.js';

const USAGE = `foldsweep: cross-validated fine-tuning sweeps

Usage:
  foldsweep run <spec.json> [--home DIR] [--concurrency N] [--backend auto|wasm|cpu|tensorflow|tensorflow-gpu]
  foldsweep advise <dataset> <model.json> [--classes ..] [--out spec.json]   (recommends a sweep)
  foldsweep serve [--home DIR] [--port 8080] [--host 127.0.0.1] [--concurrency N]
  foldsweep schedule add|list|show|rm|run-now ...   (scheduled retraining; see docs/retraining.md)
  foldsweep models list|show|rollback ...           (the model registry)

Relative paths inside a spec file resolve against the spec file's folder.
FOLDSWEEP_HOME (default ./.foldsweep) holds objects/, state.db and logs/foldsweep.log.
`;

const BACKENDS = ['auto', 'wasm', 'cpu', 'tensorflow', 'tensorflow-gpu'] as const;

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      home: { type: 'string' },
      concurrency: { type: 'string' },
      backend: { type: 'string', default: 'auto' },
    },
  });
  if (positionals.length !== 1)
    throw ValidationError.single('<spec>', 'give one spec file: foldsweep run <spec.json>');
  const backend = values.backend as (typeof BACKENDS)[number];
  if (!BACKENDS.includes(backend))
    throw ValidationError.single('--backend', `must be one of ${BACKENDS.join(', ')}`);
  const spec = await readJsonFile(positionals[0], '<spec>', resolveSpecPaths);
  const view = new SweepProgressView();
  const deps = localDeps({
    home: values.home,
    concurrency: positiveInt('concurrency', values.concurrency),
    backend,
    onEvent: view.onEvent,
  });
  const started = Date.now();
  try {
    process.stderr.write(`preparing data and model (home ${deps.home}) ...\n`);
    const { sweep, plan } = await createSweep(deps, spec);
    view.start(plan);
    if (sweep.status === 'running') await deps.executor.waitFor(sweep.id);
    view.stop();
    const final = await getSweep(deps, sweep.id);
    const board = await getLeaderboard(deps, sweep.id);
    const out = process.stdout;
    out.write(
      `\nSweep ${final.id}${final.name ? ` (${final.name})` : ''}: ${final.status} in ${((Date.now() - started) / 1000).toFixed(1)} s\n\n`,
    );
    out.write(`${formatLeaderboard(board)}\n\n`);
    const champion = await deps.state.getChampion(sweep.id);
    if (champion) {
      out.write(
        `champion: ${join(deps.home, 'objects', championPrefix(sweep.id))}/model.json (+ metadata.json)\n`,
      );
      out.write(`  cross-validated ${board.objective}: ${champion.objectiveMean.toFixed(4)}\n`);
      if (champion.holdoutAccuracy !== undefined)
        out.write(`  holdout accuracy: ${champion.holdoutAccuracy.toFixed(4)}\n`);
      if (champion.testAccuracy !== undefined)
        out.write(`  test accuracy: ${champion.testAccuracy.toFixed(4)}\n`);
    }
    out.write(`report: ${join(deps.home, 'objects', reportKey(sweep.id))}\n`);
    if (final.status !== 'completed') {
      process.stderr.write(`sweep ${final.status}${final.error ? `: ${final.error}` : ''}\n`);
      return 1;
    }
    return 0;
  } finally {
    view.stop();
    await deps.close();
  }
}

async function serveCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      home: { type: 'string' },
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      concurrency: { type: 'string' },
    },
  });
  const deps = localDeps({
    home: values.home,
    concurrency: positiveInt('concurrency', values.concurrency),
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw ValidationError.single('--port', 'must be 0..65535');
  const server = await startServer(deps, { port, hostname: values.host });
  process.stdout.write(
    `foldsweep API on http://${values.host}:${server.port} (home ${deps.home})\n`,
  );
  const stopScheduler = await startScheduler(deps);
  const resumed = await resumeInterruptedSweeps(deps);
  if (resumed.length > 0) {
    process.stdout.write(`resumed ${resumed.length} interrupted sweep(s): ${resumed.join(', ')}\n`);
  }
  await new Promise<void>((done) => {
    const stop = () => done();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await stopScheduler();
  await server.close();
  await deps.close();
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'run') return await run(rest);
    if (command === 'serve') return await serveCommand(rest);
    if (command === 'schedule') {
      return await scheduleCommand(rest, (o) =>
        localDeps({ home: o.home, concurrency: o.concurrency }),
      );
    }
    if (command === 'advise') return await adviseCommand(rest, (o) => localDeps({ home: o.home }));
    if (command === 'models') {
      return await modelsCommand(rest, (o) =>
        localDeps({ home: o.home, concurrency: o.concurrency }),
      );
    }
    process.stdout.write(USAGE);
    return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
  } catch (error) {
    if (error instanceof ValidationError) {
      if (error.issues.length <= 1) {
        process.stderr.write(`error: ${error.message}\n`);
      } else {
        process.stderr.write(`error: ${error.issues.length} problems:\n`);
        for (const issue of error.issues) {
          process.stderr.write(`  - ${issue.path}: ${issue.message}\n`);
        }
      }
      return 2;
    }
    if (
      error instanceof FoldsweepError ||
      (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
    ) {
      process.stderr.write(`error: ${(error as Error).message}\n`);
      return 2;
    }
    throw error;
  }
}

if (
  import.meta.url === `file://${process.argv[1]}` ||
  process.argv[1]?.endsWith('functions/cli/main.ts')
) {
  process.exitCode = await main(process.argv.slice(2));
}
