import { afterEach, describe, expect, it, vi } from 'vitest';
import { COMMANDS, editDistance, suggest } from '../../../../functions/cli/help.js';
import { main } from '../../../../functions/cli/main.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out.push(String(chunk));
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    err.push(String(chunk));
    return true;
  });
  return { out: () => out.join(''), err: () => err.join('') };
}

afterEach(() => vi.restoreAllMocks());

describe('foldsweep --help', () => {
  it('prints the overview with every command and the exit codes, exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const io = capture();
      expect(await main([flag])).toBe(0);
      for (const command of [
        'run',
        'cancel',
        'resume',
        'aggregate',
        'serve',
        'advise',
        'list',
        'show',
        'leaderboard',
        'schedule',
        'models',
      ])
        expect(io.out()).toContain(`foldsweep ${command}`);
      expect(io.out()).toContain('Exit codes:');
      vi.restoreAllMocks();
    }
  });

  it.each(Object.keys(COMMANDS))(
    '%s --help prints its usage, flags and an example, exit 0',
    async (name) => {
      for (const flag of ['--help', '-h']) {
        const io = capture();
        expect(await main([...name.split(' '), flag])).toBe(0);
        const text = io.out();
        expect(text).toContain(`foldsweep ${name}`);
        expect(text).toContain('Flags:');
        // schema reads no home: it prints a schema built from the code.
        if (name !== 'schema') expect(text).toContain('--home');
        expect(text).toContain('Example:');
        expect(text).toContain(COMMANDS[name]?.example ?? '?');
        vi.restoreAllMocks();
      }
    },
  );
});

describe('typos', () => {
  it('names an unknown command and suggests the nearest one, exit 2', async () => {
    const io = capture();
    expect(await main(['runn', 'spec.json'])).toBe(2);
    expect(io.err()).toContain("unknown command 'runn': did you mean 'run'?");
  });

  it('names an unknown subcommand with a suggestion, exit 2', async () => {
    const io = capture();
    expect(await main(['models', 'lst'])).toBe(2);
    expect(io.err()).toContain("unknown models command 'lst': did you mean 'list'?");
  });

  it('names an unknown flag for its command with a suggestion, exit 2', async () => {
    const io = capture();
    expect(await main(['run', 'spec.json', '--concurency', '2'])).toBe(2);
    expect(io.err()).toContain('unknown flag --concurency for run: did you mean --concurrency?');
    expect(io.err()).not.toContain('ERR_PARSE_ARGS');
  });

  it('names an unknown subcommand flag', async () => {
    const io = capture();
    expect(await main(['schedule', 'show', 'x', '--limt', '3'])).toBe(2);
    expect(io.err()).toContain('unknown flag --limt for schedule show: did you mean --limit?');
  });

  it('no suggestion when nothing is close', async () => {
    const io = capture();
    expect(await main(['xyzzyplugh'])).toBe(2);
    expect(io.err()).toContain("unknown command 'xyzzyplugh'");
    expect(io.err()).not.toContain('did you mean');
  });

  it('edit distance', () => {
    expect(editDistance('runn', 'run')).toBe(1);
    expect(editDistance('concurency', 'concurrency')).toBe(1);
    expect(suggest('lst', ['list', 'show'])).toBe('list');
  });
});

describe('foldsweep serve off loopback', () => {
  it('refuses to start on 0.0.0.0 without a token, naming --token and FOLDSWEEP_TOKEN, exit 2', async () => {
    const saved = process.env.FOLDSWEEP_TOKEN;
    delete process.env.FOLDSWEEP_TOKEN;
    try {
      const io = capture();
      expect(await main(['serve', '--host', '0.0.0.0', '--port', '0'])).toBe(2);
      expect(io.err()).toMatch(
        /refusing to serve on 0\.0\.0\.0 without a token: pass --token <secret> or set FOLDSWEEP_TOKEN/,
      );
      expect(io.out()).not.toContain('foldsweep API on');
    } finally {
      if (saved !== undefined) process.env.FOLDSWEEP_TOKEN = saved;
    }
  });
});
