/** Validators for KServe objects from the CRDs in ../shared/kserve (their openAPIV3Schema), or null when the folder is absent. */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import { parse } from 'yaml';

export const KSERVE_DIR = fileURLToPath(new URL('../../../shared/kserve/', import.meta.url));

const CRDS: Readonly<Record<string, string>> = {
  ServingRuntime: 'serving.kserve.io_servingruntimes.yaml',
  ClusterServingRuntime: 'serving.kserve.io_clusterservingruntimes.yaml',
  InferenceService: 'serving.kserve.io_inferenceservices.yaml',
};

interface Crd {
  spec: { group: string; versions: Array<{ name: string; served: boolean; schema: { openAPIV3Schema: object } }> };
}

type Schema = Record<string, unknown>;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The schema cut down to the properties the data holds, recursively, and made strict: unknown
 * fields rejected, as `kubectl apply --validate=strict` does (the API server would prune them
 * silently otherwise). A property absent from the data is never checked against its schema
 * (`required` stays, and is checked on the data's keys), so the answer is the full schema's; ajv
 * compiles the InferenceService CRD whole in 20-40 s on this machine, the cut one in milliseconds.
 */
function cut(schema: unknown, values: readonly unknown[]): unknown {
  if (!isObj(schema)) return schema;
  const s: Schema = { ...schema };
  const objects = values.filter(isObj);
  const props = schema['properties'];
  if (isObj(props)) {
    const kept: Schema = {};
    for (const [k, sub] of Object.entries(props)) {
      const vs = objects.filter((o) => k in o).map((o) => o[k]);
      if (vs.length > 0) kept[k] = cut(sub, vs);
    }
    s['properties'] = kept;
    if (s['additionalProperties'] === undefined && s['x-kubernetes-preserve-unknown-fields'] !== true)
      s['additionalProperties'] = false;
  }
  if (isObj(schema['additionalProperties'])) {
    const known = isObj(props) ? Object.keys(props) : [];
    s['additionalProperties'] = cut(
      schema['additionalProperties'],
      objects.flatMap((o) =>
        Object.entries(o)
          .filter(([k]) => !known.includes(k))
          .map(([, v]) => v),
      ),
    );
  }
  if (isObj(schema['items'])) s['items'] = cut(schema['items'], values.filter(Array.isArray).flat());
  for (const k of ['allOf', 'anyOf', 'oneOf'] as const)
    if (Array.isArray(schema[k])) s[k] = (schema[k] as unknown[]).map((x) => cut(x, values));
  return s;
}

export type CrdValidator = (data: unknown) => { valid: boolean; errors: ErrorObject[] };

let cached: Map<string, Map<string, CrdValidator>> | null | undefined;

/** kind → apiVersion → validator; null without ../shared/kserve. */
export function kserveValidators(): Map<string, Map<string, CrdValidator>> | null {
  if (cached !== undefined) return cached;
  if (!existsSync(KSERVE_DIR)) return (cached = null);
  // strict off: the CRDs carry x-kubernetes-* keywords and formats (int32, int-or-string) ajv does not define.
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const out = new Map<string, Map<string, CrdValidator>>();
  for (const [kind, file] of Object.entries(CRDS)) {
    const crd = parse(readFileSync(KSERVE_DIR + file, 'utf8')) as Crd;
    const byVersion = new Map<string, CrdValidator>();
    for (const v of crd.spec.versions) {
      if (!v.served) continue;
      const schema = v.schema.openAPIV3Schema;
      byVersion.set(`${crd.spec.group}/${v.name}`, (data) => {
        const validate = ajv.compile(cut(schema, [data]) as object);
        const valid = validate(data);
        return { valid, errors: validate.errors ?? [] };
      });
    }
    out.set(kind, byVersion);
  }
  return (cached = out);
}
