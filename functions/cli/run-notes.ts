/**
 * What `foldsweep run` and `resume` say besides the leaderboard: the TensorFlow.js backend the
 * trainers will use (a forced backend that cannot load fails here, before any trial), the
 * preprocessing of the data and what it lost (colour dropped, images stretched), and which
 * backend the trials ran on.
 * @module
 */
import { ValidationError } from '../../shared/errors.js';
import { describePreprocessing, preprocessingOf } from '../../shared/model/preprocessing.js';
import type { Plan } from '../../shared/schemas/plan.js';
import type { TrialRecord } from '../../shared/schemas/state.js';
import {
  type BackendPreference,
  BackendUnavailableError,
  selectBackend,
} from '../../trainer/backend.js';

/**
 * Loads the backend the trainers will use, in this process, before anything is submitted: the
 * trainer processes load the same packages, so a forced backend that cannot load here would
 * fail every trial. Returns a line naming it.
 * @throws ValidationError on `--backend`: the reason and how to install the package
 */
export async function checkBackend(prefer: BackendPreference): Promise<string> {
  const known: readonly string[] = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];
  if (!known.includes(prefer)) {
    throw ValidationError.single('--backend', `must be one of ${known.join(', ')}`);
  }
  try {
    const backend = await selectBackend({ prefer });
    const fallback =
      prefer === 'auto' && (backend.name === 'wasm' || backend.name === 'cpu')
        ? " (@tensorflow/tfjs-node could not be loaded: see the README, 'TensorFlow.js backends')"
        : '';
    return `backend: ${backend.name}, ${backend.detail}${fallback}`;
  } catch (error) {
    if (error instanceof BackendUnavailableError) {
      throw ValidationError.single('--backend', error.message, error);
    }
    throw error;
  }
}

/** The preprocessing line and its warnings (`note: colour dropped …`), one per line. */
export function preprocessingNotes(plan: Plan): string[] {
  const preprocessing = preprocessingOf(plan.dataset);
  return [
    `preprocessing: ${describePreprocessing(preprocessing)}`,
    ...preprocessing.warnings.map((w) => `note: ${w}`),
  ];
}

/** `trained on: wasm (6 trials)`, from the trial records; undefined when none says. */
export function backendsUsed(trials: readonly TrialRecord[]): string | undefined {
  const counts = new Map<string, number>();
  for (const t of trials) if (t.backend) counts.set(t.backend, (counts.get(t.backend) ?? 0) + 1);
  if (counts.size === 0) return undefined;
  const parts = [...counts].map(([b, n]) => `${b} (${n} trial${n === 1 ? '' : 's'})`);
  return `trained on: ${parts.join(', ')}`;
}
