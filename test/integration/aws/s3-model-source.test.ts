/**
 * Base models in S3 (s3rver) through the model importer: the same hash as the same files read
 * locally, reuse without downloading when no object changed (GetObject calls counted by a
 * middleware on the real client), a new import when model.json or a weight file changed, the
 * awsDeps wiring, and a ValidationError naming `baseModel` and the S3 object for every bad one.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { awsDeps } from '../../../functions/deps/aws.js';
import { localDeps } from '../../../functions/deps/local.js';
import { defaultS3ModelSource } from '../../../shared/adapters/aws/default-s3-model-source.js';
import { S3ModelSource } from '../../../shared/adapters/aws/s3-model-source.js';
import { S3ObjectStore } from '../../../shared/adapters/aws/s3-object-store.js';
import { FsModelImporter } from '../../../shared/adapters/local/fs-model-importer.js';
import { InvalidArtifactError, ValidationError } from '../../../shared/errors.js';
import { modelSourcePointerKey } from '../../../shared/model/base-model-import.js';
import { createSchedule } from '../../../shared/service/schedules.js';
import { createSweep } from '../../../shared/service/sweeps.js';
import { makeTempDir, recordingLogger, type TempDir } from '../../helpers/images.js';
import {
  FAKE_CREDENTIALS,
  LOCAL_REGION,
  type LocalS3,
  localS3Client,
  startLocalS3,
  uploadFolder,
} from '../../helpers/local-aws.js';
import { MemoryObjectStore } from '../../helpers/memory-object-store.js';
import { FLOW_DATA, makeRetrainWorkspace } from '../../helpers/retrain-fixtures.js';
import { makeWorkspace, type RecordingExecutor } from '../../helpers/workspace.js';

const EXAMPLE = join(import.meta.dirname, '../../../examples/fashion-mnist/base-model');

let s3: LocalS3;
let tmp: TempDir;
let bucket: string;
/** The client the source uses, and what it sent. */
let client: S3Client;
let sent: string[];

beforeAll(async () => {
  s3 = await startLocalS3();
});
afterAll(async () => {
  await s3?.stop();
});

beforeEach(async () => {
  tmp = await makeTempDir('foldsweep-s3-model-');
  bucket = await s3.createBucket();
  client = localS3Client(s3.endpoint);
  sent = [];
  client.middlewareStack.add(
    (next, context) => (args) => {
      sent.push(context.commandName as string);
      return next(args);
    },
    { step: 'initialize' },
  );
});
afterEach(async () => {
  client.destroy();
  await tmp.cleanup();
});

const gets = () => sent.filter((c) => c === 'GetObjectCommand').length;
const lists = () => sent.filter((c) => c === 'ListObjectsV2Command').length;

function importers(options: { listPageSize?: number } = {}) {
  const objects = new MemoryObjectStore();
  return {
    objects,
    s3: new FsModelImporter(objects, { sources: [new S3ModelSource({ client, ...options })] }),
    local: new FsModelImporter(new MemoryObjectStore()),
  };
}

async function put(key: string, body: Uint8Array | string) {
  await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/** The example model (model.json + weights.bin) uploaded under `prefix`. */
async function exampleInS3(prefix = 'models/fashion/') {
  await uploadFolder(s3.client, bucket, prefix, EXAMPLE);
  return `s3://${bucket}/${prefix}model.json`;
}

/** The example's model.json with `edit` applied to its JSON. */
async function editedModelJson(edit: (json: Record<string, unknown>) => void): Promise<string> {
  const json = JSON.parse(await readFile(join(EXAMPLE, 'model.json'), 'utf8'));
  edit(json);
  return JSON.stringify(json);
}

const setWeightPaths = (paths: string[]) => (json: Record<string, unknown>) => {
  const manifest = json.weightsManifest as { paths: string[] }[];
  manifest[0].paths = paths;
};

/** The ValidationError `promise` rejects with. */
async function rejection(promise: Promise<unknown>): Promise<ValidationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  return error as ValidationError;
}

describe('S3ModelSource: importing', () => {
  it('imports the same model (same hash, same description) as the same files read locally, reading each object once', async () => {
    const uri = await exampleInS3();
    const p = importers();
    const fromS3 = await p.s3.importBaseModel(uri, 'baseModel');
    const local = await p.local.importBaseModel(join(EXAMPLE, 'model.json'), 'baseModel');
    expect(fromS3).toEqual({ ...local, uri });
    expect(fromS3).toMatchObject({ inputShape: [28, 28, 1], numClasses: 5 });
    expect(p.s3.lastSourceImport?.reused).toBe(false);
    expect(gets()).toBe(2); // model.json + weights.bin
    expect(lists()).toBe(1); // the model's folder, once
    // Stored like a local import: weights, model.json, then the source pointer.
    expect(p.objects.writes).toEqual([
      `models/${local.hash}/weights.bin`,
      `models/${local.hash}/model.json`,
      modelSourcePointerKey(p.s3.lastSourceImport?.fingerprint as string),
    ]);
    expect(Buffer.from(p.objects.objects.get(`models/${local.hash}/weights.bin`) ?? [])).toEqual(
      await readFile(join(EXAMPLE, 'weights.bin')),
    );
  });

  it('reuses an unchanged model without downloading anything, and imports it again when a weight file or model.json changes', async () => {
    const uri = await exampleInS3();
    const p = importers();
    const first = await p.s3.importBaseModel(uri, 'baseModel');
    expect(gets()).toBe(2);

    const again = await p.s3.importBaseModel(uri, 'baseModel');
    expect(again).toEqual(first);
    expect(p.s3.lastSourceImport?.reused).toBe('source');
    expect(gets()).toBe(2); // listed only: no GetObject at all
    expect(lists()).toBe(2);
    expect(p.objects.writes).toHaveLength(3); // nothing written again

    // Same key, other weights: a new ETag, read again, a new hash.
    const weights = await readFile(join(EXAMPLE, 'weights.bin'));
    weights[0] ^= 0xff;
    await put('models/fashion/weights.bin', weights);
    const newWeights = await p.s3.importBaseModel(uri, 'baseModel');
    expect(p.s3.lastSourceImport?.reused).toBe(false);
    expect(newWeights.hash).not.toBe(first.hash);
    expect(gets()).toBe(4);
    // ...and that one is recognised in turn.
    await p.s3.importBaseModel(uri, 'baseModel');
    expect(p.s3.lastSourceImport?.reused).toBe('source');
    expect(gets()).toBe(4);

    // A new model.json (another generatedBy): a new fingerprint, a new hash.
    await put('models/fashion/model.json', await editedModelJson((j) => (j.generatedBy = 'x')));
    const newJson = await p.s3.importBaseModel(uri, 'baseModel');
    expect(p.s3.lastSourceImport?.reused).toBe(false);
    expect(newJson.hash).not.toBe(newWeights.hash);
    expect(gets()).toBe(6);
  });

  it('imports again when the stored copy is gone', async () => {
    const uri = await exampleInS3();
    const p = importers();
    const first = await p.s3.importBaseModel(uri, 'baseModel');
    await p.objects.delete(`${first.prefix}/model.json`);
    expect(await p.s3.importBaseModel(uri, 'baseModel')).toEqual(first);
    expect(p.s3.lastSourceImport?.reused).toBe(false);
    expect(gets()).toBe(4);
    expect(await p.objects.exists(`${first.prefix}/model.json`)).toBe(true);
  });

  it('takes the folder as s3://bucket/prefix/ or s3://bucket/prefix, and sharded weights in a sub-folder (listing in pages)', async () => {
    await put('sharded/model.json', await editedModelJson(setWeightPaths(['w/a.bin', 'w/b.bin'])));
    const weights = await readFile(join(EXAMPLE, 'weights.bin'));
    const half = Math.floor(weights.length / 2);
    await put('sharded/w/a.bin', weights.subarray(0, half));
    await put('sharded/w/b.bin', weights.subarray(half));
    await put('sharded/notes.txt', 'beside the model: listed, never read');
    const p = importers({ listPageSize: 2 });
    const folder = await p.s3.importBaseModel(`s3://${bucket}/sharded/`, 'baseModel');
    expect(gets()).toBe(3);
    expect(lists()).toBe(2); // 4 objects, 2 per page
    expect(p.objects.objects.has(`${folder.prefix}/w/b.bin`)).toBe(true);
    const noSlash = await p.s3.importBaseModel(`s3://${bucket}/sharded`, 'baseModel');
    expect(noSlash.hash).toBe(folder.hash);
    expect(p.s3.lastSourceImport?.reused).toBe('source');
    expect(gets()).toBe(3);
  });

  it('is wired into awsDeps: an s3:// baseModel is copied into the stack bucket', async () => {
    const uri = await exampleInS3('base/');
    const stackBucket = await s3.createBucket();
    const saved = {
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY,
      AWS_REGION: process.env.AWS_REGION,
    };
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
      AWS_REGION: LOCAL_REGION,
    });
    try {
      const deps = awsDeps({
        FOLDSWEEP_BUCKET: stackBucket,
        FOLDSWEEP_TABLE: 'unused-table',
        FOLDSWEEP_JOB_QUEUE: 'unused-queue',
        FOLDSWEEP_JOB_DEFINITION: 'unused-definition',
        FOLDSWEEP_S3_ENDPOINT: s3.endpoint,
        LOG_LEVEL: 'error',
      });
      const ref = await deps.models.importBaseModel(uri, 'template.baseModel');
      const stored = new S3ObjectStore({ client: s3.client, bucket: stackBucket });
      expect(await stored.exists(`models/${ref.hash}/model.json`)).toBe(true);
      expect(await stored.exists(`models/${ref.hash}/weights.bin`)).toBe(true);
      expect(await stored.list('models/by-source/')).toHaveLength(1);
      deps.clients.s3.destroy();
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

describe('S3ModelSource: bad models and locations', () => {
  /** The one issue of the ValidationError importing `uri` throws, on `baseModel`. */
  async function issue(uri: string, p = importers().s3) {
    const error = await rejection(p.importBaseModel(uri, 'baseModel'));
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0].path).toBe('baseModel');
    return error.issues[0].message;
  }

  it('a missing bucket', async () => {
    expect(await issue('s3://no-such-bucket-here/m/model.json')).toMatch(
      /^s3:\/\/no-such-bucket-here\/m\/model\.json does not exist: there is no bucket 'no-such-bucket-here'/,
    );
  });

  it('a missing model.json says what to upload where', async () => {
    expect(await issue(`s3://${bucket}/models/none/model.json`)).toBe(
      `s3://${bucket}/models/none/model.json does not exist: no object with key ` +
        `'models/none/model.json' in bucket '${bucket}' (nothing under s3://${bucket}/models/none/): ` +
        `upload the model folder (aws s3 cp --recursive <folder with model.json> s3://${bucket}/models/none/) ` +
        'or check the key (keys are case-sensitive)',
    );
    await put('models/other/Model.json', '{}');
    expect(await issue(`s3://${bucket}/models/other/`)).toMatch(
      new RegExp(
        `^s3://${bucket}/models/other/model\\.json does not exist: no object with key 'models/other/model\\.json' in bucket '${bucket}': upload the model`,
      ),
    );
  });

  it('access denied names the grant to add', async () => {
    const uri = await exampleInS3();
    const denied = localS3Client(s3.endpoint, {
      credentials: { accessKeyId: 'NOT-S3RVER', secretAccessKey: 'wrong' },
    });
    try {
      const p = new FsModelImporter(new MemoryObjectStore(), {
        sources: [new S3ModelSource({ client: denied })],
      });
      expect(await issue(uri, p)).toMatch(
        new RegExp(
          `^s3://${bucket}/models/fashion/model\\.json cannot be read: access denied \\(.+\\): .*models-input/.*foldsweep:modelBuckets`,
        ),
      );
    } finally {
      denied.destroy();
    }
  });

  it('a missing weight file is named, with where to upload it', async () => {
    await put('m/model.json', await readFile(join(EXAMPLE, 'model.json')));
    const error = await rejection(
      importers().s3.importBaseModel(`s3://${bucket}/m/model.json`, 'baseModel'),
    );
    expect(error).toBeInstanceOf(InvalidArtifactError);
    expect((error as InvalidArtifactError).file).toBe(`s3://${bucket}/m/weights.bin`);
    expect(error.issues[0]).toEqual({
      path: 'baseModel',
      message:
        `s3://${bucket}/m/weights.bin: weight file named by model.json's weightsManifest is missing: ` +
        `upload it beside model.json (aws s3 cp --recursive <folder with model.json> s3://${bucket}/m/), ` +
        "or fix model.json's weightsManifest",
    });
    expect(gets()).toBe(1); // model.json only
  });

  it('not JSON, and not a layers model', async () => {
    await put('bad/model.json', 'not json {');
    expect(await issue(`s3://${bucket}/bad/model.json`)).toBe(
      `s3://${bucket}/bad/model.json: is not JSON: give the model.json written by tf.LayersModel.save or tensorflowjs_converter`,
    );
    await put(
      'graph/model.json',
      JSON.stringify({ format: 'graph-model', modelTopology: { node: [] } }),
    );
    expect(await issue(`s3://${bucket}/graph/model.json`)).toMatch(
      new RegExp(
        `^s3://${bucket}/graph/model\\.json: model\\.json format is 'graph-model', expected 'layers-model'`,
      ),
    );
    await put('topo/model.json', JSON.stringify({ weightsManifest: [] }));
    expect(await issue(`s3://${bucket}/topo/model.json`)).toMatch(
      /not a tfjs layers model: model\.json has no modelTopology/,
    );
  });

  it('weight paths that leave the model folder are refused before any weight is read', async () => {
    // A weight file outside the model's prefix that a '..' path would reach.
    await put('secret.bin', await readFile(join(EXAMPLE, 'weights.bin')));
    for (const [path, why] of [
      ['../secret.bin', "leaves the model's folder \\('\\.\\.'\\)"],
      ['w/../../secret.bin', "leaves the model's folder"],
      ['/secret.bin', 'is absolute'],
      [`s3://${bucket}/secret.bin`, 'is absolute'],
      ['./weights.bin', 'is not a plain relative path'],
    ]) {
      sent = [];
      await put('esc/model.json', await editedModelJson(setWeightPaths([path])));
      const message = await issue(`s3://${bucket}/esc/model.json`);
      expect(message).toMatch(
        new RegExp(
          `^s3://${bucket}/esc/model\\.json: weightsManifest path '.*' ${why}.*: weight files must sit in model\\.json's folder`,
        ),
      );
      expect(message).toContain(path);
      expect(gets()).toBe(1); // model.json, never the weight
    }
  });

  it('malformed URIs', async () => {
    expect(await issue('s3://')).toMatch(
      /is not an S3 location: give s3:\/\/<bucket>\/<prefix>\/model\.json/,
    );
    expect(await issue('s3://Bad_Bucket/m/model.json')).toMatch(/valid bucket name/);
  });

  it('without an S3 source, an s3:// baseModel says where it can be read', async () => {
    const message = await issue(
      `s3://${bucket}/m/model.json`,
      new FsModelImporter(new MemoryObjectStore()),
    );
    expect(message).toMatch(/read by the AWS deployment, or locally with AWS credentials/);
  });
});

describe('defaultS3ModelSource (local runs)', () => {
  it('is wired into localDeps: the default credentials chain reads s3:// base models', async () => {
    const uri = await exampleInS3('local/');
    const keys = [
      'AWS_ENDPOINT_URL_S3',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_REGION',
    ];
    const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
    Object.assign(process.env, {
      // The SDK's standard endpoint override: the default client then talks to s3rver.
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
      AWS_REGION: LOCAL_REGION,
    });
    const deps = localDeps({ home: join(tmp.path, 'home'), logger: recordingLogger().logger });
    try {
      const ref = await deps.models.importBaseModel(uri, 'baseModel');
      expect(ref).toMatchObject({ uri, inputShape: [28, 28, 1], numClasses: 5 });
      expect(await deps.objects.exists(`${ref.prefix}/weights.bin`)).toBe(true);
      expect(await deps.objects.list('models/by-source/')).toHaveLength(1);
    } finally {
      await deps.close();
      for (const k of keys) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });

  it('without AWS credentials, says what to set, naming the field', async () => {
    const keys = [
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_SESSION_TOKEN',
      'AWS_PROFILE',
      'AWS_SHARED_CREDENTIALS_FILE',
      'AWS_CONFIG_FILE',
      'AWS_EC2_METADATA_DISABLED',
      'AWS_REGION',
      'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
      'AWS_CONTAINER_CREDENTIALS_FULL_URI',
      'AWS_WEB_IDENTITY_TOKEN_FILE',
    ];
    const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
    for (const k of keys) delete process.env[k];
    Object.assign(process.env, {
      AWS_SHARED_CREDENTIALS_FILE: join(tmp.path, 'no-credentials'),
      AWS_CONFIG_FILE: join(tmp.path, 'no-config'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_REGION: 'eu-west-1',
    });
    try {
      const importer = new FsModelImporter(new MemoryObjectStore(), {
        sources: [defaultS3ModelSource()],
      });
      const error = await rejection(
        importer.importBaseModel('s3://some-bucket/base/model.json', 'template.baseModel'),
      );
      expect(error.issues[0]).toMatchObject({
        path: 'template.baseModel',
        message: expect.stringMatching(
          /^s3:\/\/some-bucket\/base\/model\.json cannot be read: no AWS credentials or region \(.+\): locally, s3:\/\/ base models are read with the default AWS credentials/,
        ),
      });
    } finally {
      for (const k of keys) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });
});

// A local folder import keeps working alongside a source (the source only takes s3:// URIs).
describe('FsModelImporter with an S3 source, local paths', () => {
  it('reads local paths from the file system, without S3 calls', async () => {
    const ref = await importers().s3.importBaseModel(EXAMPLE, 'baseModel');
    expect(ref.numClasses).toBe(5);
    expect(sent).toEqual([]);
  });
});

describe('createSweep with an s3:// baseModel', () => {
  it('plans on the S3 model (same hash as the local copy), reuses it for the next sweep without GetObject, and rejects a bad one naming baseModel before storing anything', async () => {
    const ws = await makeWorkspace();
    try {
      await uploadFolder(s3.client, bucket, 'tiny/', dirname(ws.modelPath));
      const local = await new FsModelImporter(new MemoryObjectStore()).importBaseModel(
        ws.modelPath,
        'baseModel',
      );
      const importer = new FsModelImporter(ws.objects, {
        sources: [new S3ModelSource({ client })],
      });
      const deps = { ...ws.deps, models: importer };
      const uri = `s3://${bucket}/tiny/model.json`;
      const { plan } = await createSweep(deps, ws.spec({ baseModel: uri }));
      expect(plan.baseModel).toMatchObject({ uri, hash: local.hash, prefix: local.prefix });
      expect(await ws.objects.exists(`${local.prefix}/weights.bin`)).toBe(true);
      expect(gets()).toBe(2);

      const second = await createSweep(deps, ws.spec({ baseModel: uri, name: 'again' }));
      expect(second.plan.baseModel.hash).toBe(local.hash);
      expect(gets()).toBe(2); // recognised by ETags: nothing downloaded
      expect((ws.executor as RecordingExecutor).submitted).toHaveLength(2);

      const error = await rejection(
        createSweep(deps, ws.spec({ baseModel: `s3://${bucket}/tiny/missing/model.json` })),
      );
      expect(error.issues[0].path).toBe('baseModel');
      expect(error.issues[0].message).toMatch(/tiny\/missing\/model\.json does not exist/);
      // Rejected while preparing: the sweep is kept as failed, with the same issue, and nothing
      // of it was planned or submitted.
      const sweeps = await ws.state.listSweeps({ limit: 10 });
      expect(sweeps.map((s) => s.status)).toEqual(['failed', 'running', 'running']);
      expect(sweeps[0].issues?.[0].path).toBe('baseModel');
      expect(sweeps[0].planKey).toBeUndefined();
      expect((ws.executor as RecordingExecutor).submitted).toHaveLength(2);
    } finally {
      await ws.cleanup();
    }
  });
});

describe('createSchedule with an s3:// template.baseModel', () => {
  it('checks the template against the S3 model, and names template.baseModel when it is missing', async () => {
    const ws = await makeRetrainWorkspace();
    try {
      await ws.writeData(FLOW_DATA.v1);
      await uploadFolder(s3.client, bucket, 'tiny/', dirname(ws.modelPath));
      const deps = {
        ...ws.deps,
        models: new FsModelImporter(ws.deps.objects, { sources: [new S3ModelSource({ client })] }),
      };
      const base = ws.scheduleInput();
      const uri = `s3://${bucket}/tiny/model.json`;
      const schedule = await createSchedule(deps, {
        ...base,
        template: { ...base.template, baseModel: uri },
      });
      expect(schedule.template.baseModel).toBe(uri);
      expect(gets()).toBe(2);

      const error = await rejection(
        createSchedule(deps, {
          ...base,
          id: 'other',
          template: { ...base.template, baseModel: `s3://${bucket}/gone/model.json` },
        }),
      );
      expect(error.issues).toEqual([
        {
          path: 'template.baseModel',
          message: expect.stringMatching(
            /gone\/model\.json does not exist: .*upload the model folder/,
          ),
        },
      ]);
      expect(await deps.schedules.getSchedule('other')).toBeUndefined();
    } finally {
      await ws.cleanup();
    }
  });
});
