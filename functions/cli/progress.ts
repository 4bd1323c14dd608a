import cliProgress from 'cli-progress';
import { describeVariant } from '../../shared/planner/variants.js';
import type { ExecutorEvent } from '../../shared/ports/executor.js';
import type { Plan } from '../../shared/schemas/plan.js';
import { trialsToRun } from '../../shared/service/halving.js';

/**
 * Shows sweep progress: on a terminal, a bar for trials and one per running trial for epochs;
 * elsewhere (CI, pipes) one line per finished trial.
 */
export class SweepProgressView {
  private plan: Plan | undefined;
  private readonly multi: cliProgress.MultiBar | undefined;
  private trialsBar: cliProgress.SingleBar | undefined;
  private readonly epochBars = new Map<number, cliProgress.SingleBar>();
  private finished = 0;
  private readonly started = Date.now();

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {
    if (out.isTTY) {
      this.multi = new cliProgress.MultiBar(
        {
          stream: out,
          clearOnComplete: false,
          hideCursor: true,
          format:
            ' {label} |{bar}| {value}/{total} {duration_formatted} ETA {eta_formatted} {extra}',
          autopadding: true,
        },
        cliProgress.Presets.shades_classic,
      );
    }
  }

  start(plan: Plan) {
    this.plan = plan;
    this.trialsBar = this.multi?.create(trialsToRun(plan), 0, {
      label: 'trials'.padEnd(34),
      extra: '',
    });
    if (!this.multi) {
      this.out.write(
        `sweep ${plan.sweepId}: ${plan.variants.length} variants x ${plan.folds} folds = ${plan.trials.length} trials${plan.rungs ? ` (successive halving: at most ${trialsToRun(plan)} run, in ${plan.rungs.length} rungs)` : ''}\n`,
      );
    }
  }

  private label(trialIndex: number) {
    const plan = this.plan as Plan;
    const t = plan.trials[trialIndex];
    // The refit (trial plan.trials.length) is not among the plan's trials.
    if (!t) return 'refit on every non-holdout image';
    return `${describeVariant(plan.variants[t.variantIndex])} f${t.fold}`;
  }

  onEvent = (event: ExecutorEvent) => {
    if (!this.plan || event.type === 'sweep-drained') return;
    if (event.type === 'trial-started') {
      const bar = this.multi?.create(event.totalEpochs, 0, {
        label: this.label(event.trialIndex).padEnd(34),
        extra: '',
      });
      if (bar) this.epochBars.set(event.trialIndex, bar);
    } else if (event.type === 'epoch') {
      this.epochBars.get(event.trialIndex)?.update(event.epoch + 1, {
        extra:
          event.valAccuracy === null
            ? `train_acc ${event.accuracy?.toFixed(3) ?? '?'}`
            : `val_acc ${event.valAccuracy.toFixed(3)}`,
      });
    } else if (event.type === 'trial-finished') {
      this.finished++;
      const bar = this.epochBars.get(event.trialIndex);
      if (bar) {
        this.multi?.remove(bar);
        this.epochBars.delete(event.trialIndex);
      }
      const outcome =
        event.status === 'succeeded'
          ? event.objective === null
            ? 'trained'
            : `objective ${event.objective.toFixed(4)}`
          : `FAILED: ${event.reason?.split('\n')[0]}`;
      this.trialsBar?.update(this.finished, {
        extra: `last: ${this.label(event.trialIndex)} ${outcome}`,
      });
      if (!this.multi) {
        const elapsed = (Date.now() - this.started) / 1000;
        const left = trialsToRun(this.plan) - this.finished;
        const eta = left > 0 ? `, ETA ${Math.round((elapsed / this.finished) * left)}s` : '';
        this.out.write(
          `[${elapsed.toFixed(0)}s elapsed${eta}] trial ${this.finished}/${trialsToRun(this.plan)} ${this.label(event.trialIndex)}: ${outcome}\n`,
        );
      }
    }
  };

  stop() {
    this.multi?.stop();
  }
}
