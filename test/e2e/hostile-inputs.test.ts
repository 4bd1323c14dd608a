/**
 * A catalog of hostile inputs: bad specs, base model files, datasets and HTTP requests, each
 * rejected with its exit code or status, a message naming the field or file and what to do, and
 * the home unchanged (sweep and trial rows, objects). Fixtures are made by code
 * (test/helpers/hostile-fixtures.ts). One home for the CLI cases (`main()` in process; a few
 * through bin/foldsweep.mjs for the exit codes), one server and home for the HTTP cases.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join, relative } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startServer } from '../../functions/api/node.js';
import { main } from '../../functions/cli/main.js';
import { type LocalDeps, localDeps } from '../../functions/deps/local.js';
import { DataRoots } from '../../shared/adapters/local/data-roots.js';
import { foldsweep } from '../helpers/cli.js';
import { writeHostileFixtures } from '../helpers/hostile-fixtures.js';
import { makeTempDir, type TempDir } from '../helpers/images.js';

type Fixtures = Awaited<ReturnType<typeof writeHostileFixtures>>;

let tmp: TempDir;
let fx: Fixtures;
let cliHome: string;
let httpHome: string;
let deps: LocalDeps;
let server: { port: number; close: () => Promise<void> };
let base: string;

/** Rows and objects of a home: what a rejected input must leave as it was. */
async function snapshot(home: string) {
  const db = new Database(join(home, 'state.db'), { readonly: true, fileMustExist: false });
  try {
    const count = (table: string) => {
      try {
        return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
      } catch {
        return 0;
      }
    };
    const failed = (
      db.prepare("SELECT count(*) AS n FROM sweeps WHERE status = 'failed'").get() as {
        n: number;
      }
    ).n;
    return {
      sweeps: count('sweeps'),
      failedSweeps: failed,
      trials: count('trials'),
      objects: await listFiles(join(home, 'objects')),
    };
  } finally {
    db.close();
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/** `foldsweep <args>` in this process: exit code and what it wrote to stderr. */
async function cli(args: string[]) {
  let stderr = '';
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    const code = await main(args);
    return { code, stderr };
  } finally {
    spy.mockRestore();
    out.mockRestore();
  }
}

let specCount = 0;
/** Writes a spec file (an object as JSON, a string as is) and runs it with `foldsweep run`. */
async function runSpec(spec: unknown) {
  const file = join(tmp.path, 'specs', `spec-${++specCount}.json`);
  await writeFile(file, typeof spec === 'string' ? spec : JSON.stringify(spec));
  return cli(['run', file, '--home', cliHome]);
}

/** A valid spec over the fixtures, with `patch` applied on top. */
function spec(patch: Record<string, unknown> = {}) {
  return {
    name: 'hostile',
    baseModel: fx.models.good,
    dataset: { uri: fx.idx.imagesFile, format: 'idx' },
    folds: 2,
    searchSpace: { strategy: ['finetune'], freezeDepth: [0], lrMultiplier: [1] },
    training: { epochs: 1, batchSize: 8 },
    ...patch,
  };
}

const folderSpec = (uri: string) => spec({ dataset: { uri, format: 'image-folder' } });
const idxSpec = (uri: string) => spec({ dataset: { uri, format: 'idx' } });

beforeAll(async () => {
  tmp = await makeTempDir('foldsweep-hostile-');
  await writeFile(join(tmp.path, 'placeholder'), '');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(join(tmp.path, 'specs'));
  fx = await writeHostileFixtures(tmp.path);
  cliHome = join(tmp.path, 'cli-home');
  httpHome = join(tmp.path, 'http-home');
  // The CLI home exists (empty) before the first case, so every case compares with a real one.
  await localDeps({ home: cliHome, logger: pino({ level: 'silent' }) }).close();
  deps = localDeps({
    home: httpHome,
    concurrency: 1,
    logger: pino({ level: 'silent' }),
    dataRoots: new DataRoots(tmp.path),
  });
  server = await startServer(deps, { port: 0 });
  base = `http://127.0.0.1:${server.port}`;
}, 60_000);

afterAll(async () => {
  await server?.close();
  await deps?.close();
  await tmp?.cleanup();
});

describe('foldsweep run: bad specs, models and datasets exit 2 and leave the home as it was', () => {
  const cases: {
    what: string;
    input: () => unknown;
    message: RegExp;
  }[] = [
    // The spec itself.
    {
      what: 'a spec file that is not JSON',
      input: () => '{ "baseModel": ',
      message: /<spec>: .*is not valid JSON/,
    },
    {
      what: 'a spec that is a JSON array',
      input: () => '[1, 2]',
      message: /\(root\): a sweep spec is a JSON object .*not an array/,
    },
    {
      what: 'no baseModel',
      input: () => ({ ...spec(), baseModel: undefined }),
      message: /baseModel: required: give a string/,
    },
    {
      what: 'an unknown field',
      input: () => spec({ foldz: 3 }),
      message: /foldz: unknown field 'foldz': remove it/,
    },
    {
      what: 'folds 1',
      input: () => spec({ folds: 1 }),
      message: /folds: folds must be at least 2/,
    },
    {
      what: 'learningRate 1e6',
      input: () => spec({ training: { learningRate: 1e6 } }),
      message: /training\.learningRate: learningRate must be at most 10/,
    },
    {
      what: 'svmC 1e7',
      input: () => spec({ searchSpace: { strategy: ['bottleneck-linear'], svmC: [1e7] } }),
      message: /searchSpace\.svmC\.0: svmC must be at most 1000000/,
    },
    {
      what: 'a string learningRate',
      input: () => spec({ training: { learningRate: 'fast' } }),
      message: /training\.learningRate: learningRate must be a number/,
    },
    {
      what: 'epochs 0',
      input: () => spec({ training: { epochs: 0 } }),
      message: /training\.epochs: .*>=1/,
    },
    {
      what: 'batchSize 5000',
      input: () => spec({ training: { batchSize: 5000 } }),
      message: /training\.batchSize: .*<=4096/,
    },
    {
      what: 'holdoutFraction 0.9',
      input: () => spec({ holdoutFraction: 0.9 }),
      message: /holdoutFraction: holdoutFraction must be at most 0.5/,
    },
    {
      what: 'an unknown strategy',
      input: () => spec({ searchSpace: { strategy: ['magic'] } }),
      message: /unknown strategy "magic": use one of/,
    },
    {
      what: 'a name of 300 characters',
      input: () => spec({ name: 'n'.repeat(300) }),
      message:
        /name: is 300 characters long; the limit is 100: shorten it \(or raise it with FOLDSWEEP_MAX_NAME_LENGTH\)/,
    },
    {
      what: 'a class name of 100 KB',
      input: () =>
        spec({
          dataset: {
            uri: fx.idx.imagesFile,
            format: 'idx',
            classNames: ['a', 'b', 'c'.repeat(100_000)],
          },
        }),
      message: /dataset\.classNames\.2: is 100000 characters long; the limit is 256/,
    },
    {
      what: '101 class names',
      input: () =>
        spec({
          dataset: {
            uri: fx.idx.imagesFile,
            format: 'idx',
            classNames: Array.from({ length: 101 }, (_, i) => `c${i}`),
          },
        }),
      message:
        /dataset\.classNames: has 101 entries; the limit is 100: give fewer \(or raise it with FOLDSWEEP_MAX_LIST_LENGTH\)/,
    },
    {
      what: 'a searchSpace list of 101 values',
      input: () =>
        spec({
          searchSpace: {
            strategy: ['finetune'],
            lrMultiplier: Array.from({ length: 101 }, (_, i) => (i + 1) / 200),
          },
        }),
      message: /searchSpace\.lrMultiplier: has 101 entries; the limit is 100/,
    },
    {
      what: 'a grid of 16,000 trials',
      input: () =>
        spec({
          folds: 10,
          searchSpace: {
            strategy: ['finetune'],
            freezeDepth: Array.from({ length: 40 }, (_, i) => i),
            lrMultiplier: Array.from({ length: 40 }, (_, i) => (i + 1) / 100),
          },
        }),
      message:
        /searchSpace: the grid makes up to 16000 trials \(1600 variants x 10 folds\); the limit is 1000 trials per sweep: .*--max-trials N or FOLDSWEEP_MAX_TRIALS/,
    },
    {
      what: 'a baseModel path of 5000 characters',
      input: () => spec({ baseModel: `/tmp/${'x'.repeat(5000)}` }),
      message: /baseModel: is 5005 characters long; the limit is 4096/,
    },
    // Base model files.
    {
      what: 'a missing model.json',
      input: () => spec({ baseModel: fx.models.missing }),
      message: /baseModel: .*missing.*does not exist: give the path of a tfjs layers model.json/,
    },
    {
      what: 'a model.json that is not JSON',
      input: () => spec({ baseModel: fx.models.notJson }),
      message:
        /baseModel: .*not-json\/model\.json: is not JSON: give the model\.json written by tf\.LayersModel\.save/,
    },
    {
      what: 'a graph model',
      input: () => spec({ baseModel: fx.models.graph }),
      message:
        /baseModel: .*graph\/model\.json: model\.json format is 'graph-model'.*convert .*--output_format=tfjs_layers_model/,
    },
    {
      what: 'a model.json without modelTopology',
      input: () => spec({ baseModel: fx.models.noTopology }),
      message:
        /no-topology\/model\.json: not a tfjs layers model.*--output_format=tfjs_layers_model/,
    },
    {
      what: 'weights.bin truncated to half',
      input: () => spec({ baseModel: fx.models.half }),
      message:
        /half\/weights\.bin: model\.json's weightsManifest describes 2204 bytes of weights but it has 1102 bytes \(truncated\).*copy model\.json and its weight files again/,
    },
    {
      what: 'weights.bin of 0 bytes',
      input: () => spec({ baseModel: fx.models.empty }),
      message: /empty\/weights\.bin: .*has 0 bytes \(truncated\)/,
    },
    {
      what: 'weights.bin 4 KB longer than the manifest says',
      input: () => spec({ baseModel: fx.models.longer }),
      message: /longer\/weights\.bin: .*has 6300 bytes \(longer than the manifest says\)/,
    },
    {
      what: 'a missing weights.bin',
      input: () => spec({ baseModel: fx.models.noWeights }),
      message:
        /no-weights\/weights\.bin: weight file named by model\.json is missing or unreadable/,
    },
    {
      what: 'float64 weights',
      input: () => spec({ baseModel: fx.models.float64 }),
      message:
        /float64\/model\.json: weight 'conv1\/kernel' has dtype 'float64'.*re-save the model/,
    },
    {
      what: "a weights path with '..'",
      input: () => spec({ baseModel: fx.models.dotdot }),
      message:
        /dotdot\/model\.json: weightsManifest path '\.\.\/secret\/weights\.bin' leaves the model's folder.*fix model\.json's weightsManifest/,
    },
    {
      what: 'an absolute weights path',
      input: () => spec({ baseModel: fx.models.absoluteWeights }),
      message: /weightsManifest path '\/etc\/passwd' is absolute/,
    },
    {
      what: 'an input shape of 50000x50000',
      input: () => spec({ baseModel: fx.models.huge }),
      message:
        /huge\/model\.json: input shape \[50000,50000,1\] is too large: .*at most 4096 pixels.*smaller input/,
    },
    {
      what: 'an input with 2 channels',
      input: () => spec({ baseModel: fx.models.twoChannels }),
      message: /two-channels\/model\.json: input shape \[8,8,2\] is not an image shape/,
    },
    {
      what: 'a model without a softmax head',
      input: () => spec({ baseModel: fx.models.noSoftmax }),
      message:
        /no-softmax\/model\.json: the last layer 'predictions' .*is not a softmax classifier/,
    },
    // Checks against the imported model and the prepared data.
    {
      what: 'freezeDepth beyond the model',
      input: () =>
        spec({ searchSpace: { strategy: ['finetune'], freezeDepth: [10], lrMultiplier: [1] } }),
      message: /searchSpace\.freezeDepth/,
    },
    {
      what: 'an unknown cutLayer',
      input: () => spec({ model: { cutLayer: 'nope' } }),
      message: /model\.cutLayer/,
    },
    {
      what: 'subset classes the dataset lacks',
      input: () =>
        spec({ dataset: { uri: fx.idx.imagesFile, format: 'idx', subset: { classes: [0, 7] } } }),
      message: /dataset\.subset/,
    },
    {
      what: 'class names that do not match the labels',
      input: () =>
        spec({ dataset: { uri: fx.idx.imagesFile, format: 'idx', classNames: ['a', 'b'] } }),
      message: /dataset\.classNames/,
    },
    // Datasets.
    {
      what: 'a missing dataset',
      input: () => idxSpec(fx.data.missing),
      message: /dataset.*nope-images-idx3-ubyte/,
    },
    {
      what: 'an IDX file with a bad magic number',
      input: () => idxSpec(fx.data.badMagic),
      message: /bad-magic\/train-images-idx3-ubyte/,
    },
    {
      what: 'a truncated IDX file',
      input: () => idxSpec(fx.data.truncated),
      message: /truncated\/train-images-idx3-ubyte/,
    },
    {
      what: 'labels that do not match the images',
      input: () => idxSpec(fx.data.labelMismatch),
      message: /label-mismatch\/train-(images|labels)/,
    },
    {
      what: 'an IDX images file without its labels file',
      input: () => idxSpec(fx.data.noLabels),
      message: /no-labels\/train-labels-idx1-ubyte/,
    },
    {
      what: 'an image folder with an empty class folder',
      input: () => folderSpec(fx.folders.emptyClass),
      message: /empty-class/,
    },
    {
      what: 'an image folder with non-image files',
      input: () => folderSpec(fx.folders.nonImage),
      message: /non-image\/(a\/notes\.txt|b\/fake\.png)/,
    },
    {
      what: 'a zero-byte JPEG',
      input: () => folderSpec(fx.folders.zeroJpeg),
      message: /zero-jpeg\/b\/empty\.jpg/,
    },
    {
      what: 'an image folder with one class',
      input: () => folderSpec(fx.folders.oneClass),
      message: /one-class/,
    },
    {
      what: 'a bad test set',
      input: () => spec({ testSet: { uri: fx.data.badMagic, format: 'idx' } }),
      message: /testSet.*bad-magic\/train-images-idx3-ubyte/,
    },
  ];

  it.each(cases)('$what', async ({ input, message }) => {
    // Prepare
    const before = await snapshot(cliHome);

    // Act
    const { code, stderr } = await runSpec(input());

    // Assess
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/\n\s+at /); // no stack
    expect(await snapshot(cliHome)).toEqual(before);
  });

  it('accepts a model.json that starts with a UTF-8 BOM (the import gets past it)', async () => {
    // A BOM model that then fails a later check shows the JSON was read.
    const before = await snapshot(cliHome);
    const { code, stderr } = await runSpec(
      spec({ baseModel: fx.models.bom, model: { cutLayer: 'nope' } }),
    );
    expect(code).toBe(2);
    expect(stderr).toMatch(/model\.cutLayer/);
    expect(stderr).not.toMatch(/not JSON/);
    expect(await snapshot(cliHome)).toEqual(before);
  });
});

describe('foldsweep serve: HTTP requests that must be refused, with the home unchanged', () => {
  /** The error's message and its issues, as a reader sees them. */
  const textOf = (body: {
    error: { message: string; issues?: { path: string; message: string }[] };
  }) =>
    [body.error.message, ...(body.error.issues ?? []).map((i) => `${i.path}: ${i.message}`)].join(
      '\n',
    );

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...headers },
    });

  /**
   * A POST on a connection of its own: the server answers 413 and closes it while the body is
   * still being sent, which would break the next request of a shared keep-alive pool.
   */
  const postOnNewConnection = (path: string, body: unknown) =>
    new Promise<Response>((resolve, reject) => {
      const data = Buffer.from(JSON.stringify(body));
      const req = httpRequest(
        `${base}${path}`,
        {
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': data.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve(new Response(Buffer.concat(chunks), { status: res.statusCode })),
          );
        },
      );
      req.on('error', reject);
      req.end(data);
    });

  const cases: {
    what: string;
    request: () => Promise<Response>;
    status: number;
    message: RegExp;
  }[] = [
    {
      what: 'a text/plain POST',
      request: () => post('/sweeps', spec(), { 'content-type': 'text/plain' }),
      status: 415,
      message: /send the body as JSON with "Content-Type: application\/json"/,
    },
    {
      what: 'a cross-site POST',
      request: () => post('/sweeps', spec(), { origin: 'https://evil.example' }),
      status: 403,
      message: /Origin https:\/\/evil\.example is not this server/,
    },
    {
      what: 'a POST without a body',
      request: () => fetch(`${base}/sweeps`, { method: 'POST' }),
      status: 400,
      message: /\(body\): the body is not JSON: send a sweep spec as JSON/,
    },
    {
      what: 'a body that is not JSON',
      request: () => post('/sweeps', '{"baseModel":'),
      status: 400,
      message: /the body is not JSON/,
    },
    {
      what: 'a 2 MB body',
      request: () =>
        postOnNewConnection('/sweeps', { ...spec(), name: 'x'.repeat(2 * 1024 * 1024) }),
      status: 413,
      message: /larger than the 1048576-byte limit \(raise it with the bodyLimitBytes option\)/,
    },
    {
      what: 'PUT /sweeps',
      request: () => fetch(`${base}/sweeps`, { method: 'PUT' }),
      status: 405,
      message: /PUT is not allowed on \/sweeps: use/,
    },
    {
      what: 'a sweep id that climbs out',
      request: () => fetch(`${base}/sweeps/..%2F..%2Fetc%2Fpasswd`),
      status: 404,
      message: /not found/,
    },
    {
      what: 'a sweep id of 5000 characters',
      request: () => fetch(`${base}/sweeps/${'z'.repeat(5000)}`),
      status: 404,
      message: /not found/,
    },
    {
      what: 'a sweep id with a NUL',
      request: () => fetch(`${base}/sweeps/a%00b/leaderboard`),
      status: 404,
      message: /not found/,
    },
    {
      what: 'limit=0',
      request: () => fetch(`${base}/sweeps?limit=0`),
      status: 400,
      message: /limit/,
    },
    {
      what: 'limit=abc',
      request: () => fetch(`${base}/sweeps?limit=abc`),
      status: 400,
      message: /limit/,
    },
    {
      what: 'limit=1000000',
      request: () => fetch(`${base}/sweeps?limit=1000000`),
      status: 400,
      message: /limit/,
    },
    {
      what: 'an unknown query parameter',
      request: () => fetch(`${base}/sweeps?offset=5`),
      status: 400,
      message: /offset/,
    },
    {
      what: 'an unknown status',
      request: () => fetch(`${base}/sweeps?status=bogus`),
      status: 400,
      message: /status must be one of/,
    },
    {
      what: 'learningRate 1e6',
      request: () => post('/sweeps', spec({ training: { learningRate: 1e6 } })),
      status: 400,
      message: /training\.learningRate: learningRate must be at most 10/,
    },
    {
      what: 'a grid over the trial limit',
      request: () =>
        post(
          '/sweeps',
          spec({
            folds: 20,
            searchSpace: {
              strategy: ['finetune'],
              lrMultiplier: Array.from({ length: 60 }, (_, i) => (i + 1) / 100),
            },
          }),
        ),
      status: 400,
      message: /the limit is 1000 trials per sweep/,
    },
    {
      what: 'a baseModel outside the data roots (/etc/passwd)',
      request: () => post('/sweeps', spec({ baseModel: '/etc/passwd' })),
      status: 400,
      message:
        /baseModel: '\/etc\/passwd' is outside the folders this server reads.*--data-root <folder>/,
    },
    {
      what: 'a relative baseModel that climbs out',
      request: () => post('/sweeps', spec({ baseModel: '../../../../etc/passwd' })),
      status: 400,
      message:
        /baseModel: '\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd' is outside the folders this server reads/,
    },
    {
      what: 'a file:// baseModel outside the roots',
      request: () => post('/sweeps', spec({ baseModel: 'file:///etc/passwd' })),
      status: 400,
      message: /is outside the folders this server reads/,
    },
    {
      what: 'a dataset folder outside the roots (/etc)',
      request: () => post('/sweeps', spec({ dataset: { uri: '/etc', format: 'image-folder' } })),
      status: 400,
      message: /dataset\.uri: '\/etc' is outside the folders this server reads/,
    },
    {
      what: 'a labelsUri outside the roots',
      request: () =>
        post(
          '/sweeps',
          spec({ dataset: { uri: fx.idx.imagesFile, format: 'idx', labelsUri: '/etc/shadow' } }),
        ),
      status: 400,
      message: /dataset\.labelsUri: '\/etc\/shadow' is outside/,
    },
    {
      what: 'a schedule whose model declares a 50000x50000 input',
      request: () =>
        post('/schedules', {
          id: 'huge',
          cron: '0 2 * * *',
          dataset: { uri: fx.idx.imagesFile, format: 'idx' },
          template: { baseModel: fx.models.huge, holdoutFraction: 0.2 },
        }),
      status: 400,
      message: /huge\/model\.json: input shape \[50000,50000,1\] is too large/,
    },
  ];

  it.each(cases)('$what', async ({ request, status, message }) => {
    // Prepare
    const before = await snapshot(httpHome);

    // Act
    const res = await request();
    const body = (await res.json()) as {
      error: { message: string; issues?: { path: string; message: string }[] };
    };

    // Assess
    expect(res.status).toBe(status);
    expect(textOf(body)).toMatch(message);
    expect(JSON.stringify(body)).not.toMatch(/\\n\s+at /);
    expect(await snapshot(httpHome)).toEqual(before);
  });

  it('refuses a schedule whose template fails after import, leaving no model or dataset', async () => {
    const before = await snapshot(httpHome);
    const res = await post('/schedules', {
      id: 'deep-freeze',
      cron: '0 2 * * *',
      dataset: { uri: fx.idx.imagesFile, format: 'idx' },
      template: {
        baseModel: fx.models.good,
        holdoutFraction: 0.2,
        searchSpace: { strategy: ['finetune'], freezeDepth: [10], lrMultiplier: [1] },
      },
    });
    const body = (await res.json()) as { error: { message: string } };
    expect(res.status).toBe(400);
    expect(body.error.message).toMatch(/template\.searchSpace\.freezeDepth/);
    expect(await snapshot(httpHome)).toEqual(before);
  });

  it('resolves a relative spec path against the folder serve started in and stores it absolute', async () => {
    const before = await snapshot(httpHome);
    const view = (await failedInPreparation(spec({ baseModel: 'models/half/model.json' }))) as {
      spec?: { baseModel: string };
      error?: string;
    };
    expect(view.spec?.baseModel).toBe(fx.models.half);
    expect(view.error).toMatch(/half\/weights\.bin: .*\(truncated\)/);
    expect((await snapshot(httpHome)).objects).toEqual(before.objects);
  });

  it('answers a path outside the roots the same whether it exists or not', async () => {
    const answer = async (path: string) => {
      const res = await post('/sweeps', spec({ baseModel: path }));
      const text = JSON.stringify(await res.json()).replaceAll(path, '<path>');
      return { status: res.status, text };
    };
    const [exists, missing] = [await answer('/etc/passwd'), await answer('/nonexistent/x')];
    expect(exists.status).toBe(400);
    expect(missing).toEqual(exists);
  });

  /** POSTs a spec that passes submission and waits for its preparation to fail. */
  async function failedInPreparation(body: unknown) {
    const res = await post('/sweeps', body);
    expect(res.status).toBe(202);
    const { sweep } = (await res.json()) as { sweep: { id: string } };
    for (let i = 0; i < 200; i++) {
      const view = (await (await fetch(`${base}/sweeps/${sweep.id}`)).json()) as {
        status: string;
        error?: string;
        planKey?: string;
      };
      if (view.status === 'failed') return view;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`sweep ${sweep.id} did not fail`);
  }

  it.each([
    {
      what: 'a link inside a data root that leads out of it',
      body: () => spec({ baseModel: join(fx.etcLink, 'passwd') }),
      message: /baseModel: '.*etc-link\/passwd' is outside the folders this server reads/,
    },
    {
      what: 'freezeDepth beyond the model (after import: model and data removed again)',
      body: () =>
        spec({ searchSpace: { strategy: ['finetune'], freezeDepth: [10], lrMultiplier: [1] } }),
      message: /searchSpace\.freezeDepth/,
    },
    {
      what: 'weights.bin truncated to half',
      body: () => spec({ baseModel: fx.models.half }),
      message: /half\/weights\.bin: .*\(truncated\)/,
    },
    {
      what: 'an IDX file with a bad magic number (the model imported first is removed)',
      body: () => idxSpec(fx.data.badMagic),
      message: /bad-magic\/train-images-idx3-ubyte/,
    },
  ])(
    'a spec that passes submission but fails preparation: $what (only its failed record stays)',
    async ({ body, message }) => {
      // Prepare
      const before = await snapshot(httpHome);

      // Act
      const view = await failedInPreparation(body());

      // Assess: the 202 promised a sweep; it stays, failed with the reason, nothing else does.
      expect(view.error).toMatch(message);
      expect(view.planKey).toBeUndefined();
      const after = await snapshot(httpHome);
      expect(after).toEqual({
        ...before,
        sweeps: before.sweeps + 1,
        failedSweeps: before.failedSweeps + 1,
      });
    },
  );

  it('keeps /health answering while a sweep at the trial limit is stored', async () => {
    // 1000 trials: the largest grid the default limit lets through (trained by nobody: cancelled).
    const res = await post(
      '/sweeps',
      spec({
        folds: 10,
        searchSpace: {
          strategy: ['finetune'],
          freezeDepth: [0, 1],
          lrMultiplier: Array.from({ length: 50 }, (_, i) => (i + 1) / 100),
        },
      }),
    );
    expect(res.status).toBe(202);
    const { sweep } = (await res.json()) as { sweep: { id: string } };
    let worst = 0;
    for (let i = 0; i < 40; i++) {
      const t = performance.now();
      expect((await fetch(`${base}/health`)).status).toBe(200);
      worst = Math.max(worst, performance.now() - t);
      const view = (await (await fetch(`${base}/sweeps/${sweep.id}`)).json()) as {
        status: string;
      };
      if (view.status !== 'pending' && view.status !== 'preparing') break;
    }
    await fetch(`${base}/sweeps/${sweep.id}/cancel`, { method: 'POST' });
    expect(worst).toBeLessThan(500);
  });
});

// Child processes: run side by side (each spends seconds starting tsx).
describe.concurrent('bin/foldsweep.mjs: exit codes and one-line errors', () => {
  it('--help lists every exit code', async () => {
    const { code, stdout } = await foldsweep(['--help'], tmp.path);
    expect(code).toBe(0);
    for (const line of [/^ {2}0 /m, /^ {2}1 /m, /^ {2}2 /m, /^ {2}3 /m, /^ {2}4 /m, /^ {2}130 /m]) {
      expect(stdout).toMatch(line);
    }
  });

  it('a --home that is a file: exit 2 and one line naming it and the fix', async () => {
    const file = join(tmp.path, 'placeholder');
    const { code, stderr } = await foldsweep(['list', '--home', file], tmp.path);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(
      `error: --home: the foldsweep home ${file} is a file (or lies under one), not a folder: pass --home <a writable folder> (or set FOLDSWEEP_HOME)`,
    );
  });

  it('a bad spec through the real binary: exit 2, no stack', async () => {
    const file = join(tmp.path, 'specs', 'bin-bad.json');
    await writeFile(file, JSON.stringify(spec({ training: { learningRate: 1e6 } })));
    const { code, stderr } = await foldsweep(['run', file, '--home', cliHome], tmp.path);
    expect(code).toBe(2);
    expect(stderr).toMatch(/training\.learningRate: learningRate must be at most 10/);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('a home whose state.db is not a database: internal error, exit 3, one line and no stack', async () => {
    const home = join(tmp.path, 'corrupt-home');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(home);
    await writeFile(join(home, 'state.db'), 'this is not a database, just text '.repeat(200));
    const { code, stderr } = await foldsweep(['list', '--home', home], tmp.path);
    expect(code).toBe(3);
    expect(stderr).toMatch(/^internal error: /);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
