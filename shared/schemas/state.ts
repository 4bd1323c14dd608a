import { z } from 'zod';
import { SweepSpecSchema } from './sweep-spec.js';

/** A sweep's lifecycle (shared/service/lifecycle.ts moves it): see that file for the arrows. */
export const SWEEP_STATUSES = [
  'pending',
  'preparing',
  'running',
  'aggregating',
  'completed',
  'failed',
  'cancelled',
] as const;
export const SweepStatusSchema = z.enum(SWEEP_STATUSES);
export type SweepStatus = z.infer<typeof SweepStatusSchema>;
export const TERMINAL_SWEEP_STATUSES: readonly SweepStatus[] = ['completed', 'failed', 'cancelled'];

export const TrialStatusSchema = z.enum(['pending', 'running', 'succeeded', 'failed']);
export type TrialStatus = z.infer<typeof TrialStatusSchema>;

/** A field-named problem (the shape of a 400's issues), kept on a sweep that failed preparing. */
export const FieldIssueSchema = z.object({ path: z.string(), message: z.string() });

/**
 * The process that drives a sweep (locally: a `foldsweep run` or `serve`), with a lease it renews
 * by heartbeat. Nobody else takes the sweep over while `leaseUntil` is in the future.
 */
export const SweepOwnerSchema = z.object({ id: z.string(), leaseUntil: z.string() });
export type SweepOwner = z.infer<typeof SweepOwnerSchema>;

/** A sweep as the state store keeps it. */
export const SweepRecordSchema = z.object({
  id: z.string(),
  name: z.string().optional(),
  status: SweepStatusSchema,
  spec: SweepSpecSchema,
  createdAt: z.string(),
  updatedAt: z.string(),
  planKey: z.string().optional(),
  datasetHash: z.string().optional(),
  trialsTotal: z.number().int().nonnegative(),
  /** Why it failed or was cancelled (null once cleared by a resume or a later success). */
  error: z.string().nullable().optional(),
  /** Why preparation rejected the sweep, field by field (as a 400 would list them). */
  issues: z.array(FieldIssueSchema).optional(),
  championVariantId: z.string().optional(),
  /** The executor's job ids, one per part (AWS: the array jobs); events of other jobs are ignored. */
  jobIds: z.array(z.string()).optional(),
  /**
   * Successive halving: the rung whose trials run now (its job ids are `jobIds`), and every
   * submitted rung's job ids by rung, so that a Batch event of any rung is matched by job id.
   */
  rung: z.number().int().nonnegative().optional(),
  rungJobIds: z.array(z.array(z.string())).optional(),
  /** Aggregation attempts so far: bounded (MAX_AGGREGATION_ATTEMPTS), then the sweep fails. */
  aggregationAttempts: z.number().int().nonnegative().optional(),
  /** null once released (terminal sweeps keep no owner). */
  owner: SweepOwnerSchema.nullable().optional(),
});
export type SweepRecord = z.infer<typeof SweepRecordSchema>;

/** How far a sweep's trials are (`GET /sweeps/:id`). */
export const SweepProgressSchema = z.object({
  trialsTotal: z.number().int().nonnegative(),
  pending: z.number().int().nonnegative(),
  running: z.number().int().nonnegative(),
  succeeded: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  /** Fraction of trials that are terminal, 0..1. */
  fraction: z.number().min(0).max(1),
});
export type SweepProgress = z.infer<typeof SweepProgressSchema>;

/** A sweep with its trial progress. */
export const SweepViewSchema = SweepRecordSchema.extend({ progress: SweepProgressSchema });
export type SweepView = z.infer<typeof SweepViewSchema>;

export const TrialRecordSchema = z.object({
  sweepId: z.string(),
  trialIndex: z.number().int().nonnegative(),
  variantId: z.string(),
  fold: z.number().int().nonnegative(),
  status: TrialStatusSchema,
  attempt: z.number().int().min(0),
  objective: z.number().nullable(),
  reason: z.string().optional(),
  backend: z.string().optional(),
  bestEpoch: z.number().int().nonnegative().optional(),
  durationMs: z.number().nonnegative().optional(),
  updatedAt: z.string(),
});
export type TrialRecord = z.infer<typeof TrialRecordSchema>;

/** The promoted model of a sweep: written once per sweep. */
export const ChampionRecordSchema = z.object({
  sweepId: z.string(),
  variantId: z.string(),
  trialIndex: z.number().int().nonnegative(),
  modelPrefix: z.string(),
  objectiveMean: z.number(),
  holdoutAccuracy: z.number().optional(),
  testAccuracy: z.number().optional(),
  promotedAt: z.string(),
});
export type ChampionRecord = z.infer<typeof ChampionRecordSchema>;
