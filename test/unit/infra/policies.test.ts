import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { subnetCidrs } from '../../../infra/components/network.js';
import { arnsFor, resourceNames } from '../../../infra/naming.js';
import {
  ACTIONS_WITHOUT_RESOURCE_TYPES,
  aggregatorFunctionPolicy,
  apiFunctionPolicy,
  apiInvokePolicy,
  assumeRolePolicy,
  bucketLifecycleRules,
  bucketTlsOnlyPolicy,
  deadLetterQueuePolicy,
  instanceUserData,
  jobDefinitionRetryStrategy,
  type PolicyDocument,
  type PolicyInputs,
  prepareFunctionPolicy,
  retrainFunctionPolicy,
  schedulerPolicy,
  TRAINER_UID,
  trainerContainerProperties,
  trainerJobPolicy,
} from '../../../infra/policies.js';
import { BATCH_RETRY_STRATEGY } from '../../../shared/adapters/aws/batch-retry.js';
import { TRAINER_JOB_ENV } from '../../../shared/schemas/runtime-env.js';

const BUCKET = 'arn:aws:s3:::foldsweep-prod-data-1a2b3c4';
const TABLE = 'arn:aws:dynamodb:eu-west-1:123456789012:table/foldsweep-prod-state-9f8e7d6';
const SCHEDULER_ROLE = 'arn:aws:iam::123456789012:role/foldsweep-prod-scheduler-0c1d2e3';
const names = resourceNames('foldsweep-prod');
const arns = arnsFor({ partition: 'aws', region: 'eu-west-1', accountId: '123456789012' }, names);

function inputs(overrides: Partial<PolicyInputs> = {}): PolicyInputs {
  return {
    bucketArn: BUCKET,
    tableArn: TABLE,
    arns,
    schedulerRoleArn: SCHEDULER_ROLE,
    ...overrides,
  };
}

/** IAM's wildcard: `*` any run of characters, `?` one character. */
function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return re.test(value);
}

/** Whether an Allow statement (conditions ignored) grants `action` on `resource`. */
function allows(doc: PolicyDocument, action: string, resource: string): boolean {
  return doc.Statement.some(
    (s) =>
      s.Effect === 'Allow' &&
      s.Action.some((a) => globMatch(a, action)) &&
      (s.Resource ?? []).some((r) => globMatch(r, resource)),
  );
}

const object = (key: string) => `${BUCKET}/${key}`;

const ALL_ROLE_POLICIES: [string, PolicyDocument][] = [
  ['api', apiFunctionPolicy(inputs({ kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/k' }))],
  ['aggregator', aggregatorFunctionPolicy(inputs())],
  ['retrain', retrainFunctionPolicy(inputs())],
  [
    'prepare',
    prepareFunctionPolicy(
      inputs({
        kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/k',
        datasetLocations: [{ bucket: 'team-data', prefix: 'fashion/' }],
        modelLocations: [{ bucket: 'team-models', prefix: '' }],
      }),
    ),
  ],
  ['trainer', trainerJobPolicy(inputs())],
  [
    'scheduler',
    schedulerPolicy({
      retrainFunctionArn: arns.functions.retrain,
      deadLetterQueueArn: arns.deadLetterQueue,
    }),
  ],
  ['api-invoke', apiInvokePolicy('arn:aws:execute-api:eu-west-1:123456789012:abc123')],
];

describe('role policies', () => {
  it.each(ALL_ROLE_POLICIES)(
    '%s: no wildcard action and no "*" resource that could be narrower',
    (_, doc) => {
      for (const statement of doc.Statement) {
        for (const action of statement.Action) {
          expect(action).not.toBe('*');
          expect(action).not.toMatch(/:\*$/);
        }
        if ((statement.Resource ?? []).includes('*')) {
          for (const action of statement.Action) {
            expect(ACTIONS_WITHOUT_RESOURCE_TYPES).toContain(action);
          }
        }
      }
    },
  );

  it('trainer: reads datasets, models and its plan; writes only trial results and checkpoints', () => {
    const doc = trainerJobPolicy(inputs());
    expect(allows(doc, 's3:GetObject', object('datasets/abc/pixels.u8'))).toBe(true);
    expect(allows(doc, 's3:GetObject', object('models/def/model.json'))).toBe(true);
    expect(allows(doc, 's3:GetObject', object('sweeps/01J/plan.json'))).toBe(true);
    expect(allows(doc, 's3:PutObject', object('sweeps/01J/trials/00003/result.json'))).toBe(true);
    expect(allows(doc, 's3:PutObject', object('checkpoints/01J/3/weights.bin'))).toBe(true);

    expect(allows(doc, 's3:PutObject', object('sweeps/01J/plan.json'))).toBe(false);
    expect(allows(doc, 's3:PutObject', object('sweeps/01J/champion/model.json'))).toBe(false);
    expect(allows(doc, 's3:PutObject', object('sweeps/01J/leaderboard.json'))).toBe(false);
    expect(allows(doc, 's3:PutObject', object('datasets/abc/pixels.u8'))).toBe(false);
    expect(allows(doc, 's3:DeleteObject', object('sweeps/01J/trials/00003/result.json'))).toBe(
      false,
    );
    expect(
      allows(doc, 's3:DeleteObject', object('sweeps/01J/trials/00003/checkpoint/epoch-00002.bin')),
    ).toBe(false);
    expect(allows(doc, 's3:DeleteObject', object('checkpoints/01J/3/epoch-00002.bin'))).toBe(true);
    expect(allows(doc, 's3:PutObject', object('cache/bottleneck/k1/features.f32'))).toBe(true);
    expect(allows(doc, 's3:GetObject', object('cache/bottleneck/k1/manifest.json'))).toBe(true);
    expect(allows(doc, 'dynamodb:PutItem', TABLE)).toBe(false);
    expect(allows(doc, 'batch:SubmitJob', arns.jobQueue)).toBe(false);
  });

  it('aggregator: writes leaderboard, report and champion under sweeps/ only; submits no jobs', () => {
    const doc = aggregatorFunctionPolicy(inputs());
    expect(allows(doc, 's3:PutObject', object('sweeps/01J/leaderboard.json'))).toBe(true);
    expect(allows(doc, 's3:PutObject', object('sweeps/01J/champion/model.json'))).toBe(true);
    expect(allows(doc, 's3:PutObject', object('datasets/abc/manifest.json'))).toBe(false);
    expect(allows(doc, 'dynamodb:UpdateItem', TABLE)).toBe(true);
    expect(allows(doc, 'batch:SubmitJob', arns.jobQueue)).toBe(false);
    expect(allows(doc, 'sqs:SendMessage', arns.deadLetterQueue)).toBe(true);
    expect(allows(doc, 'logs:PutLogEvents', `${arns.logGroups.aggregator}:log-stream:x`)).toBe(
      true,
    );
    expect(allows(doc, 'logs:PutLogEvents', `${arns.logGroups.api}:log-stream:x`)).toBe(false);
  });

  it('api: submits to this queue and job definition only, and passes only the scheduler role', () => {
    const doc = apiFunctionPolicy(inputs());
    expect(allows(doc, 'batch:SubmitJob', arns.jobQueue)).toBe(true);
    expect(allows(doc, 'batch:SubmitJob', `${arns.jobDefinitions[0]}:7`)).toBe(true);
    expect(
      allows(doc, 'batch:SubmitJob', 'arn:aws:batch:eu-west-1:123456789012:job-queue/other'),
    ).toBe(false);
    expect(
      allows(doc, 'batch:SubmitJob', 'arn:aws:batch:eu-west-1:123456789012:job-definition/x:1'),
    ).toBe(false);
    expect(allows(doc, 'iam:PassRole', SCHEDULER_ROLE)).toBe(true);
    expect(allows(doc, 'iam:PassRole', 'arn:aws:iam::123456789012:role/admin')).toBe(false);
    const passRole = doc.Statement.find((s) => s.Action.includes('iam:PassRole'));
    expect(passRole?.Condition).toEqual({
      StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' },
    });
    expect(
      allows(
        doc,
        'scheduler:CreateSchedule',
        `arn:aws:scheduler:eu-west-1:123456789012:schedule/${names.scheduleGroup}/nightly`,
      ),
    ).toBe(true);
    expect(
      allows(
        doc,
        'scheduler:CreateSchedule',
        'arn:aws:scheduler:eu-west-1:123456789012:schedule/default/nightly',
      ),
    ).toBe(false);
  });

  it('lets the functions that run schedules keep holdouts under schedules/ and end runs', () => {
    const hashes = object('schedules/nightly/holdout-0123456789abcdef/image-hashes.json');
    for (const policy of [apiFunctionPolicy, retrainFunctionPolicy]) {
      const doc = policy(inputs());
      expect(allows(doc, 's3:PutObject', hashes)).toBe(true);
      expect(allows(doc, 's3:GetObject', hashes)).toBe(true);
      // The schedule's running-run marker is deleted when a run ends.
      expect(allows(doc, 'dynamodb:DeleteItem', TABLE)).toBe(true);
    }
    const aggregator = aggregatorFunctionPolicy(inputs());
    // Completing a scheduled run scores models (sweeps/) on the holdout (datasets/) and
    // releases the marker; it writes no holdout.
    expect(allows(aggregator, 'dynamodb:DeleteItem', TABLE)).toBe(true);
    expect(allows(aggregator, 's3:GetObject', object('datasets/abc/pixels.u8'))).toBe(true);
    expect(allows(aggregator, 's3:PutObject', hashes)).toBe(false);
    // Only the api manages EventBridge schedules; the retrain function only runs them.
    const retrain = retrainFunctionPolicy(inputs());
    expect(allows(retrain, 'scheduler:CreateSchedule', `${arns.schedules.slice(0, -1)}x`)).toBe(
      false,
    );
    expect(allows(retrain, 'iam:PassRole', SCHEDULER_ROLE)).toBe(false);
    expect(
      trainerJobPolicy(inputs()).Statement.some((s) => s.Action.includes('dynamodb:DeleteItem')),
    ).toBe(false);
  });

  it('lists objects only under the prefixes each role may read', () => {
    const list = (doc: PolicyDocument) =>
      doc.Statement.find((s) => s.Action.includes('s3:ListBucket') && s.Resource?.[0] === BUCKET)
        ?.Condition;
    expect(list(trainerJobPolicy(inputs()))).toEqual({
      StringLike: { 's3:prefix': ['sweeps/*', 'checkpoints/*'] },
    });
    expect(list(aggregatorFunctionPolicy(inputs()))).toEqual({
      StringLike: { 's3:prefix': ['sweeps/*'] },
    });
  });

  it('lets the api and retrain functions read source datasets: datasets-input/ by default, and the configured buckets', () => {
    const input = object('datasets-input/fashion/train-images-idx3-ubyte.gz');
    const other = 'arn:aws:s3:::my-data';
    const shared = 'arn:aws:s3:::shared-data';
    const withSources = inputs({
      datasetLocations: [
        { bucket: 'my-data', prefix: '' },
        { bucket: 'shared-data', prefix: 'fashion/' },
        { bucket: 'shared-data', prefix: 'mnist/' },
      ],
    });
    for (const policy of [apiFunctionPolicy, retrainFunctionPolicy]) {
      const plain = policy(inputs());
      expect(allows(plain, 's3:GetObject', input)).toBe(true);
      expect(allows(plain, 's3:PutObject', input)).toBe(false);
      expect(allows(plain, 's3:GetObject', `${other}/x.png`)).toBe(false);
      expect(JSON.stringify(plain)).not.toContain('DatasetSources');

      const doc = policy(withSources);
      expect(allows(doc, 's3:GetObject', `${other}/any/key.png`)).toBe(true);
      expect(allows(doc, 's3:GetObject', `${shared}/fashion/cat/a.png`)).toBe(true);
      expect(allows(doc, 's3:GetObject', `${shared}/mnist/train-images-idx3-ubyte`)).toBe(true);
      expect(allows(doc, 's3:GetObject', `${shared}/private/secrets.csv`)).toBe(false);
      expect(allows(doc, 's3:PutObject', `${other}/any/key.png`)).toBe(false);
      const lists = doc.Statement.filter(
        (s) => s.Action.includes('s3:ListBucket') && s.Resource?.[0] !== BUCKET,
      );
      expect(lists.map((s) => [s.Resource, s.Condition])).toEqual([
        [[other], undefined],
        [[shared], { StringLike: { 's3:prefix': ['fashion/*', 'mnist/*'] } }],
      ]);
      // Statement ids stay unique within the policy.
      const sids = doc.Statement.map((s) => s.Sid);
      expect(new Set(sids).size).toBe(sids.length);
    }
    const ownList = apiFunctionPolicy(inputs()).Statement.find(
      (s) => s.Action.includes('s3:ListBucket') && s.Resource?.[0] === BUCKET,
    );
    expect(ownList?.Condition?.StringLike?.['s3:prefix']).toContain('datasets-input/*');
    // Nobody else reads them: training uses the prepared copies under datasets/.
    for (const doc of [aggregatorFunctionPolicy(withSources), trainerJobPolicy(withSources)]) {
      expect(allows(doc, 's3:GetObject', input)).toBe(false);
      expect(allows(doc, 's3:GetObject', `${other}/any/key.png`)).toBe(false);
    }
  });

  it('lets the api and retrain functions read source base models: models-input/ by default, and foldsweep:modelBuckets', () => {
    const input = object('models-input/fashion/model.json');
    const models = 'arn:aws:s3:::team-models';
    const data = 'arn:aws:s3:::team-data';
    const withModels = inputs({
      datasetLocations: [{ bucket: 'team-data', prefix: 'fashion/' }],
      modelLocations: [
        { bucket: 'team-models', prefix: 'base/' },
        { bucket: 'team-data', prefix: 'models/' },
      ],
    });
    for (const policy of [apiFunctionPolicy, retrainFunctionPolicy]) {
      const plain = policy(inputs());
      expect(allows(plain, 's3:GetObject', input)).toBe(true);
      expect(allows(plain, 's3:PutObject', input)).toBe(false);
      expect(JSON.stringify(plain)).not.toContain('ModelSources');
      const ownList = plain.Statement.find(
        (s) => s.Action.includes('s3:ListBucket') && s.Resource?.[0] === BUCKET,
      );
      expect(ownList?.Condition?.StringLike?.['s3:prefix']).toContain('models-input/*');

      const doc = policy(withModels);
      expect(allows(doc, 's3:GetObject', `${models}/base/fashion/model.json`)).toBe(true);
      expect(allows(doc, 's3:GetObject', `${models}/base/fashion/weights.bin`)).toBe(true);
      expect(allows(doc, 's3:GetObject', `${models}/private/model.json`)).toBe(false);
      expect(allows(doc, 's3:GetObject', `${data}/models/x/model.json`)).toBe(true);
      expect(allows(doc, 's3:GetObject', `${data}/fashion/cat/a.png`)).toBe(true);
      expect(allows(doc, 's3:GetObject', `${data}/other/key`)).toBe(false);
      expect(allows(doc, 's3:PutObject', `${models}/base/model.json`)).toBe(false);
      expect(allows(doc, 's3:DeleteObject', `${models}/base/model.json`)).toBe(false);
      // Separate statements, so the policy says why each location is readable.
      const bySid = new Map(doc.Statement.map((s) => [s.Sid, s]));
      expect(bySid.get('ReadModelSources')?.Resource).toEqual([
        `${models}/base/*`,
        `${data}/models/*`,
      ]);
      expect(bySid.get('ReadDatasetSources')?.Resource).toEqual([`${data}/fashion/*`]);
      // ListBucket (the source lists the model's folder for ETags) only under the prefixes.
      expect(
        doc.Statement.filter((s) => s.Sid?.startsWith('ListModelSources')).map((s) => [
          s.Resource,
          s.Condition,
        ]),
      ).toEqual([
        [[models], { StringLike: { 's3:prefix': ['base/*'] } }],
        [[data], { StringLike: { 's3:prefix': ['models/*'] } }],
      ]);
      const sids = doc.Statement.map((s) => s.Sid);
      expect(new Set(sids).size).toBe(sids.length);
    }
    // Nobody else reads them: training loads the imported copy under models/<hash>/.
    for (const doc of [aggregatorFunctionPolicy(withModels), trainerJobPolicy(withModels)]) {
      expect(allows(doc, 's3:GetObject', input)).toBe(false);
      expect(allows(doc, 's3:GetObject', `${models}/base/fashion/model.json`)).toBe(false);
      expect(JSON.stringify(doc)).not.toContain('team-models');
    }
  });

  it('prepare: exactly what preparing a sweep needs, statement by statement', () => {
    const doc = prepareFunctionPolicy(
      inputs({
        datasetLocations: [{ bucket: 'team-data', prefix: 'fashion/' }],
        modelLocations: [{ bucket: 'team-models', prefix: '' }],
      }),
    );
    const read = ['datasets/*', 'models/*', 'sweeps/*', 'datasets-input/*', 'models-input/*'];
    expect(doc.Statement).toEqual([
      {
        Sid: 'WriteOwnLogs',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: [`${arns.logGroups.prepare}:*`],
      },
      { Sid: 'ReadObjects', Effect: 'Allow', Action: ['s3:GetObject'], Resource: read.map(object) },
      {
        Sid: 'WriteObjects',
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:AbortMultipartUpload'],
        Resource: ['datasets/*', 'models/*', 'sweeps/*'].map(object),
      },
      {
        Sid: 'ListPrefixes',
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: [BUCKET],
        Condition: { StringLike: { 's3:prefix': read } },
      },
      {
        Sid: 'ReadDatasetSources',
        Effect: 'Allow',
        Action: ['s3:GetObject'],
        Resource: ['arn:aws:s3:::team-data/fashion/*'],
      },
      {
        Sid: 'ListDatasetSources0',
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: ['arn:aws:s3:::team-data'],
        Condition: { StringLike: { 's3:prefix': ['fashion/*'] } },
      },
      {
        Sid: 'ReadModelSources',
        Effect: 'Allow',
        Action: ['s3:GetObject'],
        Resource: ['arn:aws:s3:::team-models/*'],
      },
      {
        Sid: 'ListModelSources0',
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: ['arn:aws:s3:::team-models'],
      },
      {
        Sid: 'StateTable',
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        Resource: [TABLE, `${TABLE}/index/*`],
      },
      {
        Sid: 'SubmitTrainerJobs',
        Effect: 'Allow',
        Action: ['batch:SubmitJob'],
        Resource: [arns.jobQueue, ...arns.jobDefinitions],
      },
      {
        Sid: 'TagAndStopJobs',
        Effect: 'Allow',
        Action: ['batch:TagResource', 'batch:TerminateJob'],
        Resource: [arns.jobs],
      },
      {
        Sid: 'DescribeJobs',
        Effect: 'Allow',
        Action: ['batch:DescribeJobs', 'batch:ListJobs'],
        Resource: ['*'],
      },
      {
        Sid: 'OnFailureDestination',
        Effect: 'Allow',
        Action: ['sqs:SendMessage'],
        Resource: [arns.deadLetterQueue],
      },
    ]);
    // What it must not do: schedules, holdouts, the cache, deleting, invoking.
    expect(allows(doc, 's3:PutObject', object('schedules/nightly/holdout-x/a.json'))).toBe(false);
    expect(allows(doc, 's3:PutObject', object('cache/bottleneck/k/f.f32'))).toBe(false);
    expect(allows(doc, 's3:PutObject', object('datasets-input/fashion/a.png'))).toBe(false);
    expect(allows(doc, 's3:DeleteObject', object('datasets/abc/pixels.u8'))).toBe(false);
    expect(allows(doc, 'dynamodb:DeleteItem', TABLE)).toBe(false);
    expect(allows(doc, 'batch:CancelJob', arns.jobs)).toBe(false);
    expect(allows(doc, 'lambda:InvokeFunction', arns.functions.prepare)).toBe(false);
    expect(allows(doc, 'scheduler:CreateSchedule', `${arns.schedules.slice(0, -1)}x`)).toBe(false);
  });

  it('lets the api and retrain functions invoke the prepare function, and no other', () => {
    for (const policy of [apiFunctionPolicy, retrainFunctionPolicy]) {
      const doc = policy(inputs());
      const invoke = doc.Statement.filter((s) => s.Action.some((a) => a.startsWith('lambda:')));
      expect(invoke).toEqual([
        {
          Sid: 'InvokePrepare',
          Effect: 'Allow',
          Action: ['lambda:InvokeFunction'],
          Resource: [arns.functions.prepare],
        },
      ]);
      for (const other of [arns.functions.api, arns.functions.aggregator, arns.functions.retrain]) {
        expect(allows(doc, 'lambda:InvokeFunction', other)).toBe(false);
      }
      expect(allows(doc, 'lambda:InvokeFunction', `${arns.functions.prepare}:live`)).toBe(false);
    }
    for (const doc of [aggregatorFunctionPolicy(inputs()), trainerJobPolicy(inputs())]) {
      expect(JSON.stringify(doc)).not.toContain('lambda:');
    }
  });

  it('api: keeps what its in-request routes (schedules, resume, cancel, re-drive) still need', () => {
    const doc = apiFunctionPolicy(inputs({ datasetLocations: [{ bucket: 'd', prefix: '' }] }));
    // POST /schedules checks the template; /schedules/:id/runs and /sweeps/:id/resume prepare.
    expect(allows(doc, 's3:GetObject', object('datasets-input/f/train.gz'))).toBe(true);
    expect(allows(doc, 's3:GetObject', 'arn:aws:s3:::d/any.png')).toBe(true);
    expect(allows(doc, 's3:PutObject', object('datasets/abc/pixels.u8'))).toBe(true);
    expect(allows(doc, 'batch:SubmitJob', arns.jobQueue)).toBe(true);
    // Cancel and live progress.
    expect(allows(doc, 'batch:TerminateJob', arns.jobs)).toBe(true);
    expect(allows(doc, 'batch:DescribeJobs', '*')).toBe(true);
    // Re-driven aggregation evaluates and writes the champion.
    expect(allows(doc, 's3:PutObject', object('sweeps/01J/champion/model.json'))).toBe(true);
  });

  it('grants KMS on the configured key only, and only when one is configured', () => {
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    expect(allows(trainerJobPolicy(inputs({ kmsKeyArn: key })), 'kms:Decrypt', key)).toBe(true);
    expect(JSON.stringify(trainerJobPolicy(inputs()))).not.toContain('kms:');
  });

  it('scheduler role: invokes only the retrain function and dead-letters only to the DLQ', () => {
    const doc = schedulerPolicy({
      retrainFunctionArn: arns.functions.retrain,
      deadLetterQueueArn: arns.deadLetterQueue,
    });
    expect(allows(doc, 'lambda:InvokeFunction', arns.functions.retrain)).toBe(true);
    expect(allows(doc, 'lambda:InvokeFunction', arns.functions.api)).toBe(false);
  });

  it('pins the scheduler trust policy to the account (confused deputy)', () => {
    expect(assumeRolePolicy('scheduler.amazonaws.com', '123456789012').Statement[0]).toEqual({
      Effect: 'Allow',
      Action: ['sts:AssumeRole'],
      Principal: { Service: 'scheduler.amazonaws.com' },
      Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } },
    });
  });
});

describe('bucketTlsOnlyPolicy()', () => {
  it('denies every request without TLS, and TLS older than 1.2, to bucket and objects', () => {
    const [plain, old] = bucketTlsOnlyPolicy(BUCKET).Statement;
    expect(plain).toMatchObject({
      Effect: 'Deny',
      Principal: '*',
      Action: ['s3:*'],
      Resource: [BUCKET, `${BUCKET}/*`],
      Condition: { Bool: { 'aws:SecureTransport': false } },
    });
    expect(old?.Condition).toEqual({ NumericLessThan: { 's3:TlsVersion': 1.2 } });
  });
});

describe('deadLetterQueuePolicy()', () => {
  it('lets only the given rule send to the queue', () => {
    const rule = 'arn:aws:events:eu-west-1:123456789012:rule/r';
    expect(deadLetterQueuePolicy(arns.deadLetterQueue, rule).Statement[0]).toMatchObject({
      Principal: { Service: 'events.amazonaws.com' },
      Action: ['sqs:SendMessage'],
      Condition: { ArnEquals: { 'aws:SourceArn': rule } },
    });
  });
});

describe('jobDefinitionRetryStrategy()', () => {
  it('is the retry strategy the executor sends (one definition for both)', () => {
    const strategy = jobDefinitionRetryStrategy();
    expect(strategy.attempts).toBe(BATCH_RETRY_STRATEGY.attempts);
    expect(strategy.evaluateOnExits).toEqual(BATCH_RETRY_STRATEGY.evaluateOnExit);
  });

  it('retries host loss (Spot reclaim) and exits on application errors', () => {
    const rules = jobDefinitionRetryStrategy().evaluateOnExits;
    expect(rules[0]).toEqual({ action: 'RETRY', onStatusReason: 'Host EC2*' });
    expect(rules.at(-1)?.action).toBe('EXIT');
    expect(rules.length).toBeLessThanOrEqual(5);
  });
});

describe('trainerContainerProperties()', () => {
  const props = trainerContainerProperties({
    image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/foldsweep-prod/trainer:t-abc',
    jobRoleArn: 'arn:aws:iam::123456789012:role/trainer',
    vcpus: 4,
    memoryMiB: 14336,
    gpus: 1,
    bucket: 'foldsweep-prod-data-1a2b3c4',
    region: 'eu-west-1',
    logGroupName: names.logGroups.trainer,
    logLevel: 'info',
  });
  const env = Object.fromEntries(props.environment.map((e) => [e.name, e.value]));

  it('asks for a GPU, vCPUs and memory as resourceRequirements', () => {
    expect(props.resourceRequirements).toEqual([
      { type: 'GPU', value: '1' },
      { type: 'VCPU', value: '4' },
      { type: 'MEMORY', value: '14336' },
    ]);
  });

  it('makes a missing GPU fatal and names the bucket the way the trainer reads it', () => {
    expect(env.FOLDSWEEP_REQUIRE_GPU).toBe('true');
    expect(env.FOLDSWEEP_BACKEND).toBe('tensorflow-gpu');
    expect(env.TF_FORCE_GPU_ALLOW_GROWTH).toBe('true');
    expect(env[TRAINER_JOB_ENV.bucket]).toBe('foldsweep-prod-data-1a2b3c4');
    expect(env[TRAINER_JOB_ENV.planKey]).toBeUndefined();
  });

  it('runs the image as built (its entry point is the trainer), unprivileged, with an init', () => {
    expect(props).not.toHaveProperty('command');
    expect(props.privileged).toBe(false);
    expect(props.linuxParameters).toEqual({ initProcessEnabled: true });
    expect(props.logConfiguration.options['awslogs-group']).toBe(names.logGroups.trainer);
  });
});

describe('instanceUserData()', () => {
  it('is MIME multi-part (Batch merges it) and gives the trainer uid the CUDA cache', () => {
    const data = instanceUserData();
    expect(data).toMatch(/^MIME-Version: 1\.0\nContent-Type: multipart\/mixed; boundary="/);
    expect(data).toContain(`chown ${TRAINER_UID}:${TRAINER_UID} /var/cache/foldsweep/cuda`);
    expect(readFileSync(new URL('../../../trainer/Dockerfile', import.meta.url), 'utf8')).toContain(
      `USER ${TRAINER_UID}:${TRAINER_UID}`,
    );
  });
});

describe('bucketLifecycleRules()', () => {
  it('expires checkpoints and old versions, aborts stale uploads', () => {
    const rules = bucketLifecycleRules({
      checkpointRetentionDays: 14,
      cacheRetentionDays: 30,
      noncurrentVersionRetentionDays: 30,
    });
    expect(rules[0]).toMatchObject({
      status: 'Enabled',
      filter: { prefix: 'checkpoints/' },
      expiration: { days: 14 },
    });
    expect(rules[1]).toMatchObject({ filter: { prefix: 'cache/' }, expiration: { days: 30 } });
    expect(rules[2]).toMatchObject({
      noncurrentVersionExpiration: { noncurrentDays: 30 },
      abortIncompleteMultipartUpload: { daysAfterInitiation: 2 },
    });
  });
});

describe('subnetCidrs()', () => {
  it('splits the VPC range into equal subnets 4 bits longer', () => {
    expect(subnetCidrs('10.42.0.0/16', 3)).toEqual([
      '10.42.0.0/20',
      '10.42.16.0/20',
      '10.42.32.0/20',
    ]);
    expect(subnetCidrs('192.168.8.0/22', 2)).toEqual(['192.168.8.0/26', '192.168.8.64/26']);
  });
});
