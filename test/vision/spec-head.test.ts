import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { headFromSpec } from '../../src/vision/heads/spec-head.js';
import { detectHead, registerHead, HEAD_NAMES } from '../../src/vision/heads/registry.js';
import { yoloHead } from '../../src/vision/heads/yolo.js';
import { openVisionModel } from '../../src/vision/open-model.js';
import { parseSidecar } from '../../src/vision/sidecar.js';
import type { Detection } from '../../src/vision/types.js';
import { assertBoxClose, rejectsWith, throwsWith } from './helpers.js';
import { blankFrame, constantModel, levelValues, openConstant, type ConstantOutput } from './constant-model.js';

/** YuNet's layout at 64×64 with one face at stride 8 (as in multi-level.test.ts). */
function yunetOutputs(): ConstantOutput[] {
  const outputs: ConstantOutput[] = [];
  for (const [stride, n] of [
    [8, 64],
    [16, 16],
    [32, 4],
  ] as const) {
    const cls = levelValues(1, n, 0.01, 'nc');
    const obj = levelValues(1, n, 0.01, 'nc');
    const box = levelValues(4, n, 0, 'nc');
    const kps = levelValues(10, n, 0, 'nc');
    if (stride === 8) {
      const p = 3 * 8 + 2;
      cls.set(0, p, 0.9801);
      obj.set(0, p, 0.9801);
      [0.5, 0.25, Math.log(2), 0].forEach((v, c) => box.set(c, p, v));
      for (let k = 0; k < 5; k++) kps.set(2 * k, p, 0.1 * k);
    }
    outputs.push(
      { name: `cls_${stride}`, dims: [1, n, 1], values: cls.values },
      { name: `obj_${stride}`, dims: [1, n, 1], values: obj.values },
    );
    outputs.push(
      { name: `bbox_${stride}`, dims: [1, n, 4], values: box.values },
      { name: `kps_${stride}`, dims: [1, n, 10], values: kps.values },
    );
  }
  return outputs;
}

const YUNET_SPEC = {
  name: 'my-yunet',
  strides: [8, 16, 32],
  levels: [8, 16, 32].map((s) => ({
    box: `bbox_${s}`,
    score: `cls_${s}`,
    objectness: `obj_${s}`,
    keypoints: `kps_${s}`,
  })),
  box: 'xywh-exp',
  centerOffset: 0,
  objectness: 'sqrt',
  keypoints: 5,
  labels: ['face'],
  decode: { scoreThreshold: 0.9, iouThreshold: 0.3 },
};

async function detections(bytes: Uint8Array, task?: unknown): Promise<Detection[]> {
  const { pipeline, close } = await openConstant(bytes, {}, task === undefined ? {} : { task: task as never });
  try {
    const r = await pipeline.predict(blankFrame(64, 64));
    return r.task === 'detect' ? r.detections : [];
  } finally {
    await close();
  }
}

test('a head spec reproduces the built-in YuNet decoding exactly (boxes, scores, landmarks)', async () => {
  const bytes = constantModel({ name: 'input', shape: [1, 3, 64, 64] }, yunetOutputs());
  const builtin = await detections(bytes);
  const spec = await detections(bytes, headFromSpec(YUNET_SPEC));
  assert.equal(builtin.length, 1);
  assert.deepEqual(spec, builtin);
});

test('a head spec with anchors, channel ranges and per-anchor steps decodes a YOLO-FastestV2 grid', async () => {
  const C = 15 + 2;
  const l0 = levelValues(C, 16, 0, 'nc');
  const l1 = levelValues(C, 4, 0, 'nc');
  const p = 1 * 4 + 2;
  [0.5, 0.75, 0.5, 1].forEach((x, c) => l0.set(4 + c, p, x));
  l0.set(13, p, 0.9);
  l0.set(15, p, 0.8);
  const bytes = constantModel({ name: 'input', shape: [1, 3, 64, 64] }, [
    { name: 'a', dims: [1, 4, 4, C], values: l0.values },
    { name: 'b', dims: [1, 2, 2, C], values: l1.values },
  ]);
  const level = (o: string) => ({
    box: { output: o, channels: [0, 4], anchorStep: 4 },
    objectness: { output: o, channels: [12, 1], anchorStep: 1 },
    score: { output: o, channels: [15, 2], anchorStep: 0 },
  });
  const head = headFromSpec({
    strides: [16, 32],
    levels: [level('a'), level('b')],
    anchors: [
      [
        [10, 20],
        [20, 10],
        [8, 8],
      ],
      [
        [30, 30],
        [40, 40],
        [50, 50],
      ],
    ],
    box: 'yolo',
    centerOffset: 0,
  });
  const dets = await detections(bytes, head);
  assert.equal(dets.length, 1, JSON.stringify(dets));
  assertBoxClose(dets[0]!.box, [30, 12, 50, 52], 1e-3);
  assert.ok(Math.abs(dets[0]!.score - 0.72) < 1e-6);
});

test('BAD CALL - a head spec with a missing or wrong field is a one-line error naming it', () => {
  throwsWith(
    () => headFromSpec({ ...YUNET_SPEC, strides: [] }),
    'RTI_ERR_ARG_INVALID',
    /invalid head spec strides \[\] \(expected a list of positive numbers\)/,
  );
  throwsWith(
    () => headFromSpec({ ...YUNET_SPEC, box: 'corners' }),
    'RTI_ERR_ARG_INVALID',
    /invalid head spec box "corners" \(expected ltrb \| dfl/,
  );
  throwsWith(
    () => headFromSpec({ ...YUNET_SPEC, levels: YUNET_SPEC.levels.slice(1) }),
    'RTI_ERR_ARG_INVALID',
    /levels .*one entry per stride \(3\)/,
  );
  throwsWith(() => headFromSpec({ ...YUNET_SPEC, box: 'yolo' }), 'RTI_ERR_ARG_INVALID', /anchors for box "yolo"/);
  throwsWith(
    () => headFromSpec({ ...YUNET_SPEC, levels: [{ box: 'x[4:2]', score: 's' }, ...YUNET_SPEC.levels.slice(1)] }),
    'RTI_ERR_ARG_INVALID',
    /levels\[0\].box "x\[4:2\]"/,
  );
  throwsWith(
    () => parseSidecar('m.rtinfer.json', '{"head": {"strides": [8]}}'),
    'RTI_ERR_ARG_INVALID',
    /invalid sidecar m.rtinfer.json: invalid head spec levels/,
  );
  throwsWith(() => parseSidecar('m.rtinfer.json', '{"heads": {}}'), 'RTI_ERR_ARG_INVALID', /unknown field 'heads'/);
  throwsWith(() => parseSidecar('m.rtinfer.yaml', 'labels: [a, 1'), 'RTI_ERR_ARG_INVALID', /cannot parse/);
});

test('a sidecar next to the model wires an unknown detector with no flags; a spec that names missing outputs fails at open', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'rtinfer-sidecar-'));
  try {
    // Outputs renamed so that no built-in head recognises them.
    const outputs = yunetOutputs().map((o) => ({ ...o, name: o.name.replace('_', '-') }));
    const model = path.join(dir, 'faces.onnx');
    await writeFile(model, constantModel({ name: 'input', shape: [1, 3, 64, 64] }, outputs));
    await rejectsWith(() => openVisionModel(model), 'RTI_ERR_HEAD_MISMATCH', /no head fits/);
    const spec = {
      ...YUNET_SPEC,
      levels: [8, 16, 32].map((s) => ({
        box: `bbox-${s}`,
        score: `cls-${s}`,
        objectness: `obj-${s}`,
        keypoints: `kps-${s}`,
      })),
    };
    await writeFile(
      path.join(dir, 'faces.rtinfer.yaml'),
      `# made by hand\nhead: ${JSON.stringify(spec)}\npreprocess: { padValue: 0 }\n`,
    );
    const m = await openVisionModel(model);
    try {
      assert.equal(m.head.name, 'my-yunet');
      assert.equal(m.config.padValue, 0);
      assert.match(m.explanation.join('\n'), /sidecar .*faces.rtinfer.yaml: head spec 'my-yunet', preprocess/);
      const r = await m.predict(blankFrame(64, 64));
      assert.ok(r.task === 'detect' && r.detections.length === 1 && r.detections[0]!.label === 'face');
    } finally {
      await m.close();
    }
    await writeFile(
      path.join(dir, 'faces.rtinfer.yaml'),
      `head: ${JSON.stringify({ ...spec, levels: spec.levels.map((l) => ({ ...l, box: 'nope' })) })}\n`,
    );
    await rejectsWith(
      () => openVisionModel(model),
      'RTI_ERR_HEAD_MISMATCH',
      /head 'my-yunet' does not fit .* it expects the outputs its spec names \(nope/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('registerHead adds a family: found by name and tried first by detection; names are unique', () => {
  const custom = {
    ...yoloHead,
    name: 'test-custom',
    matches: (outputs: ReadonlyArray<{ name: string }>) => outputs.some((o) => o.name === 'custom_out'),
  };
  registerHead(custom);
  assert.ok(HEAD_NAMES.includes('test-custom'));
  const c = detectHead([{ name: 'custom_out', shape: [1, 84, 8400] }]);
  assert.equal(c.head.name, 'test-custom');
  assert.match(c.reason, /registered head 'test-custom'/);
  throwsWith(() => registerHead(custom), 'RTI_ERR_ARG_INVALID', /invalid head name 'test-custom': already registered/);
  throwsWith(() => registerHead({ name: 'x' } as never), 'RTI_ERR_ARG_INVALID', /registerHead needs/);
});
