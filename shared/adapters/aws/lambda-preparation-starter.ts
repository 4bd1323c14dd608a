import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { PreparationStarter } from '../../ports/preparation.js';
import type { PrepareSweepEvent } from '../../schemas/events.js';

export interface LambdaPreparationStarterOptions {
  client: LambdaClient;
  /** The prepare function's name or ARN. */
  functionName: string;
}

/**
 * Starts a sweep's preparation on AWS: an asynchronous invocation (`InvocationType: 'Event'`) of
 * the prepare function with `{ sweepId }`. Lambda queues the event and answers 202 at once, so
 * the api function answers its caller in milliseconds; the prepare function has up to 15 minutes
 * (and Lambda retries it twice if it crashes; prepareSweep skips a sweep already past preparing).
 * @example
 * const starter = new LambdaPreparationStarter({ client: new LambdaClient({}), functionName });
 * await starter.start(sweep.id);
 */
export class LambdaPreparationStarter implements PreparationStarter {
  constructor(private readonly options: LambdaPreparationStarterOptions) {}

  async start(sweepId: string): Promise<void> {
    const event: PrepareSweepEvent = { sweepId };
    const out = await this.options.client.send(
      new InvokeCommand({
        FunctionName: this.options.functionName,
        InvocationType: 'Event',
        Payload: new TextEncoder().encode(JSON.stringify(event)),
      }),
    );
    if (out.StatusCode !== 202) {
      throw new Error(
        `invoking ${this.options.functionName} for sweep ${sweepId} answered ${out.StatusCode}, not 202`,
      );
    }
  }
}
