/**
 * Reading 1,000 TrialResults back from S3 and ranking them, as the aggregator does: list
 * `sweeps/<id>/trials/`, get every result.json, parse, buildLeaderboard. Compares the service's
 * own `readTrialResults` (one get at a time) with the same reads at bounded concurrency.
 *
 *   npx tsx benchmarks/aggregate-1000-results.ts [--runs 5] [--latency-ms 15]
 *                                                [--out docs/benchmarks/aggregate-1000-results.md]
 *
 * s3rver runs in a child process on 127.0.0.1 (so server and client do not share one event loop),
 * and is written to through S3ObjectStore. Each result has 20 epochs of metrics (about 3 KB of
 * JSON); 2% are failed trials. `--latency-ms` adds that delay before every request of a second
 * client, a stand-in for the network round trip to real S3 (0 skips those rows).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { S3ObjectStore } from '../shared/adapters/aws/s3-object-store.js';
import { buildLeaderboard, type Leaderboard } from '../shared/aggregation/leaderboard.js';
import type { Logger } from '../shared/ports/logger.js';
import { getJson, type ObjectStore } from '../shared/ports/object-store.js';
import { mulberry32 } from '../shared/random.js';
import { type Plan, trialResultKey } from '../shared/schemas/plan.js';
import { type TrialResult, TrialResultSchema } from '../shared/schemas/trial-result.js';
import { readTrialResults } from '../shared/service/aggregate.js';
import type { ServiceDeps } from '../shared/service/deps.js';
import { planFactory, trialResultFor } from '../test/helpers/factories.js';
import { localS3Client } from '../test/helpers/local-aws.js';

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

/** Starts s3rver 3.7.1 in its own process; resolves with its port. */
async function startS3rverProcess(
  directory: string,
): Promise<{ port: number; child: ChildProcess }> {
  const s3rverMain = createRequire(import.meta.url).resolve('s3rver');
  const script = `
    const S3rver = require(${JSON.stringify(s3rverMain)});
    const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: ${JSON.stringify(directory)} });
    server.run().then((address) => process.stdout.write(JSON.stringify(address.port) + '\\n'));
    process.stdin.on('end', () => server.close().finally(() => process.exit(0)));
    process.stdin.resume();
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`s3rver exited with code ${code}`)));
    child.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
  });
  return { port, child };
}

function withLatency(client: S3Client, ms: number): S3Client {
  client.middlewareStack.add(
    (next) => async (input) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return next(input);
    },
    { step: 'finalizeRequest', name: 'simulatedLatency' },
  );
  return client;
}

interface Row {
  setup: string;
  mode: string;
  runs: number[];
  /** Process CPU seconds per run (client side: s3rver runs in another process). */
  cpu: number[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Times `runs` calls of `act` after one warm-up call; returns the last call's value. */
async function timeRuns<T>(
  runs: number,
  act: () => Promise<T>,
): Promise<{ runs: number[]; cpu: number[]; last: T }> {
  let last = await act(); // warm-up: connections, JIT
  const times: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < runs; r++) {
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    last = await act();
    times.push(performance.now() - start);
    const used = process.cpuUsage(cpuStart);
    cpu.push((used.user + used.system) / 1e3);
  }
  return { runs: times, cpu, last };
}

function assertSameBoard(board: Leaderboard, reference: Leaderboard, what: string): void {
  if (!isDeepStrictEqual(board, reference)) {
    throw new Error(`${what} built a different leaderboard than readTrialResults`);
  }
}

const loadAtStart = os.loadavg();

async function main() {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'foldsweep-bench-s3rver-'));
  const { port, child } = await startS3rverProcess(directory);
  const endpoint = `http://127.0.0.1:${port}`;
  const client = localS3Client(endpoint);
  const slowClient = LATENCY_MS > 0 ? withLatency(localS3Client(endpoint), LATENCY_MS) : undefined;
  const rows: Row[] = [];
  const facts: string[] = [];
  try {
    const bucket = 'bench-results';
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    const store = new S3ObjectStore({ client, bucket });
    const plan = benchPlan();
    const random = mulberry32(42);
    const bodies = plan.trials.map((t) => ({
      key: trialResultKey(SWEEP_ID, t.index),
      body: JSON.stringify(benchResult(plan, t.index, random)),
    }));
    const bytes = bodies.reduce((s, b) => s + Buffer.byteLength(b.body), 0);
    facts.push(
      `${bodies.length} results (${plan.variants.length} variants x ${plan.folds} folds), ${EPOCHS} epochs each, ` +
        `${(bytes / bodies.length / 1024).toFixed(1)} KiB of JSON per result on average, ${(bytes / 1024 / 1024).toFixed(2)} MiB in all`,
    );
    const writeStart = performance.now();
    await mapBounded(bodies, 16, ({ key, body }) => store.put(key, body));
    facts.push(
      `writing them through S3ObjectStore.put, 16 at once: ${(performance.now() - writeStart).toFixed(0)} ms`,
    );

    const setups: { name: string; objects: ObjectStore; runs: number }[] = [
      { name: 'loopback', objects: store, runs: RUNS },
    ];
    if (slowClient) {
      setups.push({
        name: `loopback + ${LATENCY_MS} ms per request (simulated)`,
        objects: new S3ObjectStore({ client: slowClient, bucket }),
        runs: Math.max(1, Math.min(RUNS, 2)),
      });
    }
    let reference: Leaderboard | undefined;
    for (const setup of setups) {
      const deps = { objects: setup.objects, logger: silentLogger } as unknown as ServiceDeps;
      const listed = await timeRuns(setup.runs, () =>
        setup.objects.list(`sweeps/${SWEEP_ID}/trials/`),
      );
      rows.push({ setup: setup.name, mode: 'list only (1 ListObjectsV2 page)', ...listed });
      const sequential = await timeRuns(setup.runs, async () =>
        buildLeaderboard(plan, await readTrialResults(deps, SWEEP_ID)),
      );
      reference ??= sequential.last;
      assertSameBoard(sequential.last, reference, `readTrialResults (${setup.name})`);
      rows.push({
        setup: setup.name,
        mode: 'readTrialResults (sequential) + buildLeaderboard',
        ...sequential,
      });
      for (const limit of CONCURRENCY) {
        const concurrent = await timeRuns(setup.runs, async () =>
          buildLeaderboard(
            plan,
            await readTrialResultsConcurrently(setup.objects, SWEEP_ID, limit),
          ),
        );
        assertSameBoard(concurrent.last, reference, `${limit} gets at once (${setup.name})`);
        rows.push({
          setup: setup.name,
          mode: `${limit} gets at once + buildLeaderboard`,
          ...concurrent,
        });
      }
    }
    const results = await readTrialResultsConcurrently(store, SWEEP_ID, 16);
    const rank = await timeRuns(RUNS, async () => buildLeaderboard(plan, results));
    rows.push({
      setup: 'in memory',
      mode: 'buildLeaderboard alone (1,000 parsed results)',
      ...rank,
    });
    const parse = await timeRuns(RUNS, async () => {
      for (const { body } of bodies) TrialResultSchema.safeParse(JSON.parse(body));
    });
    rows.push({ setup: 'in memory', mode: 'JSON.parse + safeParse of 1,000 bodies', ...parse });
    facts.push(
      `leaderboard: ${reference?.rows.length} variants, best ${reference?.bestVariantId}; every read mode built the same leaderboard`,
    );
  } finally {
    client.destroy();
    slowClient?.destroy();
    child.stdin?.end();
    await new Promise((resolve) => child.once('exit', resolve));
    await rm(directory, { recursive: true, force: true });
  }
  await report(rows, facts);
}

/** One sentence per setup: sequential vs the best concurrency. */
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
    return [
      `${setup}: readTrialResults took ${s.toFixed(0)} ms (${(s / 1000).toFixed(2)} ms per result); ${mode} took ${b.toFixed(0)} ms, ${(s / b).toFixed(1)}x faster`,
    ];
  });
}

async function report(rows: Row[], facts: string[]): Promise<void> {
  const sequential = new Map(
    rows.filter((r) => r.mode.startsWith('readTrialResults')).map((r) => [r.setup, median(r.runs)]),
  );
  const header = [
    'setup',
    'mode',
    'runs',
    'median ms',
    'min ms',
    'max ms',
    'client CPU ms',
    'vs sequential',
  ];
  const lines = rows.map((r) => {
    const base = sequential.get(r.setup);
    const isRead = r.mode.includes('gets at once') || r.mode.startsWith('readTrialResults');
    return [
      r.setup,
      r.mode,
      String(r.runs.length),
      median(r.runs).toFixed(1),
      Math.min(...r.runs).toFixed(1),
      Math.max(...r.runs).toFixed(1),
      median(r.cpu).toFixed(0),
      base && isRead ? `${(base / median(r.runs)).toFixed(2)}x` : '',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const numeric = (i: number) => i >= 2 && i <= 7;
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
    '# Aggregating 1,000 trial results from S3 (s3rver)',
    '',
    `- command: \`npx tsx benchmarks/aggregate-1000-results.ts --runs ${RUNS} --latency-ms ${LATENCY_MS} --out ${args.out}\``,
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpus[0]?.model ?? 'unknown CPU'}, nproc ${cpus.length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${os.platform()} ${os.release()}`,
    `- load average at start / after the run: ${loads} (above nproc: other work shared the cores, so loopback times are noisy)`,
    '- s3rver 3.7.1 in a child process on 127.0.0.1 (its own event loop), written and read through S3ObjectStore',
    ...facts.map((f) => `- ${f}`),
    '',
    '## Results',
    '',
    table,
    '',
    'Every row is timed after one warm-up run. "readTrialResults" is the service function as it is',
    '(list, then one get at a time); "N gets at once" is the same list, get, safeParse and',
    'buildLeaderboard with at most N gets in flight, results kept in key order. The simulated-latency',
    'rows add a fixed delay before every request (list and gets) to stand in for the network round',
    'trip to S3; real S3 first-byte latency for small objects varies, so read them as a model, not a',
    'measurement. Client CPU is this process only (s3rver runs in another).',
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
