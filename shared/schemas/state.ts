import { z } from 'zod';
import { SweepSpecSchema } from './sweep-spec.js';

export const SWEEP_STATUSES = [
  'pending',
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
  error: z.string().optional(),
  championVariantId: z.string().optional(),
});
export type SweepRecord = z.infer<typeof SweepRecordSchema>;

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
