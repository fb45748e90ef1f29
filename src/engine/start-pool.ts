/** Workers for a layout, started, with the supervisor that replaces them when they crash. */
import type { SessionSettings } from '../runtime/session-options.js';
import type { Clock } from './clock.js';
import type { Layout } from './hint.js';
import { Supervisor } from './supervisor.js';
import { WorkerPool, type ModelIo } from './worker-pool.js';

export interface StartedPool {
  layout: Layout;
  pool: WorkerPool;
  supervisor: Supervisor;
  io: ModelIo;
}

export async function startPool(layout: Layout, model: { bytes: Uint8Array; label: string }, session: Omit<SessionSettings, 'intraOpThreads'> | undefined, clock: Clock): Promise<StartedPool> {
  const supervisor = new Supervisor(layout.instances, clock);
  const settings: SessionSettings = { ...session, intraOpThreads: layout.threads };
  const pool = new WorkerPool(layout.instances, { modelBytes: model.bytes, label: model.label, settings }, (instance) => supervisor.crashed(instance));
  supervisor.watch(pool);
  const io = await pool.start();
  return { layout, pool, supervisor, io };
}
