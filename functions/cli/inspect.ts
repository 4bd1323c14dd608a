/**
 * `foldsweep list|show|leaderboard`: read a home's sweeps through the service functions.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatLeaderboard } from '../../shared/aggregation/leaderboard.js';
import { ValidationError } from '../../shared/errors.js';
import { getJson } from '../../shared/ports/object-store.js';
import { DEFAULT_PAGE_LIMIT } from '../../shared/ports/paging.js';
import {
  type ChampionMetadata,
  ChampionMetadataSchema,
  championModelDescription,
} from '../../shared/schemas/champion.js';
import { championPrefix } from '../../shared/schemas/plan.js';
import { type ChampionRecord, SweepStatusSchema } from '../../shared/schemas/state.js';
import { getLeaderboard } from '../../shared/service/aggregate.js';
import { getSweep, pageSweeps } from '../../shared/service/sweeps.js';
import { type LocalDeps, localDeps } from '../deps/local.js';
import { positiveInt } from './files.js';

/** Runs one of list, show, leaderboard; prints text, or one JSON document with --json. */
export async function inspectCommand(
  command: 'list' | 'show' | 'leaderboard',
  args: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      home: { type: 'string' },
      json: { type: 'boolean', default: false },
      ...(command === 'list'
        ? { status: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' } }
        : {}),
    },
  });
  const print = (value: unknown, text: () => string) =>
    out.write(`${values.json ? JSON.stringify(value, null, 2) : text()}\n`);
  let status: ReturnType<typeof SweepStatusSchema.parse> | undefined;
  if (command === 'list' && typeof values.status === 'string') {
    const parsed = SweepStatusSchema.safeParse(values.status);
    if (!parsed.success)
      throw ValidationError.single(
        '--status',
        `must be one of ${SweepStatusSchema.options.join(', ')}`,
      );
    status = parsed.data;
  }
  const limit = positiveInt('limit', typeof values.limit === 'string' ? values.limit : undefined);
  if (command !== 'list' && positionals.length !== 1)
    throw ValidationError.single(
      '<sweep-id>',
      `give one sweep id: foldsweep ${command} <sweep-id>`,
    );
  const deps = localDeps({ home: values.home });
  try {
    if (command === 'list') {
      const cursor = typeof values.cursor === 'string' ? values.cursor : undefined;
      const page = await pageSweeps(deps, { status, limit: limit ?? DEFAULT_PAGE_LIMIT, cursor });
      const sweeps = page.items;
      print(sweeps, () =>
        sweeps.length === 0
          ? '(no sweeps)'
          : sweeps
              .map((s) => `${s.id}  ${s.status.padEnd(10)} ${s.createdAt}  ${s.name ?? ''}`)
              .join('\n'),
      );
      // stdout stays the list (one JSON array with --json); the next page's cursor goes to stderr.
      if (page.next) {
        const filter = status ? ` --status ${status}` : '';
        err.write(`next: ${page.next}  (foldsweep list${filter} --cursor ${page.next})\n`);
      }
      return 0;
    }
    const id = positionals[0] ?? '';
    if (command === 'leaderboard') {
      const board = await getLeaderboard(deps, id);
      print(board, () => formatLeaderboard(board));
      return 0;
    }
    const sweep = await getSweep(deps, id);
    const champion = await deps.state.getChampion(id);
    const championDir = join(deps.home, 'objects', championPrefix(id));
    const metadata = champion ? await readChampionMetadata(deps, champion) : undefined;
    const doc = {
      ...sweep,
      champion: champion ? { ...champion, modelPath: join(championDir, 'model.json') } : null,
    };
    print(doc, () => {
      const p = sweep.progress;
      const lines = [
        `sweep ${sweep.id}${sweep.name ? ` (${sweep.name})` : ''}: ${sweep.status}`,
        `progress: ${p.succeeded + p.failed}/${p.trialsTotal} trials done (${p.succeeded} succeeded, ${p.failed} failed, ${p.running} running, ${p.pending} pending)`,
      ];
      if (sweep.error) lines.push(`error: ${sweep.error}`);
      for (const issue of sweep.issues ?? []) lines.push(`  - ${issue.path}: ${issue.message}`);
      if (champion) lines.push(...championLines(champion, championDir, 'objective', metadata));
      return lines.join('\n');
    });
    return 0;
  } finally {
    await deps.close();
  }
}

/** The champion's metadata.json, or undefined when it is missing or unreadable. */
export async function readChampionMetadata(
  deps: Pick<LocalDeps, 'objects'>,
  champion: Pick<ChampionRecord, 'modelPrefix'>,
): Promise<ChampionMetadata | undefined> {
  const json = await getJson(deps.objects, `${champion.modelPrefix}/metadata.json`).catch(
    () => null,
  );
  const parsed = ChampionMetadataSchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

/** The champion's lines of `run` and `inspect`: where it is, what model it is, its scores. */
export function championLines(
  champion: ChampionRecord,
  championDir: string,
  objective: string,
  metadata: ChampionMetadata | undefined,
): string[] {
  const lines = [`champion: ${join(championDir, 'model.json')} (+ metadata.json)`];
  if (metadata) lines.push(`  model: ${championModelDescription(metadata.lineage)}`);
  lines.push(`  cross-validated ${objective}: ${champion.objectiveMean.toFixed(4)}`);
  if (champion.holdoutAccuracy !== undefined)
    lines.push(`  holdout accuracy: ${champion.holdoutAccuracy.toFixed(4)}`);
  if (champion.testAccuracy !== undefined)
    lines.push(`  test accuracy: ${champion.testAccuracy.toFixed(4)}`);
  return lines;
}
