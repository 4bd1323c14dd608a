/**
 * Per-command help, and the "did you mean" suggestions for a mistyped command or flag.
 */

/** One command's help: its usage line, flags and an example. */
export interface CommandHelp {
  usage: string;
  summary: string;
  flags: Record<string, string>;
  example: string;
}

const HOME = 'state folder (default $FOLDSWEEP_HOME or ./.foldsweep)';
const CONCURRENCY = 'trainer processes at once (default: cores - 1)';
const BACKEND =
  'auto|wasm|cpu|tensorflow|tensorflow-gpu (default auto: the most capable installed); a forced one that cannot load stops the command before any trial';
const MAX_TRIALS = 'most trials one sweep may plan (default 1000, or FOLDSWEEP_MAX_TRIALS)';

export const COMMANDS: Record<string, CommandHelp> = {
  run: {
    usage: 'foldsweep run <spec.json> [flags]',
    summary: 'runs a sweep in this process and prints the leaderboard and the champion',
    flags: {
      home: HOME,
      concurrency: CONCURRENCY,
      backend: BACKEND,
      'max-trials': MAX_TRIALS,
      json: 'print one JSON document (sweep, leaderboard, champion) on stdout',
    },
    example: 'foldsweep run specs/flowers.json --concurrency 2',
  },
  cancel: {
    usage: 'foldsweep cancel <sweep-id> [flags]',
    summary: 'cancels a sweep: its trainers stop, finished trials stay',
    flags: { home: HOME, concurrency: CONCURRENCY, backend: BACKEND },
    example: 'foldsweep cancel 01HZX3K9 --home ./.foldsweep',
  },
  resume: {
    usage: 'foldsweep resume <sweep-id> [flags]',
    summary: 'runs what a cancelled or interrupted sweep left',
    flags: { home: HOME, concurrency: CONCURRENCY, backend: BACKEND },
    example: 'foldsweep resume 01HZX3K9 --concurrency 2',
  },
  aggregate: {
    usage: 'foldsweep aggregate <sweep-id> [flags]',
    summary: 're-drives a failed or stopped aggregation',
    flags: { home: HOME, concurrency: CONCURRENCY, backend: BACKEND },
    example: 'foldsweep aggregate 01HZX3K9',
  },
  serve: {
    usage: 'foldsweep serve [flags]',
    summary: 'serves the HTTP API (and runs scheduled retraining)',
    flags: {
      home: HOME,
      port: 'TCP port (default 8080; 0 picks a free one)',
      host: 'address to bind (default 127.0.0.1; any other needs --token)',
      token: 'bearer token every request but /health must send (default FOLDSWEEP_TOKEN)',
      'data-root':
        'a folder specs may read models and datasets from (repeatable; also FOLDSWEEP_DATA_ROOTS, colon-separated); the start folder and /usr/share/datasets always are',
      'max-trials': MAX_TRIALS,
      concurrency: CONCURRENCY,
    },
    example: 'foldsweep serve --port 8081',
  },
  list: {
    usage: 'foldsweep list [flags]',
    summary: "lists the home's sweeps, newest first",
    flags: {
      home: HOME,
      status:
        'only this status (pending, preparing, running, aggregating, completed, failed, cancelled)',
      limit: 'at most N sweeps per page (default 50, at most 1000)',
      cursor: 'the next page: the cursor the previous page printed on stderr (next: ...)',
      json: 'print one JSON array on stdout (the next cursor, if any, goes to stderr)',
    },
    example: 'foldsweep list --status completed --limit 10 --json',
  },
  schema: {
    usage: 'foldsweep schema sweep|schedule',
    summary:
      'prints the JSON Schema of a sweep spec or a schedule file (for editors: "$schema" in sweep.json)',
    flags: {},
    example: 'foldsweep schema sweep > sweep.schema.json',
  },
  show: {
    usage: 'foldsweep show <sweep-id> [flags]',
    summary: 'shows a sweep: status, progress, error and issues, champion scores and paths',
    flags: { home: HOME, json: 'print one JSON document on stdout' },
    example: 'foldsweep show 01HZX3K9 --json',
  },
  leaderboard: {
    usage: 'foldsweep leaderboard <sweep-id> [flags]',
    summary: "a sweep's variants ranked by cross-validated objective",
    flags: { home: HOME, json: 'print one JSON document on stdout' },
    example: 'foldsweep leaderboard 01HZX3K9',
  },
  advise: {
    usage: 'foldsweep advise <dataset> <model.json> [flags]',
    summary: 'recommends a sweep spec for a dataset and a base model',
    flags: {
      classes: 'number of classes',
      'per-class': 'samples per class',
      'class-names': 'comma-separated class names',
      labels: 'labels file',
      'test-set': 'test-set dataset',
      'probe-per-class': 'samples per class the probe reads',
      seed: 'random seed',
      name: 'sweep name',
      out: 'write the spec here (without it: spec JSON on stdout)',
      force: 'overwrite --out',
      json: 'print one JSON document (spec, probes, reasons, warnings, trials) on stdout',
      home: HOME,
    },
    example: 'foldsweep advise data/images.bin models/base/model.json --classes 5 --out spec.json',
  },
  schedule: {
    usage: 'foldsweep schedule add|list|show|rm|run-now ...',
    summary: 'scheduled retraining (see docs/retraining.md)',
    flags: { home: HOME, json: 'print JSON' },
    example: 'foldsweep schedule list --json',
  },
  'schedule add': {
    usage: 'foldsweep schedule add <schedule.json> [flags]',
    summary: 'adds a retraining schedule',
    flags: { home: HOME, json: 'print JSON' },
    example: 'foldsweep schedule add nightly.json',
  },
  'schedule list': {
    usage: 'foldsweep schedule list [flags]',
    summary: 'lists the schedules',
    flags: { home: HOME, json: 'print JSON' },
    example: 'foldsweep schedule list --json',
  },
  'schedule show': {
    usage: 'foldsweep schedule show <schedule-id> [flags]',
    summary: 'shows a schedule and its recent runs',
    flags: { home: HOME, json: 'print JSON', limit: 'runs shown' },
    example: 'foldsweep schedule show sch_01HZ --limit 5',
  },
  'schedule rm': {
    usage: 'foldsweep schedule rm <schedule-id> [flags]',
    summary: 'removes a schedule',
    flags: { home: HOME, json: 'print JSON', force: 'remove even with a run in progress' },
    example: 'foldsweep schedule rm sch_01HZ',
  },
  'schedule run-now': {
    usage: 'foldsweep schedule run-now <schedule-id> [flags]',
    summary: 'runs a schedule now',
    flags: {
      home: HOME,
      json: 'print JSON',
      'no-wait': 'start it and return',
      concurrency: CONCURRENCY,
    },
    example: 'foldsweep schedule run-now sch_01HZ --no-wait',
  },
  models: {
    usage: 'foldsweep models list|show|rollback ...',
    summary: 'the model registry',
    flags: { home: HOME, json: 'print JSON' },
    example: 'foldsweep models list',
  },
  'models list': {
    usage: 'foldsweep models list [flags]',
    summary: 'lists registered models',
    flags: { home: HOME, json: 'print JSON' },
    example: 'foldsweep models list --json',
  },
  'models show': {
    usage: 'foldsweep models show <name> [flags]',
    summary: 'shows a model and its versions',
    flags: { home: HOME, json: 'print JSON', version: 'one version' },
    example: 'foldsweep models show flowers --version 2',
  },
  'models rollback': {
    usage: 'foldsweep models rollback <name> --version N [flags]',
    summary: 'makes an earlier version current',
    flags: { home: HOME, json: 'print JSON', version: 'the version', reason: 'why (recorded)' },
    example: 'foldsweep models rollback flowers --version 2 --reason "regression"',
  },
};

/** The process exit codes, one meaning each, so scripts can tell the outcomes apart. */
export const EXIT = {
  /** A completed sweep; any other command that did what it was asked. */
  ok: 0,
  /** The sweep ran and ended failed (or a command could not do it: nothing to resume). */
  sweepFailed: 1,
  /** Bad input: unknown command or flag, a spec, model or dataset rejected, an unusable --home, a busy port. */
  badInput: 2,
  /** A bug or an unexpected fault (details in <home>/logs/foldsweep.log). */
  internal: 3,
  /** The sweep was cancelled (Ctrl-C, foldsweep cancel); foldsweep resume continues it. */
  cancelled: 4,
  /** A second Ctrl-C: exited at once. */
  interrupted: 130,
} as const;

export const EXIT_CODES = `Exit codes:
  0    success: the sweep completed, or the command did what it was asked
  1    the sweep ended failed (or the command could not do it, e.g. nothing to resume)
  2    bad input: unknown command or flag, invalid spec, model or dataset, unusable --home, busy port
  3    internal error (a bug or an unexpected fault; see <home>/logs/foldsweep.log)
  4    the sweep was cancelled (foldsweep resume <id> continues it)
  130  interrupted by a second Ctrl-C
`;

/** The help text of one command ('run', 'schedule add', ...). */
export function formatHelp(name: string): string {
  const help = COMMANDS[name];
  if (!help) return '';
  const width = Math.max(...Object.keys(help.flags).map((f) => f.length), 4) + 4;
  const flags = Object.entries({ ...help.flags, help: 'show this help' })
    .map(([flag, text]) => `  --${flag.padEnd(width)}${text}`)
    .join('\n');
  return `${help.usage}\n\n${help.summary}\n\nFlags:\n${flags}\n\nExample:\n  ${help.example}\n\n${EXIT_CODES}`;
}

/** Levenshtein distance. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The closest candidate within a third of the word's length (at least 2 edits), if any. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = editDistance(word, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** "unknown command 'runn': did you mean 'run'?" */
export function unknownCommand(word: string, candidates: readonly string[], scope = ''): string {
  const hint = suggest(word, candidates);
  return `unknown ${scope}command '${word}'${hint ? `: did you mean '${hint}'?` : ''} (foldsweep --help lists them)`;
}

/** "unknown flag --concurency for run: did you mean --concurrency?" */
export function unknownFlag(flag: string, command: string): string {
  const name = flag.replace(/^-+/, '');
  const known = [...Object.keys(COMMANDS[command]?.flags ?? {}), 'help'];
  const hint = suggest(name, known);
  return `unknown flag ${flag} for ${command}${hint ? `: did you mean --${hint}?` : ''} (foldsweep ${command} --help lists them)`;
}
