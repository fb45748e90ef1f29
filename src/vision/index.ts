/**
 * rtinfer's vision layer: decode and preprocess, task heads, NMS, drawing, and the pipeline that
 * ties them together for one model. Named exports only, types apart.
 */
export {
  DEFAULT_PREPROCESS,
  DEFAULT_FORMATS,
  SCALING,
  resolvePreprocessConfig,
  channelAffine,
  isIdentityScaling,
} from './config.js';
export type { PreprocessConfig, ResizeMode, ResizeKernel, Rgb } from './config.js';
export { planTransform, toOriginal, toOriginalPoint, toTensor, roundHalfEven } from './geometry.js';
export type { ImageTransform, Size } from './geometry.js';
export { decodeImage, imageLabel, isRawImage } from './decode.js';
export type { DecodedImage, DecodedPixels } from './decode.js';
export { allocateTensor, packPixels, tensorDims, itemLength, valueTable } from './pack.js';
export { preprocess, preprocessBatch } from './preprocess.js';
export type {
  Preprocessed,
  PreprocessOptions,
  PreprocessedBatch,
  BatchItem,
  BatchOptions,
  StageTimes,
} from './preprocess.js';
export { nms, sortByScore, iouAt } from './nms.js';
export type { NmsOptions, NmsCandidates } from './nms.js';
export { COCO80, parseNames, loadLabels, labelOf } from './labels.js';
export { DEFAULT_DECODE, resolveDecodeOptions, decodeDefaultsFor } from './decode-options.js';
export type { DecodeOptions } from './decode-options.js';
export { HEADS, HEAD_NAMES, getHead, detectHead, chooseHead, isHeadName, registerHead } from './heads/registry.js';
export { headFromSpec, validateHeadSpec } from './heads/spec-head.js';
export type { HeadSpec, RoleRef } from './heads/spec-head.js';
export { planVision } from './plan.js';
export type { VisionPlan, PlanOptions } from './plan.js';
export { inferInputLayout } from './input-layout.js';
export type { InputLayout } from './input-layout.js';
export { readSidecar, parseSidecar, sidecarCandidates } from './sidecar.js';
export type { Sidecar } from './sidecar.js';
export { renderResult, composeImage } from './render.js';
export { resultJson } from './result-json.js';
export type { MaskFormat } from './result-json.js';
export { maskToRle, maskToPolygons, classMask } from './masks.js';
export type { Rle } from './masks.js';
export { rotatedCorners, rotatedIou, rotatedNms } from './rotated.js';
export type { HeadChoice } from './heads/registry.js';
export type { VisionHead, HeadName, BuiltinHeadName, ModelMetadata } from './heads/head.js';
export { toProbabilities, topK } from './heads/classify.js';
export { drawDetections, overlaySvg } from './draw.js';
export type { DrawOptions } from './draw.js';
export { createVisionPipeline } from './pipeline.js';
export type { VisionPipeline, VisionPipelineOptions, VisionResult, BatchResult, SpeedMs } from './pipeline.js';
export type { InferenceTarget, RunFunction, SessionLike, RuntimeSessionLike, EngineLike } from './model-binding.js';
export { openVisionModel, withSidecar } from './open-model.js';
export type { OpenVisionOptions, OpenedVisionModel } from './open-model.js';
export type {
  Box,
  Detection,
  Keypoint,
  Mask,
  ClassMap,
  ImageOutput,
  ClassScore,
  TextBox,
  RawImage,
  ImageSource,
  TensorMeta,
  OutputTensor,
  ModelOutputs,
  HeadResult,
  VisionTask,
  VisionTensor,
} from './types.js';
