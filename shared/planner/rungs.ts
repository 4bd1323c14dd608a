/**
 * Successive halving over folds (`search.scheduler: { type: 'successive-halving', eta }`), as
 * pure functions: the rungs a plan has (planRungs), which variants a finished rung promotes
 * (promoteRung), and where a sweep stands given its finished trials (halvingProgress). The
 * lifecycle submits one rung at a time from these; the leaderboard marks pruned variants with
 * them; both get the same answer from the same trial outcomes.
 * @module
 */

/** One rung of a plan: the folds it runs and how many variants run them. */
export interface Rung {
  rung: number;
  /** Folds this rung adds (one, or every remaining one in the last rung). */
  folds: number[];
  /** Variants that run this rung: all of them at rung 0, then ceil(previous / eta). */
  variants: number;
}

/**
 * The rungs for `variants` variants and `folds` folds: rung r runs fold r of ceil(n_{r-1} / eta)
 * variants (rung 0: fold 0 of all of them); the last rung (fold folds - 1, or the first rung
 * left with one variant) runs every remaining fold. A single variant is one rung of all folds.
 * @example
 * planRungs(30, 3, 3); // [{ rung: 0, folds: [0], variants: 30 }, { rung: 1, folds: [1], variants: 10 },
 *                      //  { rung: 2, folds: [2], variants: 4 }]
 */
export function planRungs(variants: number, folds: number, eta: number): Rung[] {
  if (!Number.isInteger(eta) || eta < 2) throw new Error(`eta must be an integer >= 2, got ${eta}`);
  const rungs: Rung[] = [];
  let n = variants;
  for (let r = 0; r < folds; r++) {
    const last = r === folds - 1 || n === 1;
    rungs.push({
      rung: r,
      folds: last ? Array.from({ length: folds - r }, (_, i) => r + i) : [r],
      variants: n,
    });
    if (last) break;
    n = Math.ceil(n / eta);
  }
  return rungs;
}

/** The folds run up to and including rung `r`. */
export function foldsThrough(rungs: readonly Rung[], r: number): number[] {
  return rungs.slice(0, r + 1).flatMap((x) => x.folds);
}

/** Trials every rung runs together: what a halving sweep trains at most. */
export function plannedTrialCount(rungs: readonly Rung[]): number {
  return rungs.reduce((sum, r) => sum + r.variants * r.folds.length, 0);
}

/**
 * The trial indices of rung `r` for the variants that run it: variant by variant (ascending
 * index), each with the rung's folds, trial index = variantIndex * folds + fold as everywhere.
 */
export function rungTrialIndices(
  rung: Rung,
  variantIndices: readonly number[],
  folds: number,
): number[] {
  return [...variantIndices]
    .sort((a, b) => a - b)
    .flatMap((v) => rung.folds.map((f) => v * folds + f));
}

/** A variant's score at a rung: the mean objective over its folds so far; null when one failed. */
export interface RungScore {
  variantIndex: number;
  score: number | null;
}

/**
 * Ranks a finished rung and keeps the best `keep`: by score (higher first for accuracy, lower
 * for a loss); a variant with a failed trial (score null) ranks after every scored one; ties
 * break by the lower variant index (plan order), so the outcome is the same on every run.
 * Keeps at least one and at most all of them (fewer variants than eta: the best one goes on).
 * @returns the rung ranked best first, and the promoted variant indices in ascending order
 */
export function promoteRung(
  scores: readonly RungScore[],
  keep: number,
  higherIsBetter: boolean,
): { ranked: RungScore[]; promoted: number[] } {
  const ranked = [...scores].sort((a, b) => {
    if (a.score === null || b.score === null) {
      if (a.score !== b.score) return a.score === null ? 1 : -1;
    } else if (a.score !== b.score) {
      return higherIsBetter ? b.score - a.score : a.score - b.score;
    }
    return a.variantIndex - b.variantIndex;
  });
  const n = Math.max(1, Math.min(keep, ranked.length));
  const promoted = ranked
    .slice(0, n)
    .map((s) => s.variantIndex)
    .sort((a, b) => a - b);
  return { ranked, promoted };
}

/** A finished trial as halving needs it. */
export interface RungTrialOutcome {
  trialIndex: number;
  status: 'succeeded' | 'failed';
  objective: number | null;
}

/** One rung of a sweep as far as it got. */
export interface RungState extends Rung {
  /** Variant indices that run (or ran) this rung, ascending. */
  variantIndices: number[];
  /** Its trial indices (rungTrialIndices). */
  trials: number[];
  /** Whether every one of its trials finished. */
  finished: boolean;
  /** When finished: every variant's rung score, ranked best first. */
  ranked?: RungScore[];
  /** When finished and not the last rung: the variants that go on. */
  promoted?: number[];
}

/** Where a halving sweep stands. */
export interface HalvingProgress {
  /** The rungs reached so far, the current one last. */
  rungs: RungState[];
  /** The rung whose trials run now (or are to be submitted): the last one in `rungs`. */
  current: number;
  /** Every rung finished: the sweep is ready to aggregate. */
  complete: boolean;
  /** Variants pruned, with the rung they stopped at and their score there. */
  pruned: Map<number, { rung: number; score: number | null }>;
}

/**
 * Replays the rungs over the finished trials: rung 0 is fold 0 of every variant; each finished
 * rung promotes by promoteRung (score = mean objective over the variant's folds so far) into the
 * next. Deterministic in the outcomes, so the lifecycle (what to submit next) and the
 * leaderboard (who was pruned) agree.
 * @param outcomes finished trials (others are unfinished)
 */
export function halvingProgress(
  plan: { folds: number; variants: readonly unknown[]; rungs: readonly Rung[] },
  outcomes: Iterable<RungTrialOutcome>,
  higherIsBetter: boolean,
): HalvingProgress {
  const byTrial = new Map<number, RungTrialOutcome>();
  for (const o of outcomes) byTrial.set(o.trialIndex, o);
  const k = plan.folds;
  const states: RungState[] = [];
  const pruned = new Map<number, { rung: number; score: number | null }>();
  let candidates = plan.variants.map((_, i) => i);
  for (const rung of plan.rungs) {
    const trials = rungTrialIndices(rung, candidates, k);
    const finished = trials.every((t) => byTrial.has(t));
    const state: RungState = { ...rung, variantIndices: candidates, trials, finished };
    states.push(state);
    const last = rung.rung === plan.rungs.length - 1;
    if (!finished) return { rungs: states, current: rung.rung, complete: false, pruned };
    const folds = foldsThrough(plan.rungs, rung.rung);
    const scores: RungScore[] = candidates.map((v) => {
      let sum = 0;
      for (const f of folds) {
        const o = byTrial.get(v * k + f);
        const value = o?.status === 'succeeded' ? o.objective : null;
        if (value === null || !Number.isFinite(value)) return { variantIndex: v, score: null };
        sum += value;
      }
      return { variantIndex: v, score: sum / folds.length };
    });
    const keep = last ? candidates.length : (plan.rungs[rung.rung + 1]?.variants ?? 1);
    const { ranked, promoted } = promoteRung(scores, keep, higherIsBetter);
    state.ranked = ranked;
    if (last) return { rungs: states, current: rung.rung, complete: true, pruned };
    state.promoted = promoted;
    const goOn = new Set(promoted);
    for (const s of ranked) {
      if (!goOn.has(s.variantIndex))
        pruned.set(s.variantIndex, { rung: rung.rung, score: s.score });
    }
    candidates = promoted;
  }
  // A plan always has a last rung; an empty one has nothing to run.
  return { rungs: states, current: Math.max(0, states.length - 1), complete: true, pruned };
}
