/**
 * The training strategies, one per `searchSpace.strategy` value (docs/strategies.md).
 * @module
 */
import type { Strategy } from '../../shared/schemas/sweep-spec.js';
import { bottleneckLinear } from './bottleneck-linear.js';
import { finetune } from './finetune.js';
import { scratch } from './scratch.js';
import type { TrainingStrategy } from './strategy.js';

export const STRATEGY_RUNNERS: Record<Strategy, TrainingStrategy> = {
  finetune,
  'bottleneck-linear': bottleneckLinear,
  scratch,
};

export type { StrategyResult, TrainingStrategy, TrialContext } from './strategy.js';
