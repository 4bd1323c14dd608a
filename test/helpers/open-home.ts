// Opens a home's state.db the way every local process does (the state, schedule and registry
// stores, each creating its tables), writes one row and closes: a process's first use of a home.
// argv: <state.db> <epoch ms to start at>, so that several processes open the file together.
import { SqliteModelRegistry } from '../../shared/adapters/local/sqlite-model-registry.js';
import { SqliteScheduleStore } from '../../shared/adapters/local/sqlite-schedule-store.js';
import { SqliteStateStore } from '../../shared/adapters/local/sqlite-state-store.js';

const [file, at] = [process.argv[2] as string, Number(process.argv[3] ?? 0)];
await new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
const state = new SqliteStateStore(file);
const schedules = new SqliteScheduleStore(file);
const registry = new SqliteModelRegistry(file);
await state.putTrial({
  sweepId: `opened-by-${process.pid}`,
  trialIndex: 0,
  variantId: 'v',
  fold: 0,
  status: 'pending',
  attempt: 0,
  objective: null,
  updatedAt: new Date().toISOString(),
});
await Promise.all([state.close(), schedules.close(), registry.close()]);
process.stdout.write('opened\n');
