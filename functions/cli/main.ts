/**
 * The local CLI: `foldsweep run <spec.json>` runs a sweep in this process and prints the
 * leaderboard; `foldsweep serve` serves the HTTP API. Both keep everything under FOLDSWEEP_HOME.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DATA_ROOTS_ENV, DataRoots } from '../../shared/adapters/local/data-roots.js';
import { formatLeaderboard } from '../../shared/aggregation/leaderboard.js';
import { FoldsweepError, ValidationError } from '../../shared/errors.js';
import { htmlReportKey } from '../../shared/report/report-input.js';
import { championPrefix, reportKey } from '../../shared/schemas/plan.js';
import { specLimitsFromEnv } from '../../shared/schemas/spec-limits.js';
import { getLeaderboard } from '../../shared/service/aggregate.js';
import {
  cancelSweep,
  prepareSweep,
  redriveAggregation,
  resumeSweep,
  submitSweep,
} from '../../shared/service/lifecycle.js';
import { getSweep } from '../../shared/service/sweeps.js';
import { isLoopback } from '../api/guards.js';
import { startServer } from '../api/node.js';
import { type LocalDeps, localDeps } from '../deps/local.js';
import { adviseCommand } from './advise.js';
import { positiveInt, readJsonFile, resolveSpecPaths } from './files.js';
import { COMMANDS, EXIT, EXIT_CODES, formatHelp, unknownCommand, unknownFlag } from './help.js';
import { championLines, inspectCommand, readChampionMetadata } from './inspect.js';
import { modelsCommand } from './models.js';
import { SweepProgressView } from './progress.js';
import { backendsUsed, checkBackend, preprocessingNotes } from './run-notes.js';
import { scheduleCommand, startScheduler } from './schedule.js';
import { schemaCommand } from './schema.js';

const USAGE = `foldsweep: cross-validated fine-tuning sweeps

Usage:
  foldsweep run <spec.json> [--home DIR] [--concurrency N] [--backend auto|wasm|cpu|tensorflow|tensorflow-gpu] [--max-trials N]
  foldsweep cancel <sweep-id> [--home DIR]      (stops its trainers; finished trials stay)
  foldsweep resume <sweep-id> [--home DIR] [--concurrency N]   (runs what a cancelled or interrupted sweep left)
  foldsweep aggregate <sweep-id> [--home DIR]   (re-drives a failed or stopped aggregation)
  foldsweep list [--status S] [--limit N] [--cursor C] [--json]   (the home's sweeps, newest first, paged)
  foldsweep show <sweep-id> [--json]            (status, progress, error, champion)
  foldsweep leaderboard <sweep-id> [--json]     (variants ranked by cross-validated objective)
  foldsweep advise <dataset> <model.json> [--classes ..] [--out spec.json]   (recommends a sweep)
  foldsweep serve [--home DIR] [--port 8080] [--host 127.0.0.1] [--data-root DIR]... [--max-trials N]
  foldsweep schedule add|list|show|rm|run-now ...   (scheduled retraining; see docs/retraining.md)
  foldsweep models list|show|rollback ...           (the model registry)
  foldsweep schema sweep|schedule                   (JSON Schema of a sweep spec / schedule file)

\`foldsweep <command> --help\` shows a command's flags and an example.
Ctrl-C during run cancels the sweep (a second Ctrl-C exits at once); resume continues it.
Relative paths inside a spec file resolve against the spec file's folder.
FOLDSWEEP_HOME (default ./.foldsweep) holds objects/, state.db and logs/foldsweep.log.
serve reads models and datasets only under its data roots: the folder it was started in,
/usr/share/datasets and each --data-root (or ${DATA_ROOTS_ENV}); run reads any path you can.
Spec limits (trials, lengths, classes): docs/limits-and-safety.md.

${EXIT_CODES}`;

const SUBCOMMANDS: Record<string, readonly string[]> = {
  schedule: ['add', 'list', 'show', 'rm', 'run-now'],
  models: ['list', 'show', 'rollback'],
  schema: ['sweep', 'schedule'],
};
const TOP_COMMANDS = [...Object.keys(COMMANDS).filter((c) => !c.includes(' ')), 'help'];

const BACKENDS = ['auto', 'wasm', 'cpu', 'tensorflow', 'tensorflow-gpu'] as const;

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      home: { type: 'string' },
      concurrency: { type: 'string' },
      backend: { type: 'string', default: 'auto' },
      'max-trials': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1)
    throw ValidationError.single('<spec>', 'give one spec file: foldsweep run <spec.json>');
  const limits = limitsWith(values['max-trials']);
  const backend = values.backend as (typeof BACKENDS)[number];
  if (!BACKENDS.includes(backend))
    throw ValidationError.single('--backend', `must be one of ${BACKENDS.join(', ')}`);
  const spec = await readJsonFile(positionals[0], '<spec>', resolveSpecPaths);
  // Before anything is stored or run: a forced backend that cannot load fails here, once.
  const backendLine = await checkBackend(backend);
  const view = new SweepProgressView();
  const deps = localDeps({
    home: values.home,
    concurrency: positiveInt('concurrency', values.concurrency),
    backend,
    onEvent: view.onEvent,
    limits,
  });
  const started = Date.now();
  let sweepId: string | undefined;
  const stopOnInterrupt = cancelOnInterrupt(deps, () => sweepId);
  try {
    process.stderr.write(`${backendLine}\npreparing data and model (home ${deps.home}) ...\n`);
    const submitted = await submitSweep(deps, spec);
    sweepId = submitted.id;
    deps.driving.add(sweepId);
    const prepared = await prepareSweep(deps, sweepId);
    if (prepared.status === 'failed' && !prepared.sweep.planKey) {
      // Rejected before it was planned, and nobody was told its id: no row stays either.
      deps.driving.delete(sweepId);
      await deps.state.deleteSweep?.(sweepId);
      throw new ValidationError(prepared.sweep.error ?? 'invalid sweep spec', prepared.issues);
    }
    if (prepared.status === 'running') {
      for (const line of preprocessingNotes(prepared.plan)) process.stderr.write(`${line}\n`);
      view.start(prepared.plan);
      await deps.executor.waitFor(sweepId);
    }
    view.stop();
    return await printOutcome(deps, sweepId, started, values.json);
  } finally {
    stopOnInterrupt();
    view.stop();
    await deps.close();
  }
}

/**
 * Ctrl-C cancels the sweep (its trainers stop, finished trials stay; `foldsweep resume` runs the
 * rest); a second Ctrl-C exits at once.
 */
function cancelOnInterrupt(deps: LocalDeps, sweepId: () => string | undefined) {
  let interrupted = false;
  const onSignal = () => {
    const id = sweepId();
    if (interrupted || !id) {
      process.stderr.write('\ninterrupted again: exiting now\n');
      process.exit(EXIT.interrupted);
    }
    interrupted = true;
    process.stderr.write(
      `\ncancelling sweep ${id} (Ctrl-C again to exit now; foldsweep resume ${id} continues it)\n`,
    );
    cancelSweep(deps, id).catch((error: unknown) =>
      process.stderr.write(`cancel failed: ${(error as Error).message}\n`),
    );
  };
  process.on('SIGINT', onSignal);
  return () => process.off('SIGINT', onSignal);
}

/** Prints the sweep's end, leaderboard and champion; 0 when completed, 1 otherwise. */
async function printOutcome(
  deps: LocalDeps,
  id: string,
  started: number,
  json = false,
): Promise<number> {
  const final = await getSweep(deps, id);
  if (json) {
    const champion = final.planKey ? await deps.state.getChampion(id) : undefined;
    const doc = {
      sweep: final,
      seconds: (Date.now() - started) / 1000,
      leaderboard: final.planKey ? await getLeaderboard(deps, id) : null,
      champion: champion
        ? { ...champion, modelPath: join(deps.home, 'objects', championPrefix(id), 'model.json') }
        : null,
      report: final.planKey ? join(deps.home, 'objects', htmlReportKey(id)) : null,
    };
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return exitCodeOf(final.status);
  }
  const out = process.stdout;
  out.write(
    `\nSweep ${final.id}${final.name ? ` (${final.name})` : ''}: ${final.status} in ${((Date.now() - started) / 1000).toFixed(1)} s\n\n`,
  );
  if (final.planKey) {
    const board = await getLeaderboard(deps, id);
    out.write(`${formatLeaderboard(board)}\n\n`);
    const trainedOn = backendsUsed(await deps.state.listTrials(id));
    if (trainedOn) out.write(`${trainedOn}\n`);
    const champion = await deps.state.getChampion(id);
    if (champion) {
      const dir = join(deps.home, 'objects', championPrefix(id));
      const metadata = await readChampionMetadata(deps, champion);
      out.write(`${championLines(champion, dir, board.objective, metadata).join('\n')}\n`);
    }
    out.write(`report: ${join(deps.home, 'objects', htmlReportKey(id))}\n`);
    out.write(`        ${join(deps.home, 'objects', reportKey(id))}\n`);
  }
  if (final.status === 'cancelled') {
    process.stderr.write(`sweep cancelled: resume it with foldsweep resume ${id}\n`);
    return EXIT.cancelled;
  }
  if (final.status !== 'completed') {
    process.stderr.write(`sweep ${final.status}${final.error ? `: ${final.error}` : ''}\n`);
  }
  return exitCodeOf(final.status);
}

/** completed 0, cancelled 4, failed (or stopped unfinished) 1. */
function exitCodeOf(status: string): number {
  if (status === 'completed') return EXIT.ok;
  return status === 'cancelled' ? EXIT.cancelled : EXIT.sweepFailed;
}

/** The spec limits of FOLDSWEEP_MAX_*, with `--max-trials` over them. */
function limitsWith(maxTrials: string | undefined) {
  const limits = specLimitsFromEnv(process.env);
  return { ...limits, maxTrials: positiveInt('max-trials', maxTrials) ?? limits.maxTrials };
}

/** `foldsweep cancel|resume|aggregate <sweep-id>`: one lifecycle verb on a stored sweep. */
async function sweepVerb(verb: 'cancel' | 'resume' | 'aggregate', args: string[]) {
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
    throw ValidationError.single('<sweep-id>', `give one sweep id: foldsweep ${verb} <sweep-id>`);
  const id = positionals[0];
  if (verb === 'resume') {
    process.stderr.write(`${await checkBackend(values.backend as (typeof BACKENDS)[number])}\n`);
  }
  const view = new SweepProgressView();
  const deps = localDeps({
    home: values.home,
    concurrency: positiveInt('concurrency', values.concurrency),
    backend: values.backend as (typeof BACKENDS)[number],
    onEvent: view.onEvent,
  });
  const started = Date.now();
  const stopOnInterrupt = verb === 'resume' ? cancelOnInterrupt(deps, () => id) : () => {};
  try {
    if (verb === 'cancel') {
      const sweep = await cancelSweep(deps, id);
      process.stdout.write(
        `sweep ${id} cancelled (was driven by ${(await deps.state.getSweep(id))?.owner?.id ?? 'this process'}); its trainers stop within seconds\n`,
      );
      return sweep.status === 'cancelled' ? 0 : 1;
    }
    deps.driving.add(id);
    if (verb === 'aggregate') {
      await redriveAggregation(deps, id);
      return await printOutcome(deps, id, started);
    }
    const outcome = await resumeSweep(deps, id);
    if (outcome.status === 'skipped') {
      process.stderr.write(`not resumed: ${outcome.reason}\n`);
      return 1;
    }
    if (outcome.status === 'running') {
      process.stderr.write(`resuming sweep ${id}: ${outcome.unfinished} unfinished trial(s)\n`);
      view.start(outcome.plan);
      await deps.executor.waitFor(id);
    } else if (outcome.status === 'preparing' && outcome.outcome.status === 'running') {
      view.start(outcome.outcome.plan);
      await deps.executor.waitFor(id);
    }
    view.stop();
    return await printOutcome(deps, id, started);
  } finally {
    stopOnInterrupt();
    view.stop();
    await deps.close();
  }
}

/** True when something already listens on host:port. */
function portInUse(port: number, host: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' ? resolve(true) : reject(error),
    );
    probe.listen(port, host, () => probe.close(() => resolve(false)));
  });
}

async function serveCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      home: { type: 'string' },
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      token: { type: 'string' },
      concurrency: { type: 'string' },
      'data-root': { type: 'string', multiple: true },
      'max-trials': { type: 'string' },
    },
  });
  const token = values.token ?? process.env.FOLDSWEEP_TOKEN;
  if (!token && !isLoopback(values.host)) {
    throw ValidationError.single(
      '--host',
      `refusing to serve on ${values.host} without a token: pass --token <secret> or set FOLDSWEEP_TOKEN (or bind 127.0.0.1)`,
    );
  }
  const dataRoots = DataRoots.fromOptions(
    process.cwd(),
    values['data-root'] ?? [],
    process.env[DATA_ROOTS_ENV],
  );
  const deps = localDeps({
    home: values.home,
    concurrency: positiveInt('concurrency', values.concurrency),
    limits: limitsWith(values['max-trials']),
    dataRoots,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw ValidationError.single('--port', 'must be 0..65535');
  // The server emits EADDRINUSE as an unhandled 'error' event; probing first names it instead.
  if (port !== 0 && (await portInUse(port, values.host))) {
    await deps.close();
    process.stderr.write(
      `error: port ${port} on ${values.host} is already in use: stop what listens there, or pick another port with --port N (--port 0 picks a free one)\n`,
    );
    return 2;
  }
  const server = await startServer(deps, { port, hostname: values.host, token });
  process.stdout.write(
    `foldsweep API on http://${values.host}:${server.port} (home ${deps.home})\n`,
  );
  process.stdout.write(
    `reading models and datasets only under: ${dataRoots.roots.join(', ')} (relative spec paths resolve against ${dataRoots.base})\n`,
  );
  const stopScheduler = await startScheduler(deps);
  // Sweeps no live process drives (their process stopped or crashed): taken over now, and
  // checked again every lease period, so a `foldsweep run` killed later is picked up too.
  const adopt = async () => {
    const taken = await deps.adoptOrphans();
    if (taken.length > 0) {
      process.stdout.write(
        `took over ${taken.length} sweep(s) left by a stopped process: ${taken.join(', ')}\n`,
      );
    }
  };
  await adopt();
  const adopter = setInterval(() => {
    adopt().catch((error: unknown) =>
      deps.logger.error({ err: error }, 'taking over orphaned sweeps failed'),
    );
  }, deps.owner.leaseMs);
  await new Promise<void>((done) => {
    const stop = () => done();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  clearInterval(adopter);
  await stopScheduler();
  await server.close();
  await deps.close();
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!TOP_COMMANDS.includes(command)) {
    process.stderr.write(`error: ${unknownCommand(command, TOP_COMMANDS)}\n`);
    return 2;
  }
  const subs = SUBCOMMANDS[command];
  const sub = subs?.includes(rest[0] ?? '') ? rest[0] : undefined;
  if (subs && rest[0] !== undefined && !rest[0].startsWith('-') && rest[0] !== 'help' && !sub) {
    process.stderr.write(`error: ${unknownCommand(rest[0], subs, `${command} `)}\n`);
    return 2;
  }
  const helpName = sub ? `${command} ${sub}` : command;
  if (rest.includes('--help') || rest.includes('-h') || (subs && rest[0] === 'help')) {
    process.stdout.write(COMMANDS[helpName] ? formatHelp(helpName) : USAGE);
    return 0;
  }
  try {
    if (command === 'list' || command === 'show' || command === 'leaderboard')
      return await inspectCommand(command, rest);
    if (command === 'run') return await run(rest);
    if (command === 'serve') return await serveCommand(rest);
    if (command === 'cancel' || command === 'resume' || command === 'aggregate') {
      return await sweepVerb(command, rest);
    }
    if (command === 'schedule') {
      return await scheduleCommand(rest, (o) =>
        localDeps({ home: o.home, concurrency: o.concurrency }),
      );
    }
    if (command === 'schema') return schemaCommand(rest);
    if (command === 'advise') return await adviseCommand(rest, (o) => localDeps({ home: o.home }));
    if (command === 'models') {
      return await modelsCommand(rest, (o) =>
        localDeps({ home: o.home, concurrency: o.concurrency }),
      );
    }
    process.stdout.write(USAGE);
    return 0;
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
    if ((error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const flag = /'(-[^']*)'/.exec((error as Error).message)?.[1] ?? '';
      process.stderr.write(`error: ${unknownFlag(flag, helpName)}\n`);
      return EXIT.badInput;
    }
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(
        `error: ${(error as Error).message} (foldsweep ${helpName} --help lists the flags)\n`,
      );
      return EXIT.badInput;
    }
    if (error instanceof FoldsweepError) {
      process.stderr.write(`error: ${(error as Error).message}\n`);
      return EXIT.badInput;
    }
    return internalError(error);
  }
}

/**
 * Anything else is a bug or a fault: one line (the stack only with FOLDSWEEP_DEBUG=1) and
 * exit 3, never the exit 1 of a failed sweep.
 */
export function internalError(error: unknown): number {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(
    `internal error: ${message}\n` +
      (process.env.FOLDSWEEP_DEBUG === '1' && error instanceof Error
        ? `${error.stack}\n`
        : "(set FOLDSWEEP_DEBUG=1 for the stack trace; the home's logs/foldsweep.log has details)\n"),
  );
  return EXIT.internal;
}

if (
  import.meta.url === `file://${process.argv[1]}` ||
  process.argv[1]?.endsWith('functions/cli/main.ts')
) {
  process.exitCode = await main(process.argv.slice(2));
}
