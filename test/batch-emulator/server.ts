/**
 * A small AWS Batch on loopback for tests: an HTTP server speaking Batch's REST-JSON protocol
 * (POST /v1/submitjob, /v1/describejobs, /v1/listjobs, /v1/terminatejob), enough for the real
 * @aws-sdk/client-batch, in front of the BatchEmulator state machine (emulator.ts). It counts
 * the requests it receives per operation, so tests can assert how many calls a sweep costs.
 * @example
 * const batch = await startBatchEmulator({ jobQueues: ['q'], jobDefinitions: { trainer: { command } },
 *   onEvent: (event) => aggregatorHandler(event) });
 * const client = new BatchClient({ endpoint: batch.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type BatchApiError,
  BatchClientError,
  BatchEmulator,
  type BatchEmulatorOptions,
} from './emulator.js';

export const EMULATOR_CREDENTIALS = { accessKeyId: 'EMULATOR', secretAccessKey: 'EMULATOR' };

const OPERATIONS: Record<string, string> = {
  '/v1/submitjob': 'SubmitJob',
  '/v1/describejobs': 'DescribeJobs',
  '/v1/listjobs': 'ListJobs',
  '/v1/terminatejob': 'TerminateJob',
};

export interface RunningBatchEmulator {
  endpoint: string;
  emulator: BatchEmulator;
  /** Requests received per operation (intercepted ones included). */
  calls: Record<string, number>;
  totalCalls(): number;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, errorType?: string) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': crypto.randomUUID(),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  res.end(text);
}

function sendError(res: ServerResponse, error: BatchApiError) {
  send(res, error.status, { __type: error.type, message: error.message }, error.type);
}

function handle(emulator: BatchEmulator, operation: string, body: Record<string, unknown>) {
  switch (operation) {
    case 'SubmitJob':
      return emulator.submitJob(body);
    case 'DescribeJobs':
      return emulator.describeJobs(body as { jobs?: string[] });
    case 'ListJobs':
      return emulator.listJobs(body as Parameters<BatchEmulator['listJobs']>[0]);
    default:
      return emulator.terminateJob(body as { jobId?: string; reason?: string });
  }
}

export async function startBatchEmulator(
  options: BatchEmulatorOptions,
): Promise<RunningBatchEmulator> {
  const emulator = new BatchEmulator(options);
  const calls: Record<string, number> = {};
  const server = createServer(async (req, res) => {
    const operation = OPERATIONS[(req.url ?? '').split('?')[0]];
    const raw = await readBody(req).catch(() => '');
    if (req.method !== 'POST' || !operation) {
      sendError(res, {
        status: 404,
        type: 'ClientException',
        message: `the Batch emulator does not implement ${req.method} ${req.url}`,
      });
      return;
    }
    calls[operation] = (calls[operation] ?? 0) + 1;
    let body: Record<string, unknown>;
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      sendError(res, { status: 400, type: 'ClientException', message: 'request body is not JSON' });
      return;
    }
    const injected = options.intercept?.(operation, body);
    if (injected && !injected.afterHandling) {
      sendError(res, injected);
      return;
    }
    try {
      const out = handle(emulator, operation, body);
      if (injected) sendError(res, injected);
      else send(res, 200, out);
    } catch (error) {
      if (error instanceof BatchClientError) {
        sendError(res, { status: 400, type: 'ClientException', message: error.message });
      } else {
        sendError(res, { status: 500, type: 'ServerException', message: (error as Error).message });
      }
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    emulator,
    calls,
    totalCalls: () => Object.values(calls).reduce((a, b) => a + b, 0),
    async close() {
      await emulator.shutdown();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
