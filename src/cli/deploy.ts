/** `rtinfer deploy`: thin over buildDeployment; YAML on stdout, one file per object with --out, or JSON. */
import { makeDir } from '../util/make-dir.js';
import path from 'node:path';
import { AUTOSCALERS, DEPLOY_KINDS, KSERVE_PROTOCOLS, SCALE_METRICS } from '../deploy/deploy-spec.js';
import { RtinferError } from '../errors.js';
import { parseChoice, parseCommand, parseDurationMs, parseIntOption, stringValue, type CommandSpec } from './args.js';
import { writeOutput } from './output.js';

export const DEPLOY_COMMAND: CommandSpec = {
  name: 'deploy',
  summary:
    'generate Kubernetes or KServe manifests for rtinfer serve (probes, drain, CPU from a tune, ' +
    'autoscaling on queue depth)',
  usage:
    'rtinfer deploy [model.onnx...] [--config FILE | --from-run ID|report.json] --kind kserve|k8s [--out DIR] [--json]',
  maxPositionals: 64,
  options: [
    { name: 'kind', type: 'string', value: 'KIND', description: `${DEPLOY_KINDS.join(' | ')} (required)` },
    {
      name: 'config',
      type: 'string',
      value: 'FILE',
      description: 'a rtinfer serve config (its models, instances, threads, drain bound)',
    },
    {
      name: 'from-run',
      type: 'string',
      value: 'ID|FILE',
      description: 'a tune or sweep result: a stored run (id, last, label:NAME) or a saved --json report',
    },
    {
      name: 'store',
      type: 'string',
      value: 'PATH',
      description: 'run store for --from-run (default $RTINFER_STORE or .rtinfer/runs.db)',
    },
    {
      name: 'out',
      type: 'string',
      value: 'DIR',
      description:
        "write one file per object (and KServe's model-repository/NAME/config.yaml) into DIR instead of stdout",
    },
    { name: 'json', type: 'boolean', description: 'print the rtinfer.deploy/1 JSON (objects and repository files)' },
    {
      name: 'name',
      type: 'string',
      value: 'NAME',
      description: "name of the objects (default: the first model's name)",
    },
    {
      name: 'namespace',
      type: 'string',
      value: 'NS',
      description: "namespace of the objects (default: none, kubectl's current)",
    },
    {
      name: 'image',
      type: 'string',
      value: 'IMAGE',
      description: 'container image built from the Dockerfile (default rtinfer:0.1.0)',
    },
    {
      name: 'instances',
      type: 'string',
      value: 'N',
      description: 'engine instances per model (overrides the config or run; default 1)',
    },
    {
      name: 'threads',
      type: 'string',
      value: 'N',
      description: 'intra-op threads per instance (overrides the config or run; default 1)',
    },
    {
      name: 'memory',
      type: 'string',
      value: 'QTY',
      description: 'memory request and limit (default: 256Mi + 3 x model size per instance)',
    },
    {
      name: 'drain-timeout',
      type: 'string',
      value: 'TIME',
      description: "the server's drain bound (default: the config's, or 30s); sets terminationGracePeriodSeconds",
    },
    { name: 'min-replicas', type: 'string', value: 'N', description: 'autoscaler minimum (default 1)' },
    { name: 'max-replicas', type: 'string', value: 'N', description: 'autoscaler maximum (default 10)' },
    {
      name: 'metric',
      type: 'string',
      value: 'NAME',
      description: `${SCALE_METRICS.join(' | ')}: the per-replica gauge to scale on (default queue-depth)`,
    },
    {
      name: 'target',
      type: 'string',
      value: 'N',
      description: 'average of the metric per replica to keep (default 2)',
    },
    {
      name: 'autoscaler',
      type: 'string',
      value: 'NAME',
      description:
        `k8s: ${AUTOSCALERS.join(' | ')} (HorizontalPodAutoscaler via the Prometheus ` +
        `adapter, or a KEDA ScaledObject; default hpa)`,
    },
    {
      name: 'models-claim',
      type: 'string',
      value: 'PVC',
      description: 'k8s: PersistentVolumeClaim with the model files, mounted at /models (default NAME-models)',
    },
    { name: 'prometheus', type: 'string', value: 'URL', description: 'k8s with keda: Prometheus server address' },
    {
      name: 'storage-uri',
      type: 'string',
      value: 'URI',
      description: 'kserve: where the model repository is (default pvc://NAME-models/repository)',
    },
    {
      name: 'protocol',
      type: 'string',
      value: 'P',
      description: `kserve: ${KSERVE_PROTOCOLS.join(' | ')}, the protocol the InferenceService routes (default v2)`,
    },
    {
      name: 'cluster-runtime',
      type: 'boolean',
      description: 'kserve: a ClusterServingRuntime instead of a namespaced ServingRuntime',
    },
  ],
  examples: [
    'rtinfer deploy yolox_nano.onnx --kind k8s --threads 2 > rtinfer.yaml',
    'rtinfer deploy --from-run last --kind kserve --storage-uri s3://models/rtinfer --out deploy/',
    'rtinfer deploy --config serve.yaml --kind k8s --autoscaler keda --metric inflight --target 4',
  ],
};

export async function deployCommand(argv: readonly string[], io: { stdout: NodeJS.WritableStream }): Promise<number> {
  const { values, positionals } = parseCommand(DEPLOY_COMMAND, argv);
  const text = (name: string): string | undefined => stringValue(values, name);
  const kindText = text('kind');
  if (kindText === undefined)
    throw new RtinferError('RTI_ERR_ARG_MISSING', `--kind is required: ${DEPLOY_KINDS.join(' or ')}`);
  const kind = parseChoice('kind', kindText, DEPLOY_KINDS);
  const int = (name: string, min: number, max?: number): number | undefined =>
    text(name) === undefined ? undefined : parseIntOption(name, text(name) ?? '', min, max);
  for (const k8sOnly of ['autoscaler', 'models-claim', 'prometheus'])
    if (kind !== 'k8s' && text(k8sOnly) !== undefined)
      throw new RtinferError('RTI_ERR_ARG_INVALID', `--${k8sOnly} is for --kind k8s`);
  for (const ksOnly of ['storage-uri', 'protocol'])
    if (kind !== 'kserve' && text(ksOnly) !== undefined)
      throw new RtinferError('RTI_ERR_ARG_INVALID', `--${ksOnly} is for --kind kserve`);
  if (kind !== 'kserve' && values['cluster-runtime'] === true)
    throw new RtinferError('RTI_ERR_ARG_INVALID', '--cluster-runtime is for --kind kserve');
  const autoscaler = text('autoscaler');
  const prometheus = text('prometheus');
  if (prometheus !== undefined && autoscaler !== 'keda')
    throw new RtinferError('RTI_ERR_ARG_INVALID', '--prometheus is for --autoscaler keda');
  const metric = text('metric');
  const protocol = text('protocol');
  const drain = text('drain-timeout');
  // Loaded here, not at start-up: every rtinfer command imports this file for its option table.
  const { buildDeployment, deployFiles, renderYaml } = await import('../deploy/deploy.js');
  const result = await buildDeployment({
    kind,
    ...(positionals.length > 0 ? { models: positionals } : {}),
    ...(text('config') !== undefined ? { config: text('config') as string } : {}),
    ...(text('from-run') !== undefined ? { fromRun: text('from-run') as string } : {}),
    ...(text('store') !== undefined ? { store: text('store') as string } : {}),
    ...(text('name') !== undefined ? { name: text('name') as string } : {}),
    ...(text('namespace') !== undefined ? { namespace: text('namespace') as string } : {}),
    ...(text('image') !== undefined ? { image: text('image') as string } : {}),
    ...(text('memory') !== undefined ? { memory: text('memory') as string } : {}),
    ...(int('instances', 1, 256) !== undefined ? { instances: int('instances', 1, 256) as number } : {}),
    ...(int('threads', 1, 1024) !== undefined ? { threads: int('threads', 1, 1024) as number } : {}),
    ...(int('min-replicas', 1, 10_000) !== undefined ? { minReplicas: int('min-replicas', 1, 10_000) as number } : {}),
    ...(int('max-replicas', 1, 10_000) !== undefined ? { maxReplicas: int('max-replicas', 1, 10_000) as number } : {}),
    ...(int('target', 1, 100_000) !== undefined ? { target: int('target', 1, 100_000) as number } : {}),
    ...(drain !== undefined ? { drainTimeoutMs: parseDurationMs('drain-timeout', drain) } : {}),
    ...(metric !== undefined ? { metric: parseChoice('metric', metric, SCALE_METRICS) } : {}),
    ...(autoscaler !== undefined ? { autoscaler: parseChoice('autoscaler', autoscaler, AUTOSCALERS) } : {}),
    ...(text('models-claim') !== undefined ? { modelsClaim: text('models-claim') as string } : {}),
    ...(prometheus !== undefined ? { prometheusUrl: prometheus } : {}),
    ...(text('storage-uri') !== undefined ? { storageUri: text('storage-uri') as string } : {}),
    ...(protocol !== undefined ? { protocol: parseChoice('protocol', protocol, KSERVE_PROTOCOLS) } : {}),
    clusterRuntime: values['cluster-runtime'] === true,
  });
  const out = text('out');
  if (out !== undefined) {
    const files = deployFiles(result);
    for (const [rel, content] of Object.entries(files)) {
      const file = path.join(out, rel);
      try {
        await makeDir(path.dirname(file));
      } catch (error) {
        throw new RtinferError('RTI_ERR_IO_WRITE', `cannot write --out ${out}: ${(error as Error).message}`);
      }
      await writeOutput('out', file, content);
    }
    if (!values['json'])
      io.stdout.write(`rtinfer deploy: wrote ${Object.keys(files).length} files to ${out} (kubectl apply -f ${out})\n`);
  }
  if (values['json'] === true) io.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else if (out === undefined) io.stdout.write(renderYaml(result));
  return 0;
}
