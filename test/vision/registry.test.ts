import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseHead, detectHead, getHead, HEAD_NAMES } from '../../src/vision/heads/registry.js';
import { parseNames } from '../../src/vision/labels.js';
import type { TensorMeta } from '../../src/vision/types.js';
import { throwsWith } from './helpers.js';

const out = (name: string, ...shape: Array<number | string>): TensorMeta => ({ name, shape });
const image = (h: number | string, w: number | string): TensorMeta[] => [
  { name: 'images', shape: [1, 3, h, w], dtype: 'float32' },
];

const ULTRALYTICS = {
  author: 'Ultralytics',
  task: 'detect',
  stride: '32',
  imgsz: '[480, 640]',
  names: "{0: 'person', 1: 'bicycle', 2: \"o'clock\"}",
};

test('an Ultralytics export needs no flags: task, names and imgsz pick the head, labels and size', () => {
  const c = detectHead([out('output0', 1, 7, 6300)], ULTRALYTICS, image('batch', 'height'));
  assert.equal(c.head.name, 'yolo');
  assert.equal(c.reason, 'metadata task=detect');
  assert.deepEqual(c.labels, ['person', 'bicycle', "o'clock"]);
  assert.deepEqual(c.preprocess, { height: 480, width: 640 });
  // Segment: boxes, mask coefficients and prototypes.
  assert.equal(
    detectHead([out('output0', 1, 39, 8400), out('output1', 1, 32, 160, 160)], { ...ULTRALYTICS, task: 'segment' }).head
      .name,
    'segment',
  );
  // YOLOv10 / nms=True exports: [1, 300, 6].
  assert.equal(detectHead([out('output0', 1, 300, 6)], ULTRALYTICS).head.name, 'end2end');
  const cls = detectHead([out('output0', 1, 3)], { ...ULTRALYTICS, task: 'classify', imgsz: '[224, 224]' });
  assert.equal(cls.head.name, 'classify');
  assert.deepEqual(cls.preprocess, {
    height: 224,
    width: 224,
    resize: 'crop',
    rescale: 1 / 255,
    mean: [0, 0, 0],
    std: [1, 1, 1],
    shortestEdge: 224,
  });
  assert.equal(detectHead([out('output0', 1, 8, 8400)], { ...ULTRALYTICS, task: 'obb' }).head.name, 'obb');
  throwsWith(
    () => detectHead([out('output0', 1, 20, 8400)], { ...ULTRALYTICS, task: 'obb' }),
    'RTI_ERR_HEAD_MISMATCH',
    /no head fits .*task=obb/,
  );
  throwsWith(
    () => detectHead([out('output0', 1, 20, 8400)], { ...ULTRALYTICS, task: 'track' }),
    'RTI_ERR_HEAD_MISMATCH',
    /task 'track'/,
  );
});

test('without metadata the output shapes decide, and the input size tells YOLOX from YOLOv5', () => {
  assert.equal(detectHead([out('output', 1, 3549, 85)], {}, image(416, 416)).head.name, 'yolox');
  assert.equal(detectHead([out('output', 1, 3549, 85)]).head.name, 'yolox');
  assert.equal(detectHead([out('output0', 1, 25200, 85)], {}, image(640, 640)).head.name, 'yolov5');
  assert.equal(detectHead([out('output0', 1, 25200, 85)], { stride: '32', names: "{0: 'a'}" }).head.name, 'yolov5');
  assert.equal(detectHead([out('output0', 1, 84, 8400)]).head.name, 'yolo');
  assert.equal(detectHead([out('scores', 1, 4420, 2), out('boxes', 1, 4420, 4)], {}, image(240, 320)).head.name, 'ssd');
  assert.equal(
    detectHead([out('output', 1, 896, 16), out('519', 1, 896, 1)], {}, image(128, 128)).head.name,
    'blazeface',
  );
  assert.equal(
    detectHead([
      out('sigmoid_0.tmp_0', 'p2o.DynamicDimension.0', 1, 'p2o.DynamicDimension.1', 'p2o.DynamicDimension.2'),
    ]).head.name,
    'text',
  );
  assert.equal(detectHead([out('logits', 'batch', 1000)]).head.name, 'classify');
  assert.equal(detectHead([out('output0', 1, 100, 6)]).head.name, 'end2end');
});

test('a named head that does not fit, an unknown name, or outputs no head reads are one-line errors', () => {
  throwsWith(
    () => chooseHead('ssd', [out('output', 1, 3549, 85)]),
    'RTI_ERR_HEAD_MISMATCH',
    /head 'ssd' does not fit the model outputs output\[1,3549,85\]: it expects two outputs/,
  );
  throwsWith(
    () => chooseHead('yolox', [out('output', 1, 25200, 85)], {}, image(640, 640)),
    'RTI_ERR_HEAD_MISMATCH',
    /'yolox'/,
  );
  throwsWith(() => getHead('detr'), 'RTI_ERR_ARG_INVALID', /unknown head 'detr' \(known: yolo, yolov5/);
  throwsWith(
    () => detectHead([out('x', 1, 3, 4, 5), out('y', 2)]),
    'RTI_ERR_HEAD_MISMATCH',
    /no head fits the model outputs x\[1,3,4,5\], y\[2\]/,
  );
  assert.equal(chooseHead('yolov5', [out('output0', 1, 25200, 85)]).reason, 'named');
  assert.ok(HEAD_NAMES.includes('pose') && HEAD_NAMES.includes('yolov8-raw'));
});

test('names metadata parses as a Python dict, a list or JSON', () => {
  assert.deepEqual(parseNames("{0: 'person', 1: 'traffic light'}"), ['person', 'traffic light']);
  assert.deepEqual(parseNames('{"0": "a", "2": "c"}'), ['a', 'class 1', 'c']);
  assert.deepEqual(parseNames("['cat', 'dog']"), ['cat', 'dog']);
  assert.deepEqual(parseNames("{0: 'it\\'s'}"), ["it's"]);
  assert.equal(parseNames('32'), undefined);
  assert.equal(parseNames(undefined), undefined);
});
