/**
 * Reading 1,000 finished trials back and ranking them, two ways side by side:
 * - from S3, as aggregation used to: list `sweeps/<id>/trials/`, get every result.json, parse,
 *   buildLeaderboard. The service's `readTrialResults` (16 gets at once) and the same reads at
 *   bounded concurrency.
 * - from the state store, as aggregation does now (settleSweep -> finishedTrials): the 1,000
 *   trial records (`trialRecordOf` of the same results) in a DynamoStateStore, read with one
 *   `listTrials` (DynamoDB Query pages), the finished ones ranked with buildLeaderboard.
 * Every leaderboard is checked equal to the one readTrialResults builds.
 *
 *   npx tsx benchmarks/aggregate-1000-results.ts [--runs 5] [--latency-ms 15]
 *                                                [--out docs/benchmarks/aggregate-1000-results.md]
 *
 * s3rver and dynalite each run in a child process on 127.0.0.1 (so servers and client do not
 * share one event loop), written to through S3ObjectStore and DynamoStateStore. Each result has
 * 20 epochs of metrics (about 3 KB of JSON); 2% are failed trials. `--latency-ms` adds that delay
 * before every request of a second client of each service, a stand-in for the network round trip
 * to real S3 and DynamoDB (0 skips those rows). Every request a timed run sends is counted.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoStateStore } from '../shared/adapters/aws/dynamo-state-store.js';
import { stateTableInput } from '../shared/adapters/aws/dynamo-table.js';
import { S3ObjectStore } from '../shared/adapters/aws/s3-object-store.js';
import { buildLeaderboard, type Leaderboard } from '../shared/aggregation/leaderboard.js';
import type { Logger } from '../shared/ports/logger.js';
import { getJson, type ObjectStore } from '../shared/ports/object-store.js';
import { mulberry32 } from '../shared/random.js';
import { type Plan, trialResultKey } from '../shared/schemas/plan.js';
import type { TrialRecord } from '../shared/schemas/state.js';
import {
  type TrialResult,
  TrialResultSchema,
  trialRecordOf,
} from '../shared/schemas/trial-result.js';
import { readTrialResults } from '../shared/service/aggregate.js';
import type { ServiceDeps } from '../shared/service/deps.js';
import { planFactory, trialResultFor } from '../test/helpers/factories.js';
import { localDynamoClient, localS3Client } from '../test/helpers/local-aws.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'latency-ms': { type: 'string', default: '15' },
    out: { type: 'string' },
  },
});
const RUNS = Number(args.runs);
const LATENCY_MS = Number(args['latency-ms']);
const EPOCHS = 20;
const SWEEP_ID = 'bench-sweep';
const CONCURRENCY = [4, 16, 64];

/** 200 variants x 5 folds = 1,000 trials. */
function benchPlan(): Plan {
  return planFactory({
    sweepId: SWEEP_ID,
    spec: {
      folds: 5,
      searchSpace: {
        strategy: ['finetune'],
        freezeDepth: [0, 1, 2, 3],
        lrMultiplier: Array.from({ length: 50 }, (_, i) => Number((0.02 * (i + 1)).toFixed(2))),
      },
    },
  });
}

/** A result like the trainer writes: 20 epochs, loss falling and accuracy rising with noise. */
function benchResult(plan: Plan, trialIndex: number, random: () => number): TrialResult {
  const trial = plan.trials[trialIndex];
  const failed = random() < 0.02;
  const skill = 0.6 + 0.3 * random();
  const epochs = Array.from({ length: failed ? 3 : EPOCHS }, (_, epoch) => {
    const progress = 1 - Math.exp(-(epoch + 1) / 5);
    const noise = () => (random() - 0.5) * 0.02;
    return {
      epoch,
      loss: 2.3 * (1 - progress) + 0.2 + noise(),
      accuracy: Math.min(1, skill * progress + 0.1 + noise()),
      valLoss: 2.3 * (1 - progress) + 0.3 + noise(),
      valAccuracy: Math.min(1, skill * progress + 0.05 + noise()),
      durationMs: 900 + random() * 300,
      numTensors: 112,
    };
  });
  const best = epochs.reduce((b, e) => (e.valAccuracy > b.valAccuracy ? e : b), epochs[0]);
  const startedAt = new Date(Date.UTC(2025, 0, 1, 10) + trialIndex * 60_000);
  const durationMs = epochs.reduce((s, e) => s + e.durationMs, 0);
  return trialResultFor(plan, trial.variantIndex, trial.fold, {
    status: failed ? 'failed' : 'succeeded',
    reason: failed ? 'training diverged: loss is NaN at epoch 3' : undefined,
    backend: 'wasm',
    attempt: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date(startedAt.getTime() + durationMs).toISOString(),
    durationMs,
    trainSamples: 2720,
    valSamples: 680,
    epochs,
    bestEpoch: best.epoch,
    stoppedEarly: false,
    objective: failed ? null : best.valAccuracy,
    modelPrefix: `sweeps/${SWEEP_ID}/trials/${String(trialIndex).padStart(5, '0')}/model`,
  });
}

/** Like readTrialResults, with up to `limit` gets in flight; results keep key order. */
async function readTrialResultsConcurrently(
  objects: ObjectStore,
  sweepId: string,
  limit: number,
): Promise<TrialResult[]> {
  const keys = (await objects.list(`sweeps/${sweepId}/trials/`)).filter((k) =>
    k.endsWith('/result.json'),
  );
  const parsed = new Array<TrialResult | undefined>(keys.length);
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const i = next++;
      const result = TrialResultSchema.safeParse(await getJson(objects, keys[i]).catch(() => null));
      parsed[i] = result.success ? result.data : undefined;
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, keys.length) }, worker));
  return parsed.filter((r): r is TrialResult => r !== undefined);
}

async function mapBounded<T>(items: T[], limit: number, task: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

const silentLogger: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
  child: () => silentLogger,
};

/** Runs `script` in its own Node process; it prints its port on stdout, and stops on stdin end. */
async function startServerProcess(
  name: string,
  script: string,
): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${name} exited with code ${code}`)));
    child.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
  });
  return { port, child };
}

/** Starts s3rver 3.7.1 in its own process; resolves with its port. */
function startS3rverProcess(directory: string) {
  const s3rverMain = createRequire(import.meta.url).resolve('s3rver');
  return startServerProcess(
    's3rver',
    `
    const S3rver = require(${JSON.stringify(s3rverMain)});
    const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: ${JSON.stringify(directory)} });
    server.run().then((address) => process.stdout.write(JSON.stringify(address.port) + '\\n'));
    process.stdin.on('end', () => server.close().finally(() => process.exit(0)));
    process.stdin.resume();
  `,
  );
}

/** Starts dynalite (in memory, tables active at once, as startLocalDynamo) in its own process. */
function startDynaliteProcess() {
  const dynaliteMain = createRequire(import.meta.url).resolve('dynalite');
  return startServerProcess(
    'dynalite',
    `
    const dynalite = require(${JSON.stringify(dynaliteMain)});
    const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify(server.address().port) + '\\n'));
    process.stdin.on('end', () => server.close(() => process.exit(0)));
    process.stdin.resume();
  `,
  );
}

/** Counts the HTTP requests a client sends (the timed runs read it). */
interface RequestCounter {
  count: number;
}

/**
 * Counts every request of `client` in `counter` and, with `latencyMs` > 0, waits that long before
 * sending it (the simulated round trip). Both SDK clients take the same finalizeRequest middleware.
 */
function instrument<C extends S3Client | DynamoDBClient>(
  client: C,
  counter: RequestCounter,
  latencyMs = 0,
): C {
  (client as S3Client).middlewareStack.add(
    (next) => async (input) => {
      counter.count++;
      if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
      return next(input);
    },
    { step: 'finalizeRequest', name: latencyMs > 0 ? 'simulatedLatency' : 'requestCounter' },
  );
  return client;
}

/** The finished trials, as lifecycle.ts's finishedTrials takes them from listTrials. */
function finishedOf(trials: TrialRecord[]) {
  return trials.flatMap((t) =>
    t.status === 'succeeded' || t.status === 'failed'
      ? [{ ...t, status: t.status, attempt: Math.max(1, t.attempt) }]
      : [],
  );
}

interface Row {
  setup: string;
  /** Where the trials are read from. */
  store: string;
  mode: string;
  runs: number[];
  /** Process CPU seconds per run (client side: the servers run in other processes). */
  cpu: number[];
  /** Requests sent by one run (the last), when counted. */
  requests?: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Times `runs` calls of `act` after one warm-up call; returns the last call's value and, given a
 * counter, the requests the last call sent.
 */
async function timeRuns<T>(
  runs: number,
  act: () => Promise<T>,
  counter?: RequestCounter,
): Promise<{ runs: number[]; cpu: number[]; last: T; requests?: number }> {
  let last = await act(); // warm-up: connections, JIT
  const times: number[] = [];
  const cpu: number[] = [];
  let requests: number | undefined;
  for (let r = 0; r < runs; r++) {
    const before = counter?.count ?? 0;
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    last = await act();
    times.push(performance.now() - start);
    const used = process.cpuUsage(cpuStart);
    cpu.push((used.user + used.system) / 1e3);
    if (counter) requests = counter.count - before;
  }
  return { runs: times, cpu, last, requests };
}

function assertSameBoard(board: Leaderboard, reference: Leaderboard, what: string): void {
  if (!isDeepStrictEqual(board, reference)) {
    throw new Error(`${what} built a different leaderboard than readTrialResults`);
  }
}

/** Creates the state table (stateTableInput) and waits until dynalite has it ACTIVE. */
async function createStateTable(client: DynamoDBClient, name: string): Promise<void> {
  await client.send(new CreateTableCommand(stateTableInput(name)));
  for (let attempt = 0; ; attempt++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    if (Table?.TableStatus === 'ACTIVE') return;
    if (attempt >= 200) throw new Error(`table ${name} is still ${Table?.TableStatus}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const loadAtStart = os.loadavg();

const S3_STORE = 'S3 (s3rver)';
const STATE_STORE = 'state store (DynamoStateStore on dynalite)';

async function main() {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'foldsweep-bench-s3rver-'));
  const s3rver = await startS3rverProcess(directory);
  const dynalite = await startDynaliteProcess().catch(async (error) => {
    s3rver.child.stdin?.end();
    throw error;
  });
  const s3Endpoint = `http://127.0.0.1:${s3rver.port}`;
  const dynamoEndpoint = `http://127.0.0.1:${dynalite.port}`;
  const counters = {
    s3: { count: 0 },
    slowS3: { count: 0 },
    dynamo: { count: 0 },
    slowDynamo: { count: 0 },
  };
  const client = instrument(localS3Client(s3Endpoint), counters.s3);
  const slowClient =
    LATENCY_MS > 0 ? instrument(localS3Client(s3Endpoint), counters.slowS3, LATENCY_MS) : undefined;
  const dynamoClient = instrument(localDynamoClient(dynamoEndpoint), counters.dynamo);
  const slowDynamoClient =
    LATENCY_MS > 0
      ? instrument(localDynamoClient(dynamoEndpoint), counters.slowDynamo, LATENCY_MS)
      : undefined;
  const rows: Row[] = [];
  const facts: string[] = [];
  try {
    const bucket = 'bench-results';
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    const store = new S3ObjectStore({ client, bucket });
    const table = 'bench-state';
    await createStateTable(dynamoClient, table);
    const state = new DynamoStateStore({
      client: DynamoDBDocumentClient.from(dynamoClient),
      table,
    });
    const plan = benchPlan();
    const random = mulberry32(42);
    const results = plan.trials.map((t) => benchResult(plan, t.index, random));
    const bodies = results.map((result) => ({
      key: trialResultKey(SWEEP_ID, result.trialIndex),
      body: JSON.stringify(result),
    }));
    const updatedAt = new Date(Date.UTC(2025, 0, 2)).toISOString();
    const records = results.map((result) => trialRecordOf(result, updatedAt));
    const bytes = bodies.reduce((s, b) => s + Buffer.byteLength(b.body), 0);
    const recordBytes = records.reduce((s, r) => s + Buffer.byteLength(JSON.stringify(r)), 0);
    facts.push(
      `${bodies.length} results (${plan.variants.length} variants x ${plan.folds} folds), ${EPOCHS} epochs each, ` +
        `${(bytes / bodies.length / 1024).toFixed(1)} KiB of JSON per result on average, ${(bytes / 1024 / 1024).toFixed(2)} MiB in all; ` +
        `${results.filter((r) => r.status === 'failed').length} failed`,
    );
    facts.push(
      `the same ${records.length} trials as trial records (trialRecordOf): ${(recordBytes / records.length).toFixed(0)} B of JSON per record on average, ` +
        `${(recordBytes / 1024).toFixed(0)} KiB in all (DynamoDB pages a Query at 1 MB; the store sets no smaller page size)`,
    );
    const writeStart = performance.now();
    await mapBounded(bodies, 16, ({ key, body }) => store.put(key, body));
    facts.push(
      `writing the results through S3ObjectStore.put, 16 at once: ${(performance.now() - writeStart).toFixed(0)} ms`,
    );
    const putStart = performance.now();
    await mapBounded(records, 16, (record) => state.putTrial(record));
    facts.push(
      `writing the records through DynamoStateStore.putTrial, 16 at once: ${(performance.now() - putStart).toFixed(0)} ms`,
    );

    const setups: {
      name: string;
      objects: ObjectStore;
      s3Counter: RequestCounter;
      state: DynamoStateStore;
      stateCounter: RequestCounter;
      runs: number;
    }[] = [
      {
        name: 'loopback',
        objects: store,
        s3Counter: counters.s3,
        state,
        stateCounter: counters.dynamo,
        runs: RUNS,
      },
    ];
    if (slowClient && slowDynamoClient) {
      setups.push({
        name: `loopback + ${LATENCY_MS} ms per request (simulated)`,
        objects: new S3ObjectStore({ client: slowClient, bucket }),
        s3Counter: counters.slowS3,
        state: new DynamoStateStore({
          client: DynamoDBDocumentClient.from(slowDynamoClient),
          table,
        }),
        stateCounter: counters.slowDynamo,
        runs: Math.max(1, Math.min(RUNS, 2)),
      });
    }
    let reference: Leaderboard | undefined;
    for (const setup of setups) {
      const deps = { objects: setup.objects, logger: silentLogger } as unknown as ServiceDeps;
      const s3 = { setup: setup.name, store: S3_STORE };
      const listed = await timeRuns(
        setup.runs,
        () => setup.objects.list(`sweeps/${SWEEP_ID}/trials/`),
        setup.s3Counter,
      );
      rows.push({ ...s3, mode: 'list only (ListObjectsV2)', ...listed });
      const sequential = await timeRuns(
        setup.runs,
        async () => buildLeaderboard(plan, await readTrialResults(deps, SWEEP_ID)),
        setup.s3Counter,
      );
      reference ??= sequential.last;
      assertSameBoard(sequential.last, reference, `readTrialResults (${setup.name})`);
      rows.push({
        ...s3,
        mode: 'readTrialResults (16 gets at once) + buildLeaderboard',
        ...sequential,
      });
      for (const limit of CONCURRENCY) {
        const concurrent = await timeRuns(
          setup.runs,
          async () =>
            buildLeaderboard(
              plan,
              await readTrialResultsConcurrently(setup.objects, SWEEP_ID, limit),
            ),
          setup.s3Counter,
        );
        assertSameBoard(concurrent.last, reference, `${limit} gets at once (${setup.name})`);
        rows.push({ ...s3, mode: `${limit} gets at once + buildLeaderboard`, ...concurrent });
      }
      // The path aggregation takes now: one listTrials, the finished trials ranked.
      const fromState = await timeRuns(
        RUNS,
        async () => buildLeaderboard(plan, finishedOf(await setup.state.listTrials(SWEEP_ID))),
        setup.stateCounter,
      );
      assertSameBoard(fromState.last, reference, `listTrials (${setup.name})`);
      rows.push({
        setup: setup.name,
        store: STATE_STORE,
        mode: `listTrials (${fromState.requests} Query page${fromState.requests === 1 ? '' : 's'}) + buildLeaderboard`,
        ...fromState,
      });
    }
    const parsed = await readTrialResultsConcurrently(store, SWEEP_ID, 16);
    const rank = await timeRuns(RUNS, async () => buildLeaderboard(plan, parsed));
    rows.push({
      setup: 'in memory',
      store: '',
      mode: 'buildLeaderboard alone (1,000 parsed results)',
      ...rank,
    });
    const rankRecords = await timeRuns(RUNS, async () =>
      buildLeaderboard(plan, finishedOf(records)),
    );
    rows.push({
      setup: 'in memory',
      store: '',
      mode: 'buildLeaderboard alone (1,000 trial records)',
      ...rankRecords,
    });
    const parse = await timeRuns(RUNS, async () => {
      for (const { body } of bodies) TrialResultSchema.safeParse(JSON.parse(body));
    });
    rows.push({
      setup: 'in memory',
      store: '',
      mode: 'JSON.parse + safeParse of 1,000 bodies',
      ...parse,
    });
    facts.push(
      `leaderboard: ${reference?.rows.length} variants, best ${reference?.bestVariantId}; every read mode, S3 and state store, built the same leaderboard (isDeepStrictEqual)`,
    );
  } finally {
    client.destroy();
    slowClient?.destroy();
    dynamoClient.destroy();
    slowDynamoClient?.destroy();
    for (const { child } of [s3rver, dynalite]) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin?.end();
      await exited;
    }
    await rm(directory, { recursive: true, force: true });
  }
  await report(rows, facts);
}

/** One sentence per setup: readTrialResults vs the best concurrency vs the state store. */
function summary(rows: Row[]): string[] {
  const setups = [...new Set(rows.map((r) => r.setup))].filter((s) => s !== 'in memory');
  return setups.flatMap((setup) => {
    const of = rows.filter((r) => r.setup === setup);
    const seq = of.find((r) => r.mode.startsWith('readTrialResults'));
    const concurrent = of.filter((r) => r.mode.includes('gets at once'));
    if (!seq || concurrent.length === 0) return [];
    const best = concurrent.reduce((b, r) => (median(r.runs) < median(b.runs) ? r : b));
    const s = median(seq.runs);
    const b = median(best.runs);
    const mode = best.mode.replace(' + buildLeaderboard', '');
    const lines = [
      `${setup}: readTrialResults took ${s.toFixed(0)} ms (${(s / 1000).toFixed(2)} ms per result, ${seq.requests} requests); ${mode} took ${b.toFixed(0)} ms, ${(s / b).toFixed(1)}x faster`,
    ];
    const fromState = of.find((r) => r.store === STATE_STORE);
    if (fromState) {
      const t = median(fromState.runs);
      lines.push(
        `${setup}: the state store (listTrials, ${fromState.requests} Query request${fromState.requests === 1 ? '' : 's'}, + buildLeaderboard) took ${t.toFixed(0)} ms: ` +
          `${(s / t).toFixed(0)}x faster than readTrialResults and ${(b / t).toFixed(1)}x faster than ${mode}` +
          (setup.includes('simulated')
            ? `; the goal (1,000 results in under 1 s at ${LATENCY_MS} ms per request) is ${t < 1000 ? 'met' : 'NOT met'} (${(t / 1000).toFixed(2)} s, slowest run ${(Math.max(...fromState.runs) / 1000).toFixed(2)} s)`
            : ''),
      );
    }
    return lines;
  });
}

async function report(rows: Row[], facts: string[]): Promise<void> {
  const sequential = new Map(
    rows.filter((r) => r.mode.startsWith('readTrialResults')).map((r) => [r.setup, median(r.runs)]),
  );
  const header = [
    'setup',
    'store',
    'mode',
    'runs',
    'median ms',
    'min ms',
    'max ms',
    'requests',
    'client CPU ms',
    'vs readTrialResults',
  ];
  const lines = rows.map((r) => {
    const base = sequential.get(r.setup);
    const isRead =
      r.mode.includes('gets at once') ||
      r.mode.startsWith('readTrialResults') ||
      r.store === STATE_STORE;
    return [
      r.setup,
      r.store,
      r.mode,
      String(r.runs.length),
      median(r.runs).toFixed(1),
      Math.min(...r.runs).toFixed(1),
      Math.max(...r.runs).toFixed(1),
      r.requests === undefined ? '' : String(r.requests),
      median(r.cpu).toFixed(0),
      base && isRead ? `${(base / median(r.runs)).toFixed(2)}x` : '',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const numeric = (i: number) => i >= 3 && i <= 9;
  const cell = (c: string, i: number) => (numeric(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]));
  const table = [
    `| ${header.map(cell).join(' | ')} |`,
    `| ${widths.map((w, i) => (numeric(i) ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`,
    ...lines.map((l) => `| ${l.map(cell).join(' | ')} |`),
  ].join('\n');
  console.log(facts.map((f) => `- ${f}`).join('\n'));
  console.log(table);
  if (!args.out) return;
  const cpus = os.cpus();
  const loads = [loadAtStart, os.loadavg()]
    .map((l) => l.map((x) => x.toFixed(2)).join(' '))
    .join(' / ');
  const doc = [
    '# Aggregating 1,000 trial results: S3 (s3rver) and the state store (dynalite)',
    '',
    `- command: \`npx tsx benchmarks/aggregate-1000-results.ts --runs ${RUNS} --latency-ms ${LATENCY_MS} --out ${args.out}\``,
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpus[0]?.model ?? 'unknown CPU'}, nproc ${cpus.length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${os.platform()} ${os.release()}`,
    `- load average (1, 5, 15 min) at start / after the run: ${loads}` +
      (Math.max(loadAtStart[0], os.loadavg()[0]) > cpus.length
        ? ' (above nproc: the machine is shared and other work held the cores, so absolute times are inflated and noisy; compare the rows of one run side by side, not with other runs)'
        : ''),
    '- s3rver 3.7.1 and dynalite 4.0.0 (in memory), each in its own child process on 127.0.0.1 (their own event loops); written and read through S3ObjectStore and DynamoStateStore',
    ...facts.map((f) => `- ${f}`),
    '',
    '## Results',
    '',
    table,
    '',
    'Every row is timed after one warm-up run. "readTrialResults" is the service function as it is',
    '(list, then 16 gets at once: RESULT_READ_CONCURRENCY); "N gets at once" is the same list, get, safeParse and',
    'buildLeaderboard with at most N gets in flight, results kept in key order. The simulated-latency',
    'rows add a fixed delay before every request (list and gets) to stand in for the network round',
    'trip to S3; real S3 first-byte latency for small objects varies, so read them as a model, not a',
    'measurement. The state-store rows are what aggregation does now (settleSweep -> finishedTrials):',
    'one DynamoStateStore.listTrials (Query, ConsistentRead, paged by DynamoDB at 1 MB), the finished',
    'records ranked with buildLeaderboard; the simulated-latency row adds the same delay before every',
    'Query request, through the same middleware on a second DynamoDB client. "requests" counts the',
    'HTTP requests one timed run sent (ListObjectsV2 pages + GetObjects, or Query pages). Each',
    'state-store row has --runs runs (the S3 latency rows keep at most 2, as they take seconds).',
    'Every leaderboard equals the one readTrialResults built. Client CPU is this process only',
    '(the servers run in others).',
    '',
    '## Reading the numbers',
    '',
    ...summary(rows).map((line) => `- ${line}`),
    '',
  ].join('\n');
  await writeFile(args.out, doc);
  console.log(`wrote ${args.out}`);
}

await main();
