import { ValidationError } from '../errors.js';
import { mulberry32, shuffleInPlace } from '../random.js';

/**
 * Stratified, seeded k-fold assignment with an optional holdout.
 * For each class separately: shuffle its sample indices with the seed, put the first
 * round(holdoutFraction x n_class) into the holdout (-1), then deal the rest round-robin into
 * folds 0..k-1, starting each class where the previous one stopped so fold sizes stay within one.
 * Every non-holdout sample lands in exactly one validation fold.
 *
 * @param labels class index of each sample
 * @returns foldOf[i] in [-1, k): -1 = holdout, else the fold in which sample i is validated
 * @throws ValidationError on `folds` when a class has fewer non-holdout samples than k
 */
export function assignFolds(
  labels: ArrayLike<number>,
  numClasses: number,
  k: number,
  seed: number,
  holdoutFraction = 0,
): number[] {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  const foldOf = new Array<number>(labels.length).fill(-1);
  let next = 0;
  for (let c = 0; c < numClasses; c++) {
    const members = byClass[c];
    if (members.length === 0) continue;
    const random = mulberry32((seed ^ Math.imul(c + 1, 0x9e3779b1)) >>> 0);
    shuffleInPlace(members, random);
    const holdout = Math.round(members.length * holdoutFraction);
    const rest = members.length - holdout;
    if (rest < k) {
      throw ValidationError.single(
        'folds',
        `class ${c} has ${rest} samples outside the holdout, fewer than folds=${k}: ` +
          `lower folds, lower holdoutFraction or add samples to that class`,
      );
    }
    for (let j = holdout; j < members.length; j++) {
      foldOf[members[j]] = next;
      next = (next + 1) % k;
    }
  }
  return foldOf;
}

/** Sample indices of a fold's train and validation splits (holdout excluded from both). */
export function foldSplit(foldOf: readonly number[], fold: number) {
  const train: number[] = [];
  const validation: number[] = [];
  const holdout: number[] = [];
  foldOf.forEach((f, i) => {
    if (f === -1) holdout.push(i);
    else if (f === fold) validation.push(i);
    else train.push(i);
  });
  return { train, validation, holdout };
}
