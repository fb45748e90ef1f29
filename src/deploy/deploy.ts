/**
 * Deployment manifests for rtinfer serve: the layout (models, instances × threads) from model files,
 * a serve config or a tune/sweep result, then the objects for KServe or plain Kubernetes.
 */
import { stringify } from 'yaml';
import { RtinferError } from '../errors.js';
import { parseOnnxModel } from '../runtime/model-info.js';
import { readModel } from '../runtime/session.js';
import { loadConfigFile, modelConfigFrom, validateConfig } from '../server/config.js';
import type { ServerConfig } from '../server/types.js';
import {
  appName,
  checkName,
  coresOf,
  DEPLOY_DEFAULTS,
  memoryFor,
  modelsFromConfig,
  type Autoscaler,
  type DeployKind,
  type DeployModel,
  type DeploySpec,
  type KServeProtocol,
  type ScaleMetric,
} from './deploy-spec.js';
import { loadRunSource, type RunSource } from './run-source.js';

export const DEPLOY_SCHEMA = 'rtinfer.deploy/1';

export interface DeployOptions {
  kind: DeployKind;
  models?: string[];
  config?: string;
  fromRun?: string;
  store?: string;
  name?: string;
  namespace?: string;
  image?: string;
  instances?: number;
  threads?: number;
  drainTimeoutMs?: number;
  minReplicas?: number;
  maxReplicas?: number;
  metric?: ScaleMetric;
  target?: number;
  memory?: string;
  autoscaler?: Autoscaler;
  modelsClaim?: string;
  prometheusUrl?: string;
  storageUri?: string;
  protocol?: KServeProtocol;
  clusterRuntime?: boolean;
}

export interface DeployResult {
  schema: typeof DEPLOY_SCHEMA;
  kind: DeployKind;
  spec: DeploySpec;
  coresPerReplica: number;
  /** The manifests as JSON objects, in apply order. */
  objects: Array<Record<string, unknown>>;
  /** KServe: the model repository's settings files (NAME/config.yaml); empty for k8s. */
  repositoryFiles: Record<string, string>;
}

interface Layout {
  models: DeployModel[];
  drainTimeoutMs: number;
  origin: string;
}

function layoutFromRun(src: RunSource): Layout {
  if (src.kind === 'tune') {
    const chosen = src.report.chosen;
    if (chosen === null)
      throw new RtinferError(
        'RTI_ERR_ARG_INVALID',
        `${src.ref} is a tune that found no configuration within its SLO: nothing to deploy`,
      );
    const m = modelConfigFrom('chosen', { ...chosen.config });
    return {
      models: modelsFromConfig({ models: [m] }),
      drainTimeoutMs: DEPLOY_DEFAULTS.drainTimeoutMs,
      origin: `tune ${src.ref}: ${chosen.key}`,
    };
  }
  if (src.kind === 'sweep') {
    // The point with the most throughput that refused nothing (the sweep's best layout under load).
    const ok = src.report.points.filter((p) => p.refused === 0 && p.queries > 0);
    const best = ok.reduce<(typeof ok)[number] | undefined>(
      (b, p) => (b === undefined || p.throughput > b.throughput ? p : b),
      undefined,
    );
    if (best === undefined || src.report.model.path === null)
      throw new RtinferError(
        'RTI_ERR_ARG_INVALID',
        `${src.ref} is a sweep with no usable ` +
          `point${src.report.model.path === null ? ' (it measured a served model)' : ''}: nothing to deploy`,
      );
    const m = modelConfigFrom('sweep', {
      path: src.report.model.path,
      instances: best.instances,
      threads: best.threads,
      ...(best.batch > 1 ? { batching: { maxBatchSize: best.batch } } : {}),
    });
    return {
      models: modelsFromConfig({ models: [m] }),
      drainTimeoutMs: DEPLOY_DEFAULTS.drainTimeoutMs,
      origin: `sweep ${src.ref}: ${best.instances}x${best.threads}, batch ${best.batch}, ${best.throughput} q/s`,
    };
  }
  throw new RtinferError(
    'RTI_ERR_ARG_INVALID',
    `${src.ref} is a bench run: deploy takes a tune or sweep result (its instances and threads), a --config or models`,
  );
}

async function layoutOf(o: DeployOptions): Promise<Layout> {
  const given = [o.models !== undefined && o.models.length > 0, o.config !== undefined, o.fromRun !== undefined].filter(
    Boolean,
  ).length;
  if (given === 0)
    throw new RtinferError(
      'RTI_ERR_ARG_MISSING',
      'rtinfer deploy needs models, --config FILE or --from-run ID|report.json',
    );
  if (given > 1) throw new RtinferError('RTI_ERR_ARG_INVALID', 'give models, --config or --from-run: one of them');
  if (o.fromRun !== undefined) return layoutFromRun(await loadRunSource(o.fromRun, o.store));
  let config: ServerConfig;
  let origin: string;
  if (o.config !== undefined) {
    config = await loadConfigFile(o.config);
    if (config.modelRepository)
      throw new RtinferError(
        'RTI_ERR_ARG_INVALID',
        `config ${o.config}: deploy takes the models listed under models, not a modelRepository`,
      );
    origin = o.config;
  } else {
    // The same checks and one-line errors as rtinfer info: a manifest for a file that is not a model
    // would only fail in the cluster, at the pod's start.
    for (const f of o.models ?? []) parseOnnxModel((await readModel(f)).bytes, f);
    config = validateConfig({ models: (o.models ?? []).map((p) => ({ path: p })) });
    origin = 'flags';
  }
  return { models: modelsFromConfig(config), drainTimeoutMs: config.drainTimeoutMs, origin };
}

export async function buildDeployment(o: DeployOptions): Promise<DeployResult> {
  const layout = await layoutOf(o);
  for (const m of layout.models) {
    if (o.instances !== undefined) m.instances = o.instances;
    if (o.threads !== undefined) m.threads = o.threads;
  }
  const first = layout.models[0];
  const minReplicas = o.minReplicas ?? DEPLOY_DEFAULTS.minReplicas;
  const maxReplicas = o.maxReplicas ?? Math.max(minReplicas, DEPLOY_DEFAULTS.maxReplicas);
  if (maxReplicas < minReplicas)
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid --max-replicas ${maxReplicas} (below --min-replicas ${minReplicas})`,
    );
  const spec: DeploySpec = {
    name: o.name !== undefined ? checkName(o.name) : appName(first?.name ?? 'rtinfer'),
    namespace: o.namespace ?? null,
    image: o.image ?? DEPLOY_DEFAULTS.image,
    models: layout.models,
    httpPort: DEPLOY_DEFAULTS.httpPort,
    grpcPort: DEPLOY_DEFAULTS.grpcPort,
    healthPort: DEPLOY_DEFAULTS.healthPort,
    drainTimeoutMs: o.drainTimeoutMs ?? layout.drainTimeoutMs,
    preStopSeconds: DEPLOY_DEFAULTS.preStopSeconds,
    minReplicas,
    maxReplicas,
    metric: o.metric ?? DEPLOY_DEFAULTS.metric,
    target: o.target ?? DEPLOY_DEFAULTS.target,
    memory: o.memory ?? memoryFor(layout.models),
    origin: layout.origin,
  };
  if (o.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(o.namespace))
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --namespace '${o.namespace}' (expected a DNS-1123 label)`);
  if (!/^\d+(\.\d+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$/.test(spec.memory))
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid --memory '${spec.memory}' (expected a Kubernetes quantity such as 512Mi or 2Gi)`,
    );
  let objects: Array<Record<string, unknown>>;
  let repositoryFiles: Record<string, string> = {};
  // The builders load kubernetes-models (~1.7 s of imports here): only when asked for manifests.
  if (o.kind === 'k8s') {
    const { k8sManifests } = await import('./k8s.js');
    const manifests = k8sManifests(spec, {
      autoscaler: o.autoscaler ?? 'hpa',
      modelsClaim: o.modelsClaim ?? `${spec.name}-models`,
      prometheusUrl: o.prometheusUrl ?? 'http://prometheus-operated.monitoring.svc:9090',
    });
    // Kubernetes' own schemas, before anything is printed: a manifest that would not apply is a bug here.
    for (const m of manifests) m.validate();
    objects = manifests.map((m) => JSON.parse(JSON.stringify(m.toJSON())) as Record<string, unknown>);
  } else {
    const { kserveManifests } = await import('./kserve.js');
    const out = kserveManifests(spec, {
      cluster: o.clusterRuntime === true,
      storageUri: o.storageUri ?? `pvc://${spec.name}-models/repository`,
      protocol: o.protocol ?? 'v2',
    });
    objects = out.objects as unknown as Array<Record<string, unknown>>;
    repositoryFiles = out.repositoryFiles;
  }
  return { schema: DEPLOY_SCHEMA, kind: o.kind, spec, coresPerReplica: coresOf(spec), objects, repositoryFiles };
}

export function deployHeader(r: DeployResult): string[] {
  const layout = r.spec.models.map((m) => `${m.name} ${m.instances}x${m.threads}`).join(', ');
  return [
    `rtinfer deploy --kind ${r.kind}: ${r.spec.name}, ${r.coresPerReplica} core(s) ` +
      `and ${r.spec.memory} per replica (${layout}; from ${r.spec.origin})`,
    `autoscaling on ${r.spec.metric} (target ${r.spec.target} per ` +
      `replica), ${r.spec.minReplicas}..${r.spec.maxReplicas} replicas; drain ${r.spec.drainTimeoutMs} ms`,
  ];
}

/** All objects as one multi-document YAML stream, with the header as comments. */
export function renderYaml(r: DeployResult): string {
  const head = deployHeader(r)
    .map((l) => `# ${l}\n`)
    .join('');
  return head + r.objects.map((o) => stringify(o)).join('---\n');
}

/** Files for --out DIR: one per object (NN-kind-name.yaml, in apply order) and the KServe repository's settings. */
export function deployFiles(r: DeployResult): Record<string, string> {
  const files: Record<string, string> = {};
  const head = deployHeader(r)
    .map((l) => `# ${l}\n`)
    .join('');
  r.objects.forEach((o, i) => {
    const kind = String(o['kind']).toLowerCase();
    files[`${String(i + 1).padStart(2, '0')}-${kind}.yaml`] = head + stringify(o);
  });
  for (const [p, text] of Object.entries(r.repositoryFiles)) files[`model-repository/${p}`] = text;
  return files;
}
