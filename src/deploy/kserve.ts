/**
 * `rtinfer deploy --kind kserve`: a ServingRuntime (or ClusterServingRuntime) that runs
 * `rtinfer serve --model-dir /mnt/models` for ONNX models over the Open Inference Protocol (REST v2
 * and gRPC v2), and an InferenceService that uses it. KServe's storage initializer puts the
 * storageUri's content in /mnt/models, laid out as rtinfer's model repository
 * (NAME/1/model.onnx beside NAME/config.yaml, whose instances and threads deploy writes).
 *
 * kubernetes-models has no KServe kinds, so these are plain objects typed here; tests validate them
 * against the CRDs' openAPIV3Schema, and the container against Kubernetes' own schema.
 */
import { stringify } from 'yaml';
import { Container } from 'kubernetes-models/v1/Container';
import type { IIoK8sApiCoreV1Container as IContainer } from 'kubernetes-models/v1/Container';
import {
  gracePeriodSeconds,
  KSERVE_PROTOCOLS,
  repositorySettings,
  type DeploySpec,
  type KServeProtocol,
} from './deploy-spec.js';
import { lifecycle, livenessProbe, readinessProbe, resources, securityContext, startupProbe } from './pod.js';

export { KSERVE_PROTOCOLS, type KServeProtocol } from './deploy-spec.js';

export interface KServeOptions {
  /** ClusterServingRuntime (every namespace) instead of a namespaced ServingRuntime. */
  cluster: boolean;
  /** Where the model repository is (s3://, gs://, pvc://NAME/PATH, ...). */
  storageUri: string;
  /** The protocol the InferenceService routes (both are served; Knative exposes one port). */
  protocol: KServeProtocol;
}

export const KSERVE_MODEL_DIR = '/mnt/models';

export interface KServeObject {
  apiVersion: string;
  kind: 'ServingRuntime' | 'ClusterServingRuntime' | 'InferenceService';
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
}

export interface KServeOutput {
  objects: KServeObject[];
  /** The repository's settings files, by path inside it (NAME/config.yaml). */
  repositoryFiles: Record<string, string>;
}

export function runtimeName(spec: DeploySpec): string {
  return `${spec.name}-rtinfer`;
}

function container(spec: DeploySpec, o: KServeOptions): IContainer {
  const c: IContainer = {
    // KServe finds the model server by this name.
    name: 'kserve-container',
    image: spec.image,
    args: [
      'serve',
      '--model-dir',
      KSERVE_MODEL_DIR,
      '--host',
      '0.0.0.0',
      '--port',
      String(spec.httpPort),
      '--grpc-port',
      String(spec.grpcPort),
      '--drain-timeout',
      `${spec.drainTimeoutMs}ms`,
      '--log-format',
      'json',
    ],
    // Knative admits one port per container: the one the protocol is routed to (http1 or h2c).
    ports:
      o.protocol === 'v2'
        ? [{ name: 'http1', containerPort: spec.httpPort, protocol: 'TCP' }]
        : [{ name: 'h2c', containerPort: spec.grpcPort, protocol: 'TCP' }],
    // On the serving port: Knative probes only the port it routes to (no health port here).
    readinessProbe: readinessProbe(spec.httpPort),
    livenessProbe: livenessProbe(spec.httpPort),
    startupProbe: startupProbe(spec.httpPort),
    lifecycle: lifecycle(spec),
    securityContext: securityContext(),
    resources: resources(spec),
  };
  // Kubernetes' own schema for the container (the CRD's copy of it is checked in the tests).
  new Container(c).validate();
  return c;
}

export function kserveManifests(spec: DeploySpec, o: KServeOptions): KServeOutput {
  const ns = spec.namespace !== null && !o.cluster ? { namespace: spec.namespace } : {};
  const runtime: KServeObject = {
    apiVersion: 'serving.kserve.io/v1alpha1',
    kind: o.cluster ? 'ClusterServingRuntime' : 'ServingRuntime',
    metadata: {
      name: runtimeName(spec),
      ...ns,
      labels: { 'app.kubernetes.io/name': spec.name, 'app.kubernetes.io/managed-by': 'rtinfer' },
    },
    spec: {
      annotations: { 'prometheus.kserve.io/port': String(spec.httpPort), 'prometheus.kserve.io/path': '/metrics' },
      supportedModelFormats: [{ name: 'onnx', version: '1', autoSelect: true, priority: 1 }],
      protocolVersions: [...KSERVE_PROTOCOLS],
      multiModel: false,
      containers: [container(spec, o)],
    },
  };
  const instances = spec.models.reduce((s, m) => s + m.instances, 0);
  const isvc: KServeObject = {
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    metadata: {
      name: spec.name,
      ...(spec.namespace !== null ? { namespace: spec.namespace } : {}),
      annotations: { 'serving.kserve.io/enable-prometheus-scraping': 'true' },
    },
    spec: {
      predictor: {
        minReplicas: spec.minReplicas,
        maxReplicas: spec.maxReplicas,
        // Knative's autoscaler keeps requests in flight per replica at the target: the engine's
        // instances busy plus the queue-depth target (or the in-flight target as given).
        scaleMetric: 'concurrency',
        scaleTarget: spec.metric === 'inflight' ? spec.target : instances + spec.target,
        terminationGracePeriodSeconds: gracePeriodSeconds(spec),
        model: {
          modelFormat: { name: 'onnx' },
          runtime: runtimeName(spec),
          protocolVersion: o.protocol,
          storageUri: o.storageUri,
          resources: resources(spec),
        },
      },
    },
  };
  const repositoryFiles: Record<string, string> = {};
  for (const m of spec.models)
    repositoryFiles[`${m.name}/config.yaml`] =
      `# rtinfer deploy: ${m.instances} instance(s) x ${m.threads} thread(s) (${spec.origin}); ` +
      `the model goes in ${m.name}/1/model.onnx\n${stringify(repositorySettings(m))}`;
  return { objects: [runtime, isvc], repositoryFiles };
}
