/**
 * What `rtinfer deploy` generates manifests from: the models a pod serves with their engine layout
 * (instances × threads, which become the pod's CPU), the ports, the drain bound and the autoscaling
 * target. Built from model files and flags, a serve config, or a stored/saved tune or sweep result;
 * the manifest builders (k8s.ts, kserve.ts) read only this.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { RtinferError } from '../errors.js';
import type { ModelConfig, ServerConfig } from '../server/types.js';
import { SERVER_DEFAULTS } from '../server/config.js';

export const DEPLOY_KINDS = ['kserve', 'k8s'] as const;

// The option values of k8s.ts and kserve.ts, here so that the CLI's option table does not load
// kubernetes-models (about 1.7 s of imports on this machine) for every rtinfer command.
export const AUTOSCALERS = ['hpa', 'keda'] as const;
export type Autoscaler = (typeof AUTOSCALERS)[number];
export const KSERVE_PROTOCOLS = ['v2', 'grpc-v2'] as const;
export type KServeProtocol = (typeof KSERVE_PROTOCOLS)[number];
export type DeployKind = (typeof DEPLOY_KINDS)[number];

/** The per-replica gauge the autoscaler targets (both exported by rtinfer serve's /metrics). */
export const SCALE_METRICS = ['queue-depth', 'inflight'] as const;
export type ScaleMetric = (typeof SCALE_METRICS)[number];
export const PROMETHEUS_METRIC: Readonly<Record<ScaleMetric, string>> = {
  'queue-depth': 'rtinfer_queue_depth',
  inflight: 'rtinfer_inflight_requests',
};

/** One model as the pod serves it: where the container finds it and its engine layout. */
export interface DeployModel {
  name: string;
  /** The file name the model has in the pod's model folder (and in the KServe repository: NAME/1/model.onnx). */
  file: string;
  /** Where it was read from here, for the size estimate; null when unknown. */
  source: string | null;
  instances: number;
  threads: number;
  /** Serve-config settings carried over as they are (batching, queue, deadline, session, warm-up shapes, task). */
  settings: Omit<ModelConfig, 'name' | 'path' | 'version' | 'instances' | 'threads'>;
}

export interface DeploySpec {
  /** The app's name: a DNS-1035 label (objects are named after it). */
  name: string;
  namespace: string | null;
  image: string;
  models: DeployModel[];
  httpPort: number;
  grpcPort: number;
  /** The health thread's port (serve's healthPort): the k8s probes' target. */
  healthPort: number;
  drainTimeoutMs: number;
  /**
   * preStop sleep: time for the endpoint removal to reach every kube-proxy and ingress before the
   * server stops taking requests on SIGTERM (the Kubernetes docs' pod-termination note).
   */
  preStopSeconds: number;
  minReplicas: number;
  maxReplicas: number;
  metric: ScaleMetric;
  /** Average of the metric per replica the autoscaler keeps (requests queued or in flight). */
  target: number;
  /** Memory request and limit, e.g. '512Mi'. */
  memory: string;
  /** For the manifests' header: what the layout came from ("tune run 12", "serve.yaml", "flags"). */
  origin: string;
}

const DNS_1035 = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function appName(text: string): string {
  const n = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '')
    .slice(0, 50)
    .replace(/-+$/, '');
  return n === '' ? 'rtinfer' : n;
}

export function checkName(text: string): string {
  if (!DNS_1035.test(text) || text.length > 50)
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid --name '${text}' (expected a DNS-1035 label: lower-case letters, digits and '-', ` +
        `starting with a letter, up to 50 characters)`,
    );
  return text;
}

/** CPU a replica uses: every instance's intra-op threads (one core each, as tune measures them). */
export function coresOf(spec: Pick<DeploySpec, 'models'>): number {
  return spec.models.reduce((s, m) => s + m.instances * m.threads, 0);
}

/** The pod's termination grace: the preStop sleep, then the server's drain bound, then 5 s for the process to exit. */
export function gracePeriodSeconds(spec: Pick<DeploySpec, 'preStopSeconds' | 'drainTimeoutMs'>): number {
  return spec.preStopSeconds + Math.ceil(spec.drainTimeoutMs / 1000) + 5;
}

/**
 * A memory request from the models' sizes: 256 MiB for Node and onnxruntime, plus three times each
 * model file per instance (weights, the arena's copies and activations; a heuristic, override with
 * --memory), rounded up to 64 MiB.
 */
export function memoryFor(models: readonly DeployModel[]): string {
  let bytes = 256 * 2 ** 20;
  for (const m of models) {
    let size = 16 * 2 ** 20;
    if (m.source !== null) {
      try {
        size = statSync(m.source).size;
      } catch {
        // An unreadable file was refused earlier when it matters; the default stands.
      }
    }
    bytes += 3 * size * m.instances;
  }
  const mib = Math.ceil(bytes / 2 ** 20 / 64) * 64;
  return `${mib}Mi`;
}

function settingsOf(m: ModelConfig): DeployModel['settings'] {
  const { name: _n, path: _p, version: _v, instances: _i, threads: _t, ...rest } = m;
  return rest;
}

/**
 * Models from a serve config (or one built from flags). A model without instances/threads gets
 * 1 × 1 here: the pod's CPU has to be fixed before it starts, unlike serve's auto hint, which measures
 * at start-up on whatever cores it finds.
 */
export function modelsFromConfig(config: Pick<ServerConfig, 'models'>): DeployModel[] {
  return config.models.map((m) => ({
    name: m.name,
    file: `${m.name}${path.extname(m.path) || '.onnx'}`,
    source: m.path,
    instances: m.instances ?? 1,
    threads: m.threads ?? 1,
    settings: settingsOf(m),
  }));
}

/** The serve config the container runs (k8s: mounted from a ConfigMap; models under modelDir). */
export function containerServeConfig(spec: DeploySpec, modelDir: string): Record<string, unknown> {
  return {
    host: '0.0.0.0',
    port: spec.httpPort,
    grpcPort: spec.grpcPort,
    healthPort: spec.healthPort,
    drainTimeoutMs: spec.drainTimeoutMs,
    logFormat: 'json',
    models: spec.models.map((m) => ({
      name: m.name,
      path: `${modelDir}/${m.file}`,
      instances: m.instances,
      threads: m.threads,
      ...m.settings,
    })),
  };
}

/** A model's settings for the KServe repository layout (NAME/config.yaml beside NAME/1/model.onnx). */
export function repositorySettings(m: DeployModel): Record<string, unknown> {
  return { instances: m.instances, threads: m.threads, ...m.settings };
}

export const DEPLOY_DEFAULTS = {
  image: 'rtinfer:0.1.0',
  httpPort: 8080,
  grpcPort: 8081,
  healthPort: 8082,
  drainTimeoutMs: SERVER_DEFAULTS.drainTimeoutMs,
  preStopSeconds: 5,
  minReplicas: 1,
  maxReplicas: 10,
  metric: 'queue-depth' as ScaleMetric,
  // Two queued requests per replica: each waits at most about two service times before scale-up
  // starts; a lower target scales on noise, a higher one lets p99 grow by whole service times.
  target: 2,
} as const;
