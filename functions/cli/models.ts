/**
 * `foldsweep models list|show|rollback`: the model registry from the command line.
 * Bad input throws ValidationError, which main.ts prints (exit code 2).
 */
import { parseArgs } from 'node:util';
import { ValidationError } from '../../shared/errors.js';
import type { ModelVersion } from '../../shared/schemas/registry.js';
import { getModel, listModels, rollback } from '../../shared/service/registry.js';
import type { RetrainDepsFactory } from './schedule.js';
import { table } from './schedule.js';

export const MODELS_USAGE = `Usage:
  foldsweep models list [--home DIR] [--json]
  foldsweep models show <name> [--home DIR] [--json]
  foldsweep models rollback <name> [--version N] [--reason TEXT] [--home DIR] [--json]

rollback without --version serves the version that served before the current one.
`;

const score = (v: ModelVersion) => (v.holdoutScore ? v.holdoutScore.accuracy.toFixed(4) : '-');

/** One line per version with where it came from and how it scored. */
export function formatVersions(versions: readonly ModelVersion[], serving: number | null): string {
  return table(
    ['', 'version', 'decision', 'source', 'sweep', 'variant', 'data', 'cv', 'holdout', 'created'],
    versions.map((v) => [
      v.version === serving ? '*' : '',
      `v${v.version}`,
      v.decision,
      v.source.kind === 'schedule' ? `schedule ${v.source.scheduleId}` : 'api',
      v.sweepId,
      `${v.variant.strategy} freeze=${v.variant.freezeDepth} lr×${v.variant.lrMultiplier}`,
      `${v.dataset.hash.slice(0, 12)} (${v.dataset.count})`,
      v.cv.mean.toFixed(4),
      score(v),
      v.createdAt,
    ]),
  );
}

/**
 * Runs `foldsweep models <sub> ...`; returns the exit code.
 * @example
 * process.exitCode = await modelsCommand(['rollback', 'fashion', '--version', '2'], (o) => localDeps(o));
 */
export async function modelsCommand(
  args: string[],
  makeDeps: RetrainDepsFactory,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      home: { type: 'string' },
      json: { type: 'boolean', default: false },
      version: { type: 'string' },
      reason: { type: 'string' },
    },
  });
  if (!['list', 'show', 'rollback'].includes(sub ?? '')) {
    out.write(MODELS_USAGE);
    return sub === undefined || sub === 'help' ? 0 : 2;
  }
  const print = (value: unknown, text: () => string) =>
    out.write(`${values.json ? JSON.stringify(value, null, 2) : text()}\n`);
  let version: number | undefined;
  if (values.version !== undefined) {
    version = Number(values.version);
    if (!Number.isInteger(version) || version < 1) {
      throw ValidationError.single(
        '--version',
        `must be a positive integer, got '${values.version}'`,
      );
    }
  }
  const deps = makeDeps({ home: values.home });
  try {
    if (sub === 'list') {
      const models = await listModels(deps);
      print(models, () =>
        models.length === 0
          ? '(no models yet)'
          : table(
              ['name', 'serving', 'versions', 'updated'],
              models.map((m) => [
                m.name,
                m.servingVersion === null ? '-' : `v${m.servingVersion}`,
                String(m.versions),
                m.updatedAt,
              ]),
            ),
      );
      return 0;
    }
    if (positionals.length !== 1) {
      throw ValidationError.single('<name>', `give one model name: foldsweep models ${sub} <name>`);
    }
    const name = positionals[0];
    if (sub === 'show') {
      const model = await getModel(deps, name);
      print(model, () =>
        [
          `model ${name}: serving ${model.serving ? `v${model.serving.version} since ${model.serving.since} (${model.serving.modelPrefix})` : 'none'}`,
          '',
          formatVersions(model.versions, model.serving?.version ?? null),
          '',
          'history:',
          ...model.history.map(
            (e) =>
              `  ${e.at}  ${e.action} ${e.fromVersion === null ? '-' : `v${e.fromVersion}`} -> v${e.toVersion}: ${e.reason}`,
          ),
        ].join('\n'),
      );
      return 0;
    }
    const outcome = await rollback(deps, name, { version, reason: values.reason });
    print(
      outcome,
      () =>
        `model ${name}: v${outcome.event.toVersion} serves again (was ${outcome.event.fromVersion === null ? 'none' : `v${outcome.event.fromVersion}`})`,
    );
    return 0;
  } finally {
    await deps.close();
  }
}
