/**
 * A small AWS Lambda Invoke API stand-in on loopback, for the real @aws-sdk/client-lambda:
 * `POST /2015-03-31/functions/{FunctionName}/invocations`. An `Event` invocation (asynchronous)
 * answers 202 at once and runs the registered handler afterwards, retried twice on a throw as
 * Lambda retries asynchronous invocations; `RequestResponse` answers 200 with the handler's
 * result. Functions are registered by name (the last part of an ARN).
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export type LambdaHandler = (event: unknown) => Promise<unknown>;

export interface Invocation {
  functionName: string;
  type: 'Event' | 'RequestResponse';
  event: unknown;
  receivedAt: number;
  /** Attempts run (asynchronous invocations) and the last error, if every attempt threw. */
  attempts: number;
  error?: string;
}

export interface RunningLambdaEmulator {
  endpoint: string;
  invocations: Invocation[];
  register(name: string, handler: LambdaHandler): void;
  /** Resolves when no asynchronous invocation is queued or running. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

const ASYNC_ATTEMPTS = 3;

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startLambdaEmulator(): Promise<RunningLambdaEmulator> {
  const handlers = new Map<string, LambdaHandler>();
  const invocations: Invocation[] = [];
  const pending = new Set<Promise<void>>();
  const server = createServer(async (req, res) => {
    const m = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(req.url ?? '');
    const payload = await body(req);
    const name = m ? decodeURIComponent(m[1]).split(':function:').pop()?.split(':')[0] : undefined;
    const handler = name ? handlers.get(name) : undefined;
    if (req.method !== 'POST' || !name || !handler) {
      res.writeHead(404, {
        'content-type': 'application/json',
        'x-amzn-errortype': 'ResourceNotFoundException',
      });
      res.end(JSON.stringify({ Type: 'User', message: `Function not found: ${name}` }));
      return;
    }
    const type = req.headers['x-amz-invocation-type'] === 'Event' ? 'Event' : 'RequestResponse';
    const event = payload ? JSON.parse(payload) : {};
    const invocation: Invocation = {
      functionName: name,
      type,
      event,
      receivedAt: Date.now(),
      attempts: 0,
    };
    invocations.push(invocation);
    if (type === 'Event') {
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end();
      const run = (async () => {
        await new Promise((r) => setImmediate(r));
        for (let attempt = 1; attempt <= ASYNC_ATTEMPTS; attempt++) {
          invocation.attempts = attempt;
          try {
            await handler(event);
            invocation.error = undefined;
            return;
          } catch (error) {
            invocation.error = (error as Error).message;
          }
        }
      })();
      pending.add(run);
      void run.finally(() => pending.delete(run));
      return;
    }
    invocation.attempts = 1;
    try {
      const result = await handler(event);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(result ?? null));
    } catch (error) {
      invocation.error = (error as Error).message;
      res.writeHead(200, {
        'content-type': 'application/json',
        'x-amz-function-error': 'Unhandled',
      });
      res.end(JSON.stringify({ errorMessage: invocation.error }));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    invocations,
    register: (name, handler) => handlers.set(name, handler),
    async idle() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
