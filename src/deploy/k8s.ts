/**
 * `rtinfer deploy --kind k8s`: a ConfigMap with the serve config, a Deployment, a Service, an
 * autoscaler on a per-replica gauge rtinfer exports (an autoscaling/v2 HorizontalPodAutoscaler
 * through the Prometheus adapter, or a KEDA ScaledObject reading Prometheus itself), and a
 * PodDisruptionBudget. Every object is a kubernetes-models instance, so validate() checks it
 * against Kubernetes' OpenAPI schema.
 */
import { stringify } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import {
  containerServeConfig,
  gracePeriodSeconds,
  PROMETHEUS_METRIC,
  type Autoscaler,
  type DeploySpec,
} from './deploy-spec.js';
import { labels, lifecycle, livenessProbe, readinessProbe, resources, securityContext, startupProbe } from './pod.js';

export { AUTOSCALERS, type Autoscaler } from './deploy-spec.js';

export interface K8sOptions {
  autoscaler: Autoscaler;
  /** PersistentVolumeClaim holding the model files (mounted read-only at /models). */
  modelsClaim: string;
  /** KEDA's Prometheus trigger: where Prometheus answers. */
  prometheusUrl: string;
}

export const MODEL_DIR = '/models';
const CONFIG_DIR = '/etc/rtinfer';

/** Anything with validate() and toJSON(): a kubernetes-models object. */
export interface Manifest {
  readonly kind: string;
  validate(): void;
  toJSON(): unknown;
}

function meta(spec: DeploySpec, suffix = ''): { name: string; labels: Record<string, string>; namespace?: string } {
  return {
    name: spec.name + suffix,
    labels: labels(spec),
    ...(spec.namespace !== null ? { namespace: spec.namespace } : {}),
  };
}

export function k8sManifests(spec: DeploySpec, o: K8sOptions): Manifest[] {
  const selector = { 'app.kubernetes.io/name': spec.name };
  const config = new ConfigMap({
    metadata: meta(spec, '-config'),
    data: { 'serve.yaml': stringify(containerServeConfig(spec, MODEL_DIR)) },
  });
  const deployment = new Deployment({
    metadata: meta(spec),
    spec: {
      // The autoscaler owns replicas; the first rollout starts at the minimum.
      replicas: spec.minReplicas,
      selector: { matchLabels: selector },
      // Never below the current capacity during a rollout: a new pod joins (ready = warmed up) before an old one
      // drains.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: {
          labels: labels(spec),
          annotations: {
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': String(spec.httpPort),
            'prometheus.io/path': '/metrics',
          },
        },
        spec: {
          terminationGracePeriodSeconds: gracePeriodSeconds(spec),
          securityContext: { runAsNonRoot: true, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'rtinfer',
              image: spec.image,
              args: ['serve', '--config', `${CONFIG_DIR}/serve.yaml`],
              ports: [
                { name: 'http', containerPort: spec.httpPort, protocol: 'TCP' },
                { name: 'grpc', containerPort: spec.grpcPort, protocol: 'TCP' },
                { name: 'health', containerPort: spec.healthPort, protocol: 'TCP' },
              ],
              resources: resources(spec),
              // On the health thread's port: answered however busy the HTTP thread is (health-port.ts).
              readinessProbe: readinessProbe('health'),
              livenessProbe: livenessProbe('health'),
              startupProbe: startupProbe('health'),
              lifecycle: lifecycle(spec),
              securityContext: securityContext(),
              volumeMounts: [
                { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
                { name: 'models', mountPath: MODEL_DIR, readOnly: true },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: `${spec.name}-config` } },
            { name: 'models', persistentVolumeClaim: { claimName: o.modelsClaim, readOnly: true } },
            { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
          ],
        },
      },
    },
  });
  const service = new Service({
    metadata: meta(spec),
    spec: {
      selector,
      ports: [
        { name: 'http', port: spec.httpPort, targetPort: 'http', protocol: 'TCP' },
        { name: 'grpc', port: spec.grpcPort, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' },
      ],
    },
  });
  const pdb = new PodDisruptionBudget({
    metadata: meta(spec),
    // One replica at a time: a voluntary eviction (node drain) never takes more than one replica's capacity.
    spec: { maxUnavailable: 1, selector: { matchLabels: selector } },
  });
  return [config, deployment, service, o.autoscaler === 'hpa' ? hpa(spec) : scaledObject(spec, o.prometheusUrl), pdb];
}

function hpa(spec: DeploySpec): HorizontalPodAutoscaler {
  return new HorizontalPodAutoscaler({
    metadata: meta(spec),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: spec.name },
      minReplicas: spec.minReplicas,
      maxReplicas: spec.maxReplicas,
      // A Pods metric served by the Prometheus adapter (README "Scaling out" has its rule): the
      // average over the replicas of each pod's gauge, summed over its models.
      metrics: [
        {
          type: 'Pods',
          pods: {
            metric: { name: PROMETHEUS_METRIC[spec.metric] },
            target: { type: 'AverageValue', averageValue: String(spec.target) },
          },
        },
      ],
      behavior: {
        // Up at once (a queue only grows while under capacity), down slowly (a new replica costs a warm-up).
        scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
        scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] },
      },
    },
  });
}

function scaledObject(spec: DeploySpec, prometheusUrl: string): ScaledObject {
  const ns = spec.namespace !== null ? `namespace="${spec.namespace}",` : '';
  return new ScaledObject({
    metadata: meta(spec),
    spec: {
      scaleTargetRef: { name: spec.name },
      minReplicaCount: spec.minReplicas,
      maxReplicaCount: spec.maxReplicas,
      pollingInterval: 5,
      cooldownPeriod: 300,
      triggers: [
        {
          type: 'prometheus',
          // AverageValue: KEDA divides the query's sum by the replica count, as the HPA variant does.
          metricType: 'AverageValue',
          metadata: {
            serverAddress: prometheusUrl,
            query: `sum(${PROMETHEUS_METRIC[spec.metric]}{${ns}pod=~"${spec.name}-.*"})`,
            threshold: String(spec.target),
          },
        },
      ],
    },
  });
}
