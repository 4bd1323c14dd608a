/**
 * Class selection and seeded per-class sampling of a labelled dataset (DatasetRef.subset).
 * @module
 */
import { ValidationError } from '../errors.js';
import { mulberry32, shuffleInPlace } from '../random.js';
import type { DatasetRef } from '../schemas/dataset.js';

/** Mixes two integers into a 32-bit seed (so each class gets its own independent stream). */
export function mixSeed(seed: number, salt: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ (salt >>> 0), 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export interface SubsetSelection {
  /** Indices into the source samples to keep, ascending (source order is preserved). */
  indices: number[];
  /** New label of each kept sample (same length as `indices`), 0..classes.length-1. */
  labels: Uint8Array;
  /** Class names after selection, in new-label order. */
  classes: string[];
  /** Samples per new label. */
  countsPerClass: number[];
}

/**
 * Applies `subset` to `labels` (values 0..classNames.length-1):
 * keeps only `subset.classes` (re-indexed 0..n-1 in the order given), then at most
 * `subset.perClass` samples per class, drawn with a PRNG seeded by (seed, source class), so a
 * class's sample does not depend on which other classes are selected.
 * Throws ValidationError on `<fieldPath>.subset.classes` for unknown, duplicate or empty classes.
 */
export function selectSubset(
  labels: ArrayLike<number>,
  classNames: readonly string[],
  subset: DatasetRef['subset'],
  fieldPath: string,
): SubsetSelection {
  const numClasses = classNames.length;
  const classesPath = `${fieldPath}.subset.classes`;
  const selected = subset?.classes ?? classNames.map((_, i) => i);
  const seen = new Set<number>();
  for (const c of selected) {
    if (c >= numClasses) {
      throw ValidationError.single(
        classesPath,
        `class index ${c} does not exist: the dataset has ${numClasses} classes (0..${numClasses - 1}: ${classNames.join(', ')})`,
      );
    }
    if (seen.has(c)) {
      throw ValidationError.single(classesPath, `class index ${c} is listed twice: list each once`);
    }
    seen.add(c);
  }

  const byClass = new Map<number, number[]>(selected.map((c) => [c, []]));
  for (let i = 0; i < labels.length; i++) byClass.get(labels[i])?.push(i);

  const keep: Array<[index: number, label: number]> = [];
  const countsPerClass: number[] = [];
  selected.forEach((sourceClass, newLabel) => {
    let members = byClass.get(sourceClass) ?? [];
    if (members.length === 0) {
      throw ValidationError.single(
        subset?.classes ? classesPath : `${fieldPath}.uri`,
        `class ${sourceClass} ('${classNames[sourceClass]}') has no samples: ` +
          (subset?.classes ? 'remove it from subset.classes' : 'add samples or drop the class'),
      );
    }
    const perClass = subset?.perClass;
    if (perClass !== undefined && members.length > perClass) {
      members = sampleWithoutReplacement(
        members,
        perClass,
        mixSeed(subset?.seed ?? 0, sourceClass),
      );
    }
    countsPerClass.push(members.length);
    for (const i of members) keep.push([i, newLabel]);
  });
  keep.sort((a, b) => a[0] - b[0]);

  return {
    indices: keep.map(([i]) => i),
    labels: Uint8Array.from(keep, ([, l]) => l),
    classes: selected.map((c) => classNames[c]),
    countsPerClass,
  };
}

/** `k` distinct elements of `items` (seeded shuffle), returned in ascending order. */
function sampleWithoutReplacement(items: readonly number[], k: number, seed: number): number[] {
  return shuffleInPlace(items.slice(), mulberry32(seed))
    .slice(0, k)
    .sort((x, y) => x - y);
}
