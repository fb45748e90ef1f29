/**
 * The parts of rtinfer's pod that plain Kubernetes and KServe share: probes on the Open Inference
 * Protocol's health routes, the preStop that lets endpoint removal propagate before the drain, the
 * CPU matched to the engine layout, a locked-down security context.
 */
import type { IIoK8sApiCoreV1Container as Container } from 'kubernetes-models/v1/Container';
import type { IIoK8sApiCoreV1Probe as Probe } from 'kubernetes-models/v1/Probe';
import type { IIoK8sApiCoreV1ResourceRequirements as Resources } from 'kubernetes-models/v1/ResourceRequirements';
import { coresOf, type DeploySpec } from './deploy-spec.js';

/** The user the Dockerfile creates (a fixed id, so runAsNonRoot can be checked without a name lookup). */
export const CONTAINER_UID = 10001;

export const LIVE_PATH = '/v2/health/live';
/** 200 only once every model is loaded and warmed up, while each has a live worker, and not while draining (README). */
export const READY_PATH = '/v2/health/ready';

export function readinessProbe(port: number | string): Probe {
  // Out of the Service within ~2 × 2 s of a worker loss or the drain's start.
  return {
    httpGet: { path: READY_PATH, port },
    periodSeconds: 2,
    timeoutSeconds: 1,
    failureThreshold: 2,
    successThreshold: 1,
  };
}

export function livenessProbe(port: number | string): Probe {
  // Restart only a process that stopped answering for 30 s; a slow warm-up is the startup probe's.
  return { httpGet: { path: LIVE_PATH, port }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 };
}

export function startupProbe(port: number | string): Probe {
  // Up to 5 minutes to load and warm up the models before liveness applies.
  return { httpGet: { path: READY_PATH, port }, periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 150 };
}

/**
 * CPU request = limit = instances × threads (Guaranteed QoS: the kubelet's static CPU manager can pin whole
 * cores).
 */
export function resources(spec: DeploySpec): Resources {
  const cpu = String(coresOf(spec));
  return { requests: { cpu, memory: spec.memory }, limits: { cpu, memory: spec.memory } };
}

/**
 * preStop sleeps while the pod leaves the endpoints; SIGTERM then starts the server's drain
 * (bounded by drainTimeoutMs). `sleep` exists in the Dockerfile's Debian base.
 */
export function lifecycle(spec: DeploySpec): NonNullable<Container['lifecycle']> {
  return { preStop: { exec: { command: ['sleep', String(spec.preStopSeconds)] } } };
}

export function securityContext(): NonNullable<Container['securityContext']> {
  return {
    runAsNonRoot: true,
    runAsUser: CONTAINER_UID,
    runAsGroup: CONTAINER_UID,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  };
}

export function labels(spec: DeploySpec): Record<string, string> {
  return {
    'app.kubernetes.io/name': spec.name,
    'app.kubernetes.io/component': 'inference',
    'app.kubernetes.io/managed-by': 'rtinfer',
  };
}
