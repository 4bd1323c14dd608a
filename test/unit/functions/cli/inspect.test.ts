import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectCommand } from '../../../../functions/cli/inspect.js';
import { SqliteStateStore } from '../../../../shared/adapters/local/sqlite-state-store.js';
import { sweepRecordFactory } from '../../../contracts/state-store.contract.js';
import { makeTempDir, type TempDir } from '../../../helpers/images.js';

function sink() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

let tmp: TempDir;
let home: string;
beforeAll(async () => {
  tmp = await makeTempDir();
  home = join(tmp.path, 'home');
  const state = new SqliteStateStore(join(home, 'state.db'));
  for (let i = 0; i < 5; i++) {
    await state.createSweep(
      sweepRecordFactory({ id: `s${i}`, createdAt: `2025-01-01T10:0${i}:00.000Z` }),
    );
  }
  await state.close();
});
afterAll(() => tmp.cleanup());

async function list(args: string[]) {
  const out = sink();
  const err = sink();
  const code = await inspectCommand('list', ['--home', home, ...args], out.stream, err.stream);
  return { code, out: out.text(), err: err.text() };
}

describe('foldsweep list --limit --cursor', () => {
  it('pages the sweeps: --json arrays on stdout, the next cursor on stderr', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 5; pages++) {
      const result = await list([
        '--limit',
        '2',
        '--json',
        ...(cursor ? ['--cursor', cursor] : []),
      ]);
      expect(result.code).toBe(0);
      seen.push(...(JSON.parse(result.out) as { id: string }[]).map((s) => s.id));
      cursor = /^next: (\S+) {2}\(foldsweep list --cursor \1\)$/m.exec(result.err)?.[1];
      if (!cursor) break;
    }
    expect(seen).toEqual(['s4', 's3', 's2', 's1', 's0']);
  });

  it('names a cursor it did not issue', async () => {
    await expect(list(['--cursor', 'nope'])).rejects.toThrow(/^cursor: is not a cursor/);
  });
});
