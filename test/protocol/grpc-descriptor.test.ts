/**
 * The committed gRPC descriptor (src/protocol/grpc-predict-v2.ts) is what scripts/gen-grpc.mjs
 * makes from KServe's official grpc_predict_v2.proto: message shapes are never edited by hand.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
// @ts-expect-error: a plain ES module script without types
import { grpcDescriptorModule } from '../../scripts/grpc-descriptor.mjs';

const PROTO = fileURLToPath(new URL('../../../shared/kserve/grpc_predict_v2.proto', import.meta.url));
const GENERATED = fileURLToPath(new URL('../../src/protocol/grpc-predict-v2.ts', import.meta.url));

test('the committed descriptor is generated from the official proto', (t) => {
  if (!existsSync(PROTO)) {
    t.skip(`${PROTO} is missing (the workplace's shared folder)`);
    return;
  }
  const fresh = (grpcDescriptorModule as (p: string) => string)(PROTO);
  assert.equal(readFileSync(GENERATED, 'utf8'), fresh, 'run node scripts/gen-grpc.mjs');
  assert.match(fresh, /"ModelInfer"/);
});
