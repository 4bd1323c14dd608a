/**
 * The training strategies' runners, one per registered strategy (shared/strategies/index.ts;
 * docs/strategies.md, docs/adding-a-strategy.md).
 * @module
 */
import {
  STRATEGY_DESCRIPTORS,
  type Strategy,
  type StrategyRegistry,
} from '../../shared/strategies/index.js';
import { bottleneckLinear } from './bottleneck-linear.js';
import { finetune } from './finetune.js';
import { scratch } from './scratch.js';
import type { TrainingStrategy } from './strategy.js';

/** A runner for each strategy of a registry, under its name. */
export type StrategyRunners<N extends string> = {
  readonly [K in N]: K extends Strategy ? TrainingStrategy<K> : never;
};

/**
 * The runner of every registered strategy, by name. The keys are the descriptors' names: a
 * descriptor without a runner is a missing property, a runner without a descriptor an excess
 * property, a runner under another strategy's name a type mismatch: all type errors.
 */
export const STRATEGY_RUNNERS: StrategyRunners<Strategy> = {
  finetune,
  'bottleneck-linear': bottleneckLinear,
  scratch,
};

// The run-time side of that check (a cast defeats types): a trainer with a strategy it cannot
// run fails when it loads, not on the first trial of that strategy.
const problems = runnerProblems(STRATEGY_DESCRIPTORS, STRATEGY_RUNNERS);
if (problems.length > 0) throw new Error(`strategy runners: ${problems.join('; ')}`);

/**
 * The run-time counterpart of the type check: what is wrong between `descriptors` and
 * `runners` (a descriptor without a runner, a runner without a descriptor, a runner whose name
 * is not its key), one line each; empty when they match.
 */
export function runnerProblems(
  descriptors: StrategyRegistry<string>,
  runners: { readonly [name: string]: { readonly name: string } },
): string[] {
  const problems: string[] = [];
  for (const name of Object.keys(descriptors)) {
    if (!Object.hasOwn(runners, name)) problems.push(`strategy '${name}' has no runner`);
  }
  for (const [name, runner] of Object.entries(runners)) {
    if (!Object.hasOwn(descriptors, name)) problems.push(`runner '${name}' has no descriptor`);
    else if (runner.name !== name) problems.push(`runner '${name}' is named '${runner.name}'`);
  }
  return problems;
}

/**
 * The runner of a variant's strategy. Plans are validated, so the strategy is registered; a
 * value that is not (a plan from a newer release) throws, naming it, instead of training
 * something else.
 */
export function runnerFor(strategy: Strategy): TrainingStrategy {
  const runner = Object.hasOwn(STRATEGY_RUNNERS, strategy) ? STRATEGY_RUNNERS[strategy] : undefined;
  if (!runner) {
    throw new Error(
      `no runner for strategy '${String(strategy)}': this trainer runs ${Object.keys(STRATEGY_RUNNERS).join(', ')}`,
    );
  }
  return runner;
}

export type { StrategyResult, TrainingStrategy, TrialContext } from './strategy.js';
