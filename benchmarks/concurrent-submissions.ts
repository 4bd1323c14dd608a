/**
 * 100 concurrent `POST /sweeps` of a spec on a never-prepared Fashion-MNIST source (the full
 * 60,000-image training IDX), against a real `foldsweep serve` on a fresh home: the time until
 * every request has its 202, the time until every sweep is prepared and running, and the server
 * process's peak RSS (VmHWM from /proc; trainer processes are not counted: each is its own
 * process). Then every sweep is cancelled through the API.
 *
 *   npx tsx benchmarks/concurrent-submissions.ts [--requests 100] [--out docs/benchmarks/concurrent-submissions.md]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { requests: { type: 'string', default: '100' }, out: { type: 'string' } },
});
const REQUESTS = Number(values.requests);
const REPO = path.resolve(import.meta.dirname, '..');
const BIN = path.join(REPO, 'bin/foldsweep.mjs');

const spec = {
  name: 'burst',
  baseModel: path.join(REPO, 'examples/fashion-mnist/base-model/model.json'),
  dataset: {
    uri: '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz',
    format: 'idx',
    subset: { classes: [5, 6, 7, 8, 9], perClass: 20, seed: 1 },
  },
  folds: 2,
  searchSpace: { strategy: ['finetune'], freezeDepth: [3], lrMultiplier: [1] },
  training: { epochs: 1 },
};

async function vm(pid: number) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

async function main() {
  const home = await mkdtemp(path.join(os.tmpdir(), 'foldsweep-burst-'));
  const server = spawn(
    process.execPath,
    [BIN, 'serve', '--home', home, '--port', '0', '--concurrency', '1'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /on (http:\S+)/.exec(out);
      if (m) {
        clearInterval(timer);
        resolve(m[1]);
      }
    }, 50);
    server.once('exit', () => reject(new Error(`server exited: ${out}`)));
  });
  const pid = server.pid as number;
  const idle = await vm(pid);
  let peakSampled = idle.rssMb;
  const sampler = setInterval(() => {
    vm(pid)
      .then((m) => {
        peakSampled = Math.max(peakSampled, m.rssMb);
      })
      .catch(() => undefined);
  }, 20);

  const started = performance.now();
  const answers = await Promise.all(
    Array.from({ length: REQUESTS }, async () => {
      const t = performance.now();
      const res = await fetch(`${url}/sweeps`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(spec),
      });
      const body = (await res.json()) as { sweep: { id: string } };
      return { status: res.status, ms: performance.now() - t, id: body.sweep.id };
    }),
  );
  const allAnswered = performance.now() - started;
  const statuses = [...new Set(answers.map((a) => a.status))];
  const latencies = answers.map((a) => a.ms).sort((a, b) => a - b);

  // Until every sweep is prepared (running or beyond).
  const ids = answers.map((a) => a.id);
  let prepared = 0;
  while (prepared < ids.length) {
    await new Promise((r) => setTimeout(r, 200));
    const list = (await (await fetch(`${url}/sweeps?limit=1000`)).json()) as {
      sweeps: { id: string; status: string }[];
    };
    prepared = list.sweeps.filter(
      (s) => ids.includes(s.id) && !['pending', 'preparing'].includes(s.status),
    ).length;
  }
  const allPrepared = performance.now() - started;
  clearInterval(sampler);
  const after = await vm(pid);
  let cancelled = 0;
  for (const id of ids) {
    const res = await fetch(`${url}/sweeps/${id}/cancel`, { method: 'POST' });
    if (res.status === 200) cancelled++;
  }
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  await rm(home, { recursive: true, force: true });

  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  const lines = [
    '# 100 concurrent sweep submissions on a never-prepared dataset',
    '',
    `\`npx tsx benchmarks/concurrent-submissions.ts --requests ${REQUESTS}\` on ${os.cpus().length} cores (${os.cpus()[0]?.model}), ` +
      `Node ${process.version}, load average ${load} after the run, ${new Date().toISOString().slice(0, 16)} UTC.`,
    '',
    'A real `foldsweep serve` on a fresh home; every request POSTs the same spec on the full Fashion-MNIST',
    'training IDX (60,000 images, never prepared on that home), subset 20 per class of classes 5-9.',
    '',
    '| measure | value |',
    '|---|---|',
    `| answers | ${REQUESTS} x ${statuses.join(', ')} |`,
    `| time until all ${REQUESTS} answers | ${(allAnswered / 1000).toFixed(2)} s |`,
    `| answer latency p50 / p95 / max | ${pct(0.5).toFixed(0)} / ${pct(0.95).toFixed(0)} / ${latencies[latencies.length - 1].toFixed(0)} ms |`,
    `| time until all ${REQUESTS} sweeps prepared and running | ${(allPrepared / 1000).toFixed(2)} s |`,
    `| server RSS idle / after | ${idle.rssMb.toFixed(0)} / ${after.rssMb.toFixed(0)} MB |`,
    `| server peak RSS (VmHWM) | ${after.peakMb.toFixed(0)} MB (sampled every 20 ms: ${peakSampled.toFixed(0)} MB) |`,
    `| cancelled afterwards | ${cancelled} |`,
    '',
    "Before the lifecycle work (the issue's measurement): each POST decoded the dataset inside the request;",
    '100 concurrent POSTs took up to 100 s each and 7.4 GB of memory. Now a POST stores the sweep `pending`',
    'and answers 202; the serving process prepares the queued sweeps one at a time, and a dataset source',
    'is decoded once (single flight), so memory stays bounded by one decode.',
    '',
  ];
  const text = lines.join('\n');
  process.stdout.write(`${text}\n`);
  if (values.out) await writeFile(values.out, text);
}

await main();
