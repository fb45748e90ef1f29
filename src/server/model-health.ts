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
  if (m.state !== 'READY' || !m.engine)
    return { ready: false, reason: m.reason ?? `model is ${m.state.toLowerCase()}` };
  const health = m.engine.health();
  if (health.ready) return { ready: true, ...(health.reason ? { reason: health.reason } : {}), health };
  const restarting = health.restarting > 0 ? `${health.restarting} restarting` : '';
  return { ready: false, reason: health.reason ?? `no live worker${restarting ? ` (${restarting})` : ''}`, health };
}

/** The server's readiness: not closing, and every model ready (/v2/health/ready, the health port). */
export function serverReady(closing: boolean, entries: Iterable<LoadedModelEntry>): boolean {
  if (closing) return false;
  for (const m of entries) if (!modelReadiness(m).ready) return false;
  return true;
}

/** How the model is laid out on the cores, and why (model metadata, the listing, the dashboard). */
export interface Deployment {
  instances: number;
  threads: number;
  /** Where the sessions run: worker threads or the HTTP thread. */
  placement: 'worker' | 'main';
  hint?: string;
  /** The auto hint's measurement, one line. */
  reason?: string;
  /** Requests of shapes that run within this many ms may run on the HTTP thread instead (absent: never). */
  inlineBelowMs?: number;
}

export function deploymentOf(m: LoadedModelEntry): Deployment | undefined {
  const c = m.engine?.config;
  if (!c) return undefined;
  const reason = c.calibration?.reason;
  return {
    instances: c.instances,
    threads: c.threadsPerInstance,
    placement: c.placement,
    ...(c.hint ? { hint: c.hint } : {}),
    ...(reason ? { reason } : {}),
    ...(c.inlineBelowMs > 0 ? { inlineBelowMs: c.inlineBelowMs } : {}),
  };
}
