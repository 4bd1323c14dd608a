import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ensureWritableHome,
  HomeUnusableError,
  storageProblem,
} from '../../../../../shared/adapters/local/home.js';

const errno = (code: string) => Object.assign(new Error(`${code}: simulated`), { code });

describe('storageProblem()', () => {
  it.each([
    ['ENOTDIR', 'not-a-folder', /is not a folder \(ENOTDIR\): give --home/],
    ['EACCES', 'not-writable', /is not writable by this user \(EACCES\): make it writable/],
    ['EROFS', 'read-only', /is on a read-only file system \(EROFS\): give --home a folder/],
    ['ENOSPC', 'full', /the disk is full \(ENOSPC\): free space on it .*foldsweep resume/],
    ['EDQUOT', 'full', /the disk is full \(EDQUOT\)/],
    ['SQLITE_FULL', 'full', /the disk is full \(SQLITE_FULL\)/],
    ['SQLITE_READONLY', 'not-writable', /is not writable by this user \(SQLITE_READONLY\)/],
  ])('names the home and what to do for %s', (code, problem, message) => {
    const error = storageProblem(errno(code), '/data/home');

    expect(error).toBeInstanceOf(HomeUnusableError);
    expect(error).toMatchObject({ problem, code, place: '/data/home' });
    expect(error?.message).toMatch(/^home \/data\/home/);
    expect(error?.message).toMatch(message);
    expect(error?.message).not.toContain('\n');
  });

  it('leaves other errors alone, and problems not asked for', () => {
    expect(storageProblem(errno('ENOENT'), '/h')).toBeUndefined();
    expect(storageProblem(new Error('no code'), '/h')).toBeUndefined();
    expect(storageProblem(errno('ENOTDIR'), '/h', undefined, { only: ['full'] })).toBeUndefined();
  });
});

describe('ensureWritableHome()', () => {
  let tmp: string;
  beforeEach(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'foldsweep-home-'));
  });
  afterEach(() => rm(tmp, { recursive: true, force: true }));

  it('makes the home and its logs folder and leaves no probe behind', async () => {
    const home = path.join(tmp, 'a', 'home');
    ensureWritableHome(home);
    expect(await readdir(home)).toEqual(['logs']);
  });

  it('refuses a home that is a file, naming it', async () => {
    const file = path.join(tmp, 'home');
    await writeFile(file, 'not a folder');
    expect(() => ensureWritableHome(file)).toThrow(
      expect.objectContaining({ name: 'HomeUnusableError', problem: 'not-a-folder' }),
    );
    expect(() => ensureWritableHome(file)).toThrow(`home ${file} is not a folder`);
  });

  it('refuses a disk with less free space than needed, before anything is written', () => {
    const home = path.join(tmp, 'home');
    expect(() => ensureWritableHome(home, { minFreeBytes: Number.MAX_SAFE_INTEGER })).toThrow(
      /the disk is full \(ENOSPC \d+ KB free, at least \d+ KB needed\)/,
    );
  });
});
