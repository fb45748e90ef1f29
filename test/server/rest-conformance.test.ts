/**
 * Conformance with the Open Inference Protocol's REST definition: every path in KServe's
 * rest_predict_v2.yaml (../shared/kserve/, OpenAPI 3) is called on a live rtinfer serve, and every
 * JSON answer is validated with ajv against the schema the document gives for its status (the
 * protocol's error object for refusals it does not list). Skipped, with the reason, when the
 * workplace's folder is absent.
 */
import { Ajv } from 'ajv';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { encodeInferRequest } from '../../src/protocol/kserve-v2.js';
import { validateConfig } from '../../src/server/config.js';
import { createRtinferServer, type RtinferServer } from '../../src/server/server.js';
import { OCR_CLS } from '../helpers/models.js';

const SPEC = fileURLToPath(new URL('../../../shared/kserve/rest_predict_v2.yaml', import.meta.url));
const CLS = 'ch_ppocr_mobile_v2.0_cls_infer';

interface Operation {
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
}
type PathItem = Partial<Record<'get' | 'post', Operation>>;

let server: RtinferServer | undefined;
let base = '';

before(async () => {
  if (!existsSync(SPEC)) return;
  server = createRtinferServer(
    validateConfig({
      port: 0,
      models: [{ path: OCR_CLS, instances: 1, threads: 1, warmupShapes: { x: [1, 3, 48, 192] } }],
    }),
  );
  base = await server.listen();
  await server.ready();
});
after(async () => server?.close());

test("every REST answer validates against the protocol's OpenAPI schemas", async (t) => {
  if (!existsSync(SPEC)) {
    t.skip(`${SPEC} is missing (the workplace's shared folder)`);
    return;
  }
  const doc = parseYaml(readFileSync(SPEC, 'utf8')) as { paths: Record<string, PathItem>; components: unknown };
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addSchema({ components: doc.components }, 'v2');
  const check = (ref: string, body: unknown, what: string): void => {
    const validate = ajv.getSchema(`v2${ref}`);
    assert.ok(validate, `no schema ${ref}`);
    assert.ok(validate(body), `${what}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(body).slice(0, 300)}`);
  };
  const x = {
    name: 'x',
    type: 'float32' as const,
    dims: [1, 3, 48, 192],
    data: Float32Array.from({ length: 3 * 48 * 192 }, (_, i) => (i % 7) / 7),
  };
  const validJson = encodeInferRequest([x], { binaryInputs: false, binaryOutputs: false, id: 'c1' });
  // Requests per operation: a good one, and bad ones the server must refuse with the protocol's error object.
  const bodies: Record<
    string,
    Array<{ body?: Buffer | string; headers?: Record<string, string>; model?: string; version?: string }>
  > = {
    post: [
      { body: validJson.body, headers: validJson.headers },
      { body: '{"inputs": "no"}' },
      { body: '{not json' },
      { body: validJson.body, model: 'nope' },
      { body: validJson.body, version: '9' },
    ],
    get: [{}, { model: 'nope' }, { version: '9' }],
  };
  let answers = 0;
  const seen = new Set<number>();
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const method of ['get', 'post'] as const) {
      const op = item[method];
      if (!op) continue;
      for (const r of bodies[method]!) {
        for (const versioned of [true, false]) {
          let p = template.replace('${MODEL_NAME}', encodeURIComponent(r.model ?? CLS));
          p = versioned ? p.replace('${MODEL_VERSION}', r.version ?? '1') : p.replace('/versions/${MODEL_VERSION}', '');
          if (!versioned && !template.includes('${MODEL_VERSION}')) continue;
          const res = await fetch(base + p.replace(/\/$/, '/'), {
            method: method.toUpperCase(),
            ...(r.body !== undefined ? { body: r.body } : {}),
            headers: { 'content-type': 'application/json', ...r.headers },
          });
          const text = await res.text();
          const what = `${method.toUpperCase()} ${p} → ${res.status}`;
          assert.match(res.headers.get('content-type') ?? '', /application\/json/, what);
          const body = JSON.parse(text) as unknown;
          answers++;
          seen.add(res.status);
          const declared = op.responses[String(res.status)]?.content?.['application/json']?.schema?.$ref;
          if (declared) check(declared, body, what);
          else if (res.status >= 400)
            check(
              method === 'post'
                ? '#/components/schemas/inference_error_response'
                : '#/components/schemas/metadata_model_error_response',
              body,
              what,
            );
          else assert.ok(op.responses[String(res.status)], `${what}: a status the document does not list`);
        }
      }
    }
  }
  assert.ok(answers >= 20, `${answers} answers checked`);
  assert.ok(seen.has(200) && seen.has(400) && seen.has(404), `statuses seen: ${[...seen].join(', ')}`);
});
