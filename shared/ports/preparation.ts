/**
 * Where a submitted sweep's preparation runs (shared/service/lifecycle.ts prepareSweep), off the
 * request path: locally a queue in the background of the serving process (one preparation at a
 * time, so memory stays bounded however many sweeps arrive); on AWS an asynchronous invocation
 * of the prepare function, whose 15 minutes the API's 29 s do not bound.
 * Contract: `start` returns once the preparation is handed over, not when it ends; starting a
 * sweep that is already prepared or preparing is harmless (prepareSweep skips it).
 * @example
 * const sweep = await submitSweep(deps, spec);
 * await deps.preparation.start(sweep.id); // then answer 202
 */
export interface PreparationStarter {
  start(sweepId: string): Promise<void>;
}
