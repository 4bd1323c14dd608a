import { describe, expect, it } from 'vitest';
import {
  STRATEGIES,
  STRATEGY_DESCRIPTORS,
  type Strategy,
} from '../../../shared/strategies/index.js';
import { bottleneckLinear } from '../../../trainer/strategies/bottleneck-linear.js';
import { finetune } from '../../../trainer/strategies/finetune.js';
import {
  runnerFor,
  runnerProblems,
  STRATEGY_RUNNERS,
  type StrategyRunners,
} from '../../../trainer/strategies/index.js';
import { scratch } from '../../../trainer/strategies/scratch.js';

describe('the strategy runners', () => {
  it('has a runner for every descriptor and none without one, each under its name', () => {
    // Prepare / Act
    const problems = runnerProblems(STRATEGY_DESCRIPTORS, STRATEGY_RUNNERS);

    // Assess
    expect(problems).toEqual([]);
    expect(Object.keys(STRATEGY_RUNNERS)).toEqual(STRATEGIES);
    for (const name of STRATEGIES) expect(runnerFor(name).name).toBe(name);
  });

  it('reports a descriptor without a runner, a runner without a descriptor and a misnamed one', () => {
    // Prepare
    const runners = { finetune, 'bottleneck-linear': scratch, distill: finetune };

    // Act
    const problems = runnerProblems(STRATEGY_DESCRIPTORS, runners);

    // Assess
    expect(problems).toEqual([
      "strategy 'scratch' has no runner",
      "runner 'bottleneck-linear' is named 'scratch'",
      "runner 'distill' has no descriptor",
    ]);
  });

  it('makes a missing, extra or misnamed runner a type error', () => {
    // Prepare / Act: each declaration below must fail to compile (npm run typecheck).
    // @ts-expect-error: scratch has a descriptor but no runner
    const missing: StrategyRunners<Strategy> = { finetune, 'bottleneck-linear': bottleneckLinear };
    const extra: StrategyRunners<Strategy> = {
      finetune,
      'bottleneck-linear': bottleneckLinear,
      scratch,
      // @ts-expect-error: distill has a runner but no descriptor
      distill: finetune,
    };
    const misnamed: StrategyRunners<Strategy> = {
      finetune,
      // @ts-expect-error: the scratch runner under bottleneck-linear's name
      'bottleneck-linear': scratch,
      scratch,
    };

    // Assess: the same mistakes are caught at run time too.
    expect(runnerProblems(STRATEGY_DESCRIPTORS, missing)).toEqual([
      "strategy 'scratch' has no runner",
    ]);
    expect(runnerProblems(STRATEGY_DESCRIPTORS, extra)).toEqual([
      "runner 'distill' has no descriptor",
    ]);
    expect(runnerProblems(STRATEGY_DESCRIPTORS, misnamed)).toEqual([
      "runner 'bottleneck-linear' is named 'scratch'",
    ]);
  });

  it('refuses to dispatch an unregistered strategy instead of training another one', () => {
    // Prepare / Act
    const dispatch = () =>
      // @ts-expect-error: distill is not a registered strategy
      runnerFor('distill');

    // Assess
    expect(dispatch).toThrow(
      "no runner for strategy 'distill': this trainer runs finetune, bottleneck-linear, scratch",
    );
  });
});
