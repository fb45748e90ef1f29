/**
 * rtinfer deploy: every manifest validated against Kubernetes' schemas (kubernetes-models'
 * validate()) and KServe's CRDs (../shared/kserve, with ajv); the layout carried from models, a
 * serve config and a tune report; bad input refused in one line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { buildDeployment, renderYaml, type DeployResult } from '../../src/deploy/deploy.js';
import { deployCommand } from '../../src/cli/deploy.js';
import { isRtinferError } from '../../src/errors.js';
import { validateConfig } from '../../src/server/config.js';
import { OCR_CLS } from '../helpers/models.js';
import { kserveValidators, KSERVE_DIR } from './kserve-crd.js';

const K8S_KINDS: Record<string, new (data: never) => { validate(): void }> = {
  Deployment,
  HorizontalPodAutoscaler,
  PodDisruptionBudget,
  ConfigMap,
  Service,
  ScaledObject,
} as never;

/** Rebuilds each object from its JSON (as kubectl would read the YAML) and validates it with kubernetes-models. */
function validateK8s(objects: ReadonlyArray<Record<string, unknown>>): void {
  for (const o of objects) {
    const Model = K8S_KINDS[String(o['kind'])];
    assert.ok(Model, `no kubernetes-models class for ${String(o['kind'])}`);
    new Model(o as never).validate();
  }
}

// The manifests are checked by path here; their types are the schemas' business (validated above).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

function byKind(r: DeployResult, kind: string): Loose {
  const o = r.objects.find((x) => x['kind'] === kind);
  assert.ok(o, `no ${kind}`);
  return o as Loose;
}

async function run(...argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const stdout = { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream;
  return { code: await deployCommand(argv, { stdout }), out };
}

test("k8s manifests pass Kubernetes' schemas, with the layout as CPU and probes on the v2 health routes", async () => {
  const r = await buildDeployment({ kind: 'k8s', models: [OCR_CLS], instances: 2, threads: 3, drainTimeoutMs: 20_000 });
  validateK8s(r.objects);
  assert.deepEqual(
    r.objects.map((o) => o['kind']),
    ['ConfigMap', 'Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget'],
  );
  const pod = byKind(r, 'Deployment')['spec']['template']['spec'];
  const c = pod.containers[0];
  assert.deepEqual(c.resources.requests, { cpu: '6', memory: r.spec.memory });
  assert.deepEqual(c.resources.limits, c.resources.requests);
  assert.equal(c.readinessProbe.httpGet.path, '/v2/health/ready');
  assert.equal(c.livenessProbe.httpGet.path, '/v2/health/live');
  // Probes go to the health thread's port, which the served config opens.
  assert.equal(c.livenessProbe.httpGet.port, 'health');
  assert.equal(c.readinessProbe.httpGet.port, 'health');
  assert.ok(
    c.ports.some((p: { name: string; containerPort: number }) => p.name === 'health' && p.containerPort === 8082),
  );
  assert.deepEqual(c.lifecycle.preStop.exec.command, ['sleep', '5']);
  // preStop 5 s + drain 20 s + 5 s to exit
  assert.equal(pod.terminationGracePeriodSeconds, 30);
  assert.equal(c.securityContext.runAsNonRoot, true);
  const metric = byKind(r, 'HorizontalPodAutoscaler')['spec']['metrics'][0];
  assert.equal(metric.type, 'Pods');
  assert.equal(metric.pods.metric.name, 'rtinfer_queue_depth');
  // The ConfigMap's serve config is one rtinfer serve accepts, with the same layout and drain bound.
  const served = validateConfig((await import('yaml')).parse(byKind(r, 'ConfigMap')['data']['serve.yaml']));
  assert.equal(served.models[0]?.instances, 2);
  assert.equal(served.models[0]?.threads, 3);
  assert.equal(served.drainTimeoutMs, 20_000);
  assert.equal(served.host, '0.0.0.0');
  assert.equal(served.healthPort, 8082);
});

test('the KEDA variant replaces the HPA with a ScaledObject on the in-flight gauge, and validates', async () => {
  const r = await buildDeployment({
    kind: 'k8s',
    models: [OCR_CLS],
    autoscaler: 'keda',
    metric: 'inflight',
    target: 4,
    namespace: 'ml',
  });
  validateK8s(r.objects);
  assert.equal(
    r.objects.some((o) => o['kind'] === 'HorizontalPodAutoscaler'),
    false,
  );
  const trigger = byKind(r, 'ScaledObject')['spec']['triggers'][0];
  assert.equal(trigger.type, 'prometheus');
  assert.match(
    trigger.metadata.query,
    /^sum\(rtinfer_inflight_requests\{namespace="ml",pod=~"ch-ppocr-mobile-v2-0-cls-infer-\.\*"\}\)$/,
  );
  assert.equal(trigger.metadata.threshold, '4');
});

test('a broken object fails kubernetes-models validation (the check can fail)', () => {
  assert.throws(() =>
    new Deployment({
      metadata: { name: 'x' },
      spec: {
        selector: { matchLabels: {} },
        template: { spec: { containers: [{ name: 'c', ports: [{ containerPort: 'http' as never }] }] } },
      },
    }).validate(),
  );
});

test('KServe ServingRuntime, ClusterServingRuntime and InferenceService pass the CRD schemas', async (t) => {
  const validators = kserveValidators();
  if (validators === null) {
    t.skip(`${KSERVE_DIR} not found: KServe CRD validation skipped`);
    return;
  }
  for (const [cluster, protocol] of [
    [false, 'v2'],
    [true, 'grpc-v2'],
  ] as const) {
    const r = await buildDeployment({
      kind: 'kserve',
      models: [OCR_CLS],
      threads: 2,
      clusterRuntime: cluster,
      protocol,
      namespace: 'ml',
    });
    for (const o of r.objects) {
      const v = validators.get(String(o['kind']))?.get(String(o['apiVersion']));
      assert.ok(v, `no CRD for ${String(o['kind'])} ${String(o['apiVersion'])}`);
      const answer = v(o);
      assert.ok(answer.valid, `${String(o['kind'])}: ${JSON.stringify(answer.errors.slice(0, 3))}`);
    }
    const rt = byKind(r, cluster ? 'ClusterServingRuntime' : 'ServingRuntime');
    assert.equal(rt['metadata']['namespace'], cluster ? undefined : 'ml');
    assert.deepEqual(rt['spec']['supportedModelFormats'][0].name, 'onnx');
    assert.deepEqual(rt['spec']['protocolVersions'], ['v2', 'grpc-v2']);
    const c = rt['spec']['containers'][0];
    assert.equal(c.name, 'kserve-container');
    assert.equal(c.ports[0].name, protocol === 'v2' ? 'http1' : 'h2c');
    assert.equal(c.readinessProbe.httpGet.path, '/v2/health/ready');
    const isvc = byKind(r, 'InferenceService');
    assert.equal(isvc['spec']['predictor']['model']['runtime'], rt['metadata']['name']);
    assert.equal(isvc['spec']['predictor']['model']['resources']['limits']['cpu'], '2');
    assert.equal(isvc['spec']['predictor']['terminationGracePeriodSeconds'], 40);
    assert.match(r.repositoryFiles['ch_ppocr_mobile_v2.0_cls_infer/config.yaml'] ?? '', /instances: 1\nthreads: 2\n/);
  }
});

test('the CRD validation can fail: an unknown field and a wrong type are refused', (t) => {
  const validators = kserveValidators();
  if (validators === null) {
    t.skip(`${KSERVE_DIR} not found: skipped`);
    return;
  }
  const v = validators.get('InferenceService')?.get('serving.kserve.io/v1beta1');
  assert.ok(v);
  assert.equal(
    v({
      apiVersion: 'serving.kserve.io/v1beta1',
      kind: 'InferenceService',
      metadata: { name: 'x' },
      spec: { predictor: { minReplicas: 'one' } },
    }).valid,
    false,
  );
  assert.equal(
    v({
      apiVersion: 'serving.kserve.io/v1beta1',
      kind: 'InferenceService',
      metadata: { name: 'x' },
      spec: { predictor: { modle: {} } },
    }).valid,
    false,
  );
  // A container without its required name, deep inside the runtime.
  const rt = validators.get('ServingRuntime')?.get('serving.kserve.io/v1alpha1');
  assert.ok(rt);
  assert.equal(
    rt({
      apiVersion: 'serving.kserve.io/v1alpha1',
      kind: 'ServingRuntime',
      metadata: { name: 'x' },
      spec: { containers: [{ image: 'i' }], supportedModelFormats: [{ name: 'onnx' }] },
    }).valid,
    false,
  );
  assert.equal(
    rt({
      apiVersion: 'serving.kserve.io/v1alpha1',
      kind: 'ServingRuntime',
      metadata: { name: 'x' },
      spec: { containers: [{ name: 'c', image: 'i' }], supportedModelFormats: [{ name: 'onnx' }] },
    }).valid,
    true,
  );
});

test("a tune report's chosen layout becomes the pod's CPU (--from-run report.json)", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-deploy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const report = path.join(dir, 'tune.json');
  const config = {
    name: 'cls',
    path: OCR_CLS,
    instances: 2,
    threads: 1,
    batching: { maxBatchSize: 4, maxQueueDelayUs: 500 },
    session: { graphOptimizationLevel: 'all', executionMode: 'sequential', allowSpinning: false },
  };
  writeFileSync(report, JSON.stringify({ schema: 'rtinfer.tune/1', chosen: { key: 'cls i2 t1 b4', config } }));
  const r = await buildDeployment({ kind: 'k8s', fromRun: report });
  validateK8s(r.objects);
  assert.equal(r.coresPerReplica, 2);
  const served = validateConfig((await import('yaml')).parse(byKind(r, 'ConfigMap')['data']['serve.yaml']));
  assert.deepEqual(served.models[0]?.batching, { maxBatchSize: 4, maxQueueDelayUs: 500 });
  assert.match(r.spec.origin, /^tune .*tune\.json: cls i2 t1 b4$/);
  // A tune that met nothing has nothing to deploy.
  writeFileSync(report, JSON.stringify({ schema: 'rtinfer.tune/1', chosen: null }));
  await assert.rejects(buildDeployment({ kind: 'k8s', fromRun: report }), /found no configuration within its SLO/);
});

test('the CLI prints a YAML stream that parses back to the same objects, and --out writes one file per object', async (t) => {
  const { code, out } = await run(OCR_CLS, '--kind', 'k8s', '--name', 'cls');
  assert.equal(code, 0);
  const docs = parseAllDocuments(out).map((d) => d.toJSON() as Record<string, unknown>);
  assert.deepEqual(
    docs.map((d) => d['kind']),
    ['ConfigMap', 'Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget'],
  );
  validateK8s(docs);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-deploy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const written = await run(OCR_CLS, '--kind', 'kserve', '--out', dir);
  assert.equal(written.code, 0);
  assert.deepEqual(readdirSync(dir).sort(), ['01-servingruntime.yaml', '02-inferenceservice.yaml', 'model-repository']);
  assert.match(
    readFileSync(path.join(dir, 'model-repository/ch_ppocr_mobile_v2.0_cls_infer/config.yaml'), 'utf8'),
    /threads: 1/,
  );
  const json = JSON.parse((await run(OCR_CLS, '--kind', 'kserve', '--json')).out) as DeployResult;
  assert.equal(json.schema, 'rtinfer.deploy/1');
  assert.equal(renderYaml(json).split('---').length, 2);
});

test('BAD CALL - deploy refuses bad input in one line with a stable code', async () => {
  const cases: Array<[string[], string, RegExp]> = [
    [[OCR_CLS], 'RTI_ERR_ARG_MISSING', /--kind is required/],
    [[OCR_CLS, '--kind', 'nomad'], 'RTI_ERR_ARG_INVALID', /invalid --kind 'nomad'/],
    [['--kind', 'k8s'], 'RTI_ERR_ARG_MISSING', /needs models, --config/],
    [['missing.onnx', '--kind', 'k8s'], 'RTI_ERR_MODEL_NOT_FOUND', /missing\.onnx/],
    [[OCR_CLS, '--kind', 'k8s', '--name', 'Bad_Name'], 'RTI_ERR_ARG_INVALID', /invalid --name/],
    [[OCR_CLS, '--kind', 'k8s', '--threads', '0'], 'RTI_ERR_ARG_INVALID', /invalid --threads/],
    [[OCR_CLS, '--kind', 'k8s', '--memory', 'lots'], 'RTI_ERR_ARG_INVALID', /invalid --memory/],
    [[OCR_CLS, '--kind', 'kserve', '--autoscaler', 'keda'], 'RTI_ERR_ARG_INVALID', /is for --kind k8s/],
    [
      [OCR_CLS, '--kind', 'k8s', '--min-replicas', '5', '--max-replicas', '2'],
      'RTI_ERR_ARG_INVALID',
      /below --min-replicas/,
    ],
    [[OCR_CLS, '--kind', 'k8s', '--from-run', 'nothing.json'], 'RTI_ERR_ARG_INVALID', /one of them/],
    [['--kind', 'k8s', '--from-run', '/nonexistent/x.json'], 'RTI_ERR_RUN_NOT_FOUND', /cannot read report/],
  ];
  for (const [argv, code, message] of cases) {
    await assert.rejects(run(...argv), (e: unknown) => {
      assert.ok(isRtinferError(e), `${argv.join(' ')}: ${String(e)}`);
      assert.equal(e.code, code, argv.join(' '));
      assert.match(e.message, message);
      assert.equal(e.message.includes('\n'), false);
      return true;
    });
  }
});

test('BAD CALL - deploy refuses a file that is not an ONNX model with the error rtinfer info gives', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-deploy-'));
  try {
    const text = path.join(dir, 'text.onnx');
    writeFileSync(text, 'not a model\n');
    const truncated = path.join(dir, 'trunc.onnx');
    writeFileSync(truncated, readFileSync(OCR_CLS).subarray(0, 1000));
    const cases: Array<[string, string, RegExp]> = [
      [text, 'RTI_ERR_MODEL_NOT_ONNX', /text\.onnx is not an ONNX model/],
      [truncated, 'RTI_ERR_MODEL_NOT_ONNX', /trunc\.onnx is not an ONNX model/],
      [dir, 'RTI_ERR_MODEL_NOT_FOUND', /is a directory, not a model file/],
    ];
    for (const [model, code, message] of cases) {
      await assert.rejects(run(OCR_CLS, model, '--kind', 'k8s'), (e: unknown) => {
        assert.ok(isRtinferError(e), `${model}: ${String(e)}`);
        assert.equal(e.code, code, model);
        assert.equal(e.kind, 'usage', 'exit 2, as info');
        assert.match(e.message, message);
        assert.equal(e.message.includes('\n'), false);
        return true;
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
