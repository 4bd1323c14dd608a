/**
 * `foldsweep advise`: a recommended sweep for a dataset and base model, from the dataset's size
 * per class and a quick linear probe of the base model's features, with the reasons in the
 * practice's terms (docs/strategies.md; measured in
 * docs/results-fashion-mnist-transfer.md). Pure: the caller prepares the data and runs the probe.
 */
import { ValidationError } from './errors.js';
import { expandVariants } from './planner/variants.js';
import type { ProbeResult } from './ports/artifacts.js';
import type { DatasetRefInput } from './schemas/dataset.js';
import { type SweepSpec, type SweepSpecInput, SweepSpecSchema } from './schemas/sweep-spec.js';

/** Under this many labelled images the practice starts with bottleneck features + a linear SVM. */
export const SMALL_DATASET = 1000;
/** Up to this many images, augmentation is worth its cost ("a few-thousand-sample dataset"). */
export const AUGMENT_UP_TO = 10_000;
/** From this many images on, a network trained from scratch can compete with transfer. */
export const LARGE_DATASET = 20_000;
/** Probe skill (accuracy rescaled so chance = 0, perfect = 1) from which features transfer well. */
export const STRONG_TRANSFER = 0.8;
/** Probe skill under which the domains look far apart (practice 6: consider scratch). */
export const WEAK_TRANSFER = 0.5;
/** An earlier layer's probe this much more accurate says the later layers are task-specific. */
export const EARLIER_LAYERS_BETTER = 0.05;

export type ProbeSummary = Pick<
  ProbeResult,
  'cutLayer' | 'accuracy' | 'chance' | 'trainSamples' | 'valSamples'
>;

export interface AdviceInput {
  /** The dataset and (optional) test set as they go into the spec. */
  dataset: DatasetRefInput;
  testSet?: DatasetRefInput;
  /** The base model as it goes into the spec. */
  baseModel: string;
  classes: readonly string[];
  countsPerClass: readonly number[];
  /** The base's layers below its softmax head, in order (input layer excluded). */
  layers: readonly string[];
  /** The layer the early-layer probe used: finetune variants freeze through it. */
  earlyLayer: string;
  /** The probe at the default cut (the layer below the softmax head) ... */
  topProbe: ProbeSummary;
  /** ... and at `earlyLayer`. */
  earlyProbe?: ProbeSummary;
  name?: string;
  seed?: number;
}

export interface Advice {
  spec: SweepSpecInput;
  /** Why each choice was made, one line each, in the practice's terms. */
  reasons: string[];
  /** What the user should check before running (imbalance, flips, tiny classes). */
  warnings: string[];
  variants: number;
  trials: number;
}

/** Probe accuracy rescaled so that chance scores 0 and perfect 1. */
export const probeSkill = (p: ProbeSummary) => (p.accuracy - p.chance) / (1 - p.chance);

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const thousands = (n: number) => n.toLocaleString('en-US');

/**
 * The earlier layer to probe and to freeze through: the last layer of the first half of the
 * base's layers below the head (the generic edge-and-texture stages of a CNN); for the example
 * CNN (`conv1, pool1, conv2, pool2, conv3, gap, fc1`), `conv2`.
 */
export function earlyLayerOf(layers: readonly string[]): string | undefined {
  if (layers.length < 3) return undefined;
  return layers[Math.floor(layers.length / 2) - 1];
}

export function recommendSweep(input: AdviceInput): Advice {
  const counts = input.countsPerClass;
  const n = counts.reduce((a, b) => a + b, 0);
  const k = counts.length;
  const fewest = Math.min(...counts);
  const most = Math.max(...counts);
  const smallest = input.classes[counts.indexOf(fewest)];
  const reasons: string[] = [];
  const warnings: string[] = [];
  if (fewest < 2) {
    throw ValidationError.single(
      'dataset',
      `class '${smallest}' has ${fewest} image(s): cross-validation needs at least 2 per class; add images or drop the class (dataset.subset.classes)`,
    );
  }

  const top = input.topProbe;
  const skill = probeSkill(top);
  const transfer =
    skill >= STRONG_TRANSFER ? 'strong' : skill >= WEAK_TRANSFER ? 'moderate' : 'weak';
  reasons.push(
    `${thousands(n)} images in ${k} classes (${fewest === most ? fewest : `${fewest}-${most}`} per class).`,
    `Linear probe of '${top.cutLayer}' (the layer below the old softmax head) on ${top.trainSamples}+${top.valSamples} sampled images: ${pct(top.accuracy)} (chance ${pct(top.chance)}): ` +
      (transfer === 'strong'
        ? 'the pretrained features already separate the new classes; transfer should work well.'
        : transfer === 'moderate'
          ? 'the pretrained features separate the new classes in part; fine-tuning should adapt them.'
          : 'the pretrained features barely separate the new classes: the domains look far apart.'),
  );
  const early = input.earlyProbe;
  const earlierBetter =
    early !== undefined && early.accuracy - top.accuracy >= EARLIER_LAYERS_BETTER;
  if (early) {
    reasons.push(
      `Probe of the earlier layer '${early.cutLayer}': ${pct(early.accuracy)}` +
        (earlierBetter
          ? `, ${pct(early.accuracy - top.accuracy)} above '${top.cutLayer}': the later layers are specific to the old task; keep the early layers, retrain the later ones.`
          : `: not better than '${top.cutLayer}'; the later layers transfer too.`),
    );
  }

  // Strategies.
  const strategy: SweepSpec['searchSpace']['strategy'] = [
    'finetune',
    'bottleneck-linear',
    'scratch',
  ];
  if (n < SMALL_DATASET && transfer === 'strong') {
    reasons.push(
      `${thousands(n)} images: under ~${thousands(SMALL_DATASET)}, start with bottleneck-linear (a linear SVM on the frozen '${top.cutLayer}' features, C in 0.1, 1, 10); fine-tune with a 0.1 multiplier as a challenger.`,
    );
  } else if (n < SMALL_DATASET) {
    // Measured (docs/results-fashion-mnist-transfer.md): an SVM on frozen features scores about
    // what the probe does; with a moderate probe, fine-tuning beat it at 100 and 500 images.
    reasons.push(
      `${thousands(n)} images: under ~${thousands(SMALL_DATASET)} the practice starts with bottleneck-linear, but an SVM on the frozen '${top.cutLayer}' features scores about what the probe does (${pct(top.accuracy)}); fine-tuning can do better, so both lead (bottleneck-linear is cheap: its features are computed once and cached).`,
    );
  } else {
    reasons.push(
      `${thousands(n)} images: over ~${thousands(SMALL_DATASET)}, fine-tuning is the main strategy; bottleneck-linear stays as a cheap challenger (its features are computed once and cached).`,
    );
  }
  if (transfer === 'weak') {
    reasons.push(
      'scratch: with features that transfer this poorly, training the same architecture from scratch may win (practice 6); it is in the grid with and without augmentation.',
    );
  } else if (n >= LARGE_DATASET) {
    reasons.push(
      `scratch: with ${thousands(n)} images a network trained from scratch can compete; it is the baseline the others must beat.`,
    );
  } else {
    reasons.push('scratch: one variant, the baseline the transfer strategies must beat.');
  }

  // Fine-tuning grid.
  const freezeDepth: (number | string)[] = [0];
  if (transfer !== 'weak' && early) {
    freezeDepth.push(input.earlyLayer);
    reasons.push(
      `freezeDepth 0 and '${input.earlyLayer}': freeze the first layers (generic edges and textures) and train the later ones, or train all${earlierBetter ? '; the probe favours freezing only the early ones' : ''}.`,
    );
  } else if (transfer === 'weak') {
    reasons.push('freezeDepth 0: with a far domain every layer should adapt.');
  }
  const lrMultiplier = transfer === 'weak' ? [1] : [0.1, 1];
  reasons.push(
    transfer === 'weak'
      ? 'lrMultiplier 1: far-domain features need large changes, so fine-tune at the scratch rate.'
      : "lrMultiplier 0.1 and 1: 10x smaller than from scratch is the practice's start; x1 is the challenger because within an epoch budget a 10x smaller rate can stop before it converges (on the Fashion-MNIST transfer task x1 beat x0.1 at 100, 500 and 2,000 images: docs/results-fashion-mnist-transfer.md).",
  );
  const augment = n <= AUGMENT_UP_TO ? [false, true] : [false];
  reasons.push(
    n <= AUGMENT_UP_TO
      ? `augment false and true: augmentation (flip, rotation ±10°, translation ±10%) can help a dataset of a few thousand images or fewer, but not always (on centred, upright Fashion-MNIST it did not); the sweep measures whether it does here.`
      : `augment false: with ${thousands(n)} images augmentation is seldom worth its cost; add true to measure it.`,
  );

  // Folds, holdout, training budget.
  const wantedFolds = n < SMALL_DATASET ? 5 : 3;
  const folds = Math.max(2, Math.min(wantedFolds, fewest));
  reasons.push(
    folds < wantedFolds
      ? `${folds} folds: the smallest class ('${smallest}') has only ${fewest} images, and every fold needs one of each class.`
      : folds === 5
        ? '5 folds: with few images each validation fold is small; more folds average out its noise (trials are cheap at this size).'
        : '3 folds: enough images per fold for a stable mean; fewer trials to run.',
  );
  const holdout = fewest >= 40 ? 0.15 : 0;
  reasons.push(
    holdout > 0
      ? 'holdoutFraction 0.15: a per-class holdout no fold trains on scores the champion once, unbiased by the selection.'
      : `holdoutFraction 0: the smallest class ('${smallest}', ${fewest} images) is too small to hold images out; keep a separate testSet to score the champion.`,
  );
  const training =
    n < 2000
      ? { learningRate: 0.003, epochs: 40, batchSize: 16, patience: 6 }
      : { learningRate: 0.003, epochs: 20, batchSize: 32, patience: 4 };
  reasons.push(
    `training: Adam at ${training.learningRate} from scratch (fine-tuning x lrMultiplier), batch ${training.batchSize}, up to ${training.epochs} epochs with early stopping (patience ${training.patience}); ` +
      (n < 2000
        ? 'small batches and more epochs because an epoch is only a few steps.'
        : "the best epoch's weights are kept."),
  );

  if (most > 3 * fewest) {
    warnings.push(
      `classes are imbalanced (${fewest} to ${most} per class): accuracy favours the large classes; consider dataset.subset.perClass ${fewest} to balance them.`,
    );
  }
  if (augment.includes(true)) {
    warnings.push(
      'augmentation flips images left-right: set augmentation.flip to false if a mirrored image means something else (text, digits, left/right-specific classes).',
    );
  }
  if (input.testSet === undefined) {
    warnings.push('no test set given (--test-set): the champion is scored on the holdout only.');
  }

  const spec: SweepSpecInput = {
    ...(input.name ? { name: input.name } : {}),
    baseModel: input.baseModel,
    dataset: input.dataset,
    ...(input.testSet ? { testSet: input.testSet } : {}),
    folds,
    seed: input.seed ?? 0,
    holdoutFraction: holdout,
    searchSpace: {
      strategy,
      freezeDepth,
      lrMultiplier,
      augment,
      svmC: [0.1, 1, 10],
    },
    ...(augment.includes(true)
      ? { augmentation: { flip: true, rotationDegrees: 10, translateFraction: 0.1 } }
      : {}),
    training,
  };
  const parsed = SweepSpecSchema.parse(spec);
  const variants = expandVariants(parsed, input.layers).length;
  return { spec, reasons, warnings, variants, trials: variants * folds };
}
