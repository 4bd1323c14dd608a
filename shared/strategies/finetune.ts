import { type GridPoint, SIMPLICITY_TIER, type StrategyDescriptor } from './descriptor.js';

/**
 * The depth a freezeDepth entry stands for: a count as given, a layer name as its position + 1
 * in `bodyLayers` (frozen through that layer). -1 when the name is not among `bodyLayers`.
 */
export function resolveFreezeDepth(entry: number | string, bodyLayers: readonly string[]): number {
  if (typeof entry === 'number') return entry;
  const at = bodyLayers.indexOf(entry);
  return at < 0 ? -1 : at + 1;
}

/** The number of layers up to the cut, when the planner knows them (it does for a plan). */
function knownBodyLayers(grid: { bodyLayers(why: string): readonly string[] }): number | undefined {
  try {
    return grid.bodyLayers('to tell a fully frozen body').length;
  } catch {
    return undefined;
  }
}

/**
 * finetune: new softmax head on the base cut at `model.cutLayer`, the first `freezeDepth` layers
 * frozen, the rest trained at learningRate x lrMultiplier, the head at that x headLrMultiplier.
 * Grid: freezeDepth, then lrMultiplier, then headLrMultiplier, then augment. A freezeDepth given
 * as a layer name is resolved to its count (the id hashes the count, so `[7, "fc1"]` is one
 * variant) and kept as `freezeAt` for the description.
 */
export const finetune: StrategyDescriptor<'finetune'> = {
  name: 'finetune',
  dimensions: {
    freezeDepth: [0],
    lrMultiplier: [0.1],
    headLrMultiplier: [1],
    augment: [false],
  },
  outputs: 'probabilities',
  head: 'new',
  *expand(grid) {
    const rate = grid.learningRate;
    for (const entry of grid.values('freezeDepth')) {
      const freezeDepth =
        typeof entry === 'number'
          ? entry
          : resolveFreezeDepth(entry, grid.bodyLayers(`to resolve freezeDepth '${entry}'`));
      if (freezeDepth < 0) throw new Error(`freezeDepth '${entry}' names no layer up to the cut`);
      const freezeAt = typeof entry === 'string' ? { freezeAt: entry } : {};
      // Everything up to the cut frozen: only the new head trains (a linear probe, or a small MLP
      // with head.hiddenUnits), and a multiplier of the pretrained layers' rate has nothing to
      // apply to. The head trains at the from-scratch rate (x headLrMultiplier), and the
      // lrMultiplier values collapse into one variant (lrMultiplier 1).
      const headOnly = freezeDepth >= (knownBodyLayers(grid) ?? Number.POSITIVE_INFINITY);
      const multipliers = headOnly ? [1] : grid.values('lrMultiplier');
      for (const lrMultiplier of multipliers) {
        for (const headLrMultiplier of grid.values('headLrMultiplier')) {
          for (const augment of grid.values('augment')) {
            yield {
              key: {
                freezeDepth,
                lrMultiplier,
                ...(headLrMultiplier !== 1 ? { headLrMultiplier } : {}),
                ...(augment ? { augment } : {}),
              },
              variant: {
                freezeDepth,
                ...freezeAt,
                lrMultiplier,
                learningRate: rate * lrMultiplier,
                headLrMultiplier,
                headLearningRate: rate * lrMultiplier * headLrMultiplier,
                augment,
              },
            } satisfies GridPoint;
          }
        }
      }
    }
  },
  describe(v) {
    const head =
      v.headLrMultiplier !== undefined && v.headLrMultiplier !== 1
        ? ` head×${v.headLrMultiplier}`
        : '';
    const aug = v.augment ? ' aug' : '';
    return `finetune freeze=${v.freezeAt ?? v.freezeDepth} lr×${v.lrMultiplier}${head}${aug}`;
  },
  servedByBottleneckCache: (v, layersUpToCut) => v.freezeDepth >= layersUpToCut && !v.augment,
  // More frozen layers train fewer parameters; a smaller multiplier stays nearer the base.
  simplicity: (v) => [SIMPLICITY_TIER.fineTune, -v.freezeDepth, v.lrMultiplier],
};
