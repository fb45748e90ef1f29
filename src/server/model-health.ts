/**
 * Whether a model can answer now: loaded, and with at least one live worker. Readiness routes,
 * request admission, the model listing and /metrics all read it from here, so they cannot disagree.
 */
import type { EngineHealth } from '../engine/engine.js';
import type { LoadedModelEntry } from './types.js';

export interface ModelReadiness {
  ready: boolean;
  /** Why not ready, or what is degraded (an instance down); one line. */
  reason?: string;
  health?: EngineHealth;
}

export function modelReadiness(m: LoadedModelEntry): ModelReadiness {
  if (m.state !== 'READY' || !m.engine) return { ready: false, reason: m.reason ?? `model is ${m.state.toLowerCase()}` };
  const health = m.engine.health();
  if (health.ready) return { ready: true, ...(health.reason ? { reason: health.reason } : {}), health };
  const restarting = health.restarting > 0 ? `${health.restarting} restarting` : '';
  return { ready: false, reason: health.reason ?? `no live worker${restarting ? ` (${restarting})` : ''}`, health };
}
