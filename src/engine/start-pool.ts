/** Workers for a layout, started, with the supervisor that replaces them when they crash. */
import type { SessionSettings } from '../runtime/session-options.js';
import type { Clock } from '../util/clock.js';
import type { Layout } from './hint.js';
import { Supervisor } from './supervisor.js';
import { MainThreadPool } from './main-thread-pool.js';
import type { WorkerInit } from './protocol.js';
import { WorkerPool, type InstancePool, type ModelIo } from './worker-pool.js';

export interface StartedPool {
  layout: Layout;
  pool: InstancePool;
  supervisor: Supervisor;
  io: ModelIo;
  /** What the sessions were made from (the engine's inline session is made from it too). */
  init: WorkerInit;
}

export async function startPool(
  layout: Layout,
  model: { bytes: Uint8Array; label: string },
  session: Omit<SessionSettings, 'intraOpThreads'> | undefined,
  clock: Clock,
  nice = 0,
): Promise<StartedPool> {
  const supervisor = new Supervisor(layout.instances, clock);
  const settings: SessionSettings = { ...session, intraOpThreads: layout.threads };
  const init: WorkerInit = { modelBytes: model.bytes, label: model.label, settings, ...(nice > 0 ? { nice } : {}) };
  const onCrash = (instance: number): void => supervisor.crashed(instance);
  const pool =
    layout.placement === 'main' ? new MainThreadPool(init, onCrash) : new WorkerPool(layout.instances, init, onCrash);
  supervisor.watch(pool);
  const io = await pool.start();
  return { layout, pool, supervisor, io, init };
}
