import { describe, expect, it } from 'vitest';
import { selectSubset } from '../../../../shared/data/subset.js';
import { ValidationError } from '../../../../shared/errors.js';

const names = ['a', 'b', 'c', 'd'];
// 100 samples per class, classes interleaved: label of sample i is i % 4.
const labels = Uint8Array.from({ length: 400 }, (_, i) => i % 4);

describe('selectSubset', () => {
  it('keeps everything without a subset', () => {
    const sel = selectSubset(labels, names, undefined, 'dataset');
    expect(sel.indices).toHaveLength(400);
    expect(sel.classes).toEqual(names);
    expect(sel.countsPerClass).toEqual([100, 100, 100, 100]);
    expect(sel.labels).toEqual(labels);
  });

  it('re-indexes the selected classes in the order given', () => {
    const sel = selectSubset(labels, names, { classes: [3, 1], seed: 0 }, 'dataset');
    expect(sel.classes).toEqual(['d', 'b']);
    expect(sel.countsPerClass).toEqual([100, 100]);
    sel.indices.forEach((src, k) => {
      expect(labels[src]).toBe(sel.labels[k] === 0 ? 3 : 1);
    });
    expect(sel.indices).toEqual([...sel.indices].sort((x, y) => x - y));
  });

  it('samples at most perClass per class, deterministically for a seed', () => {
    const subset = { classes: [0, 2], perClass: 7, seed: 42 };
    const a = selectSubset(labels, names, subset, 'dataset');
    const b = selectSubset(labels, names, { ...subset }, 'dataset');
    expect(a.countsPerClass).toEqual([7, 7]);
    expect(a.indices).toHaveLength(14);
    expect(a.indices).toEqual(b.indices);
    expect(Array.from(a.labels)).toEqual(Array.from(b.labels));
    const c = selectSubset(labels, names, { ...subset, seed: 43 }, 'dataset');
    expect(c.indices).not.toEqual(a.indices);
  });

  it('samples a class independently of the other selected classes', () => {
    const pick = (classes: number[]) => {
      const sel = selectSubset(labels, names, { classes, perClass: 5, seed: 3 }, 'dataset');
      return sel.indices.filter((i) => labels[i] === 2);
    };
    expect(pick([2, 0])).toEqual(pick([1, 2, 3]));
  });

  it('keeps a whole class smaller than perClass', () => {
    const sel = selectSubset(labels, names, { perClass: 1000, seed: 0 }, 'dataset');
    expect(sel.countsPerClass).toEqual([100, 100, 100, 100]);
  });

  it('rejects unknown and duplicate classes on <field>.subset.classes', () => {
    for (const classes of [
      [0, 4],
      [1, 1],
    ]) {
      let err: unknown;
      try {
        selectSubset(labels, names, { classes, seed: 0 }, 'spec.dataset');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).issues[0].path).toBe('spec.dataset.subset.classes');
    }
  });

  it('rejects a selected class with no samples', () => {
    const few = Uint8Array.of(0, 0, 1, 1);
    expect(() => selectSubset(few, names, { classes: [0, 3], seed: 0 }, 'dataset')).toThrow(
      /class 3 \('d'\) has no samples/,
    );
  });
});
