/**
 * The vision layer's data: images in, results out. Everything here is plain data (no methods, no
 * class instances) so that it can cross a worker boundary by structured clone.
 */

/** An axis-aligned box [x1, y1, x2, y2] in pixels, x to the right and y down. */
export type Box = [x1: number, y1: number, x2: number, y2: number];

/** A landmark or body keypoint, in ORIGINAL image pixels (not clipped). */
export interface Keypoint {
  x: number;
  y: number;
  /** Visibility or confidence 0..1, when the model gives one (Ultralytics pose); absent otherwise. */
  score?: number;
}

/** One detected object, in ORIGINAL image pixels (after EXIF orientation), clipped to the image. */
export interface Detection {
  label: string;
  classId: number;
  score: number;
  box: Box;
  /** Pose and face-landmark heads: the object's keypoints, in the model's order. */
  keypoints?: Keypoint[];
  /** Instance segmentation: the object's pixels (within `box`). */
  mask?: Mask;
  /** Oriented boxes: the rotated rectangle's corners (then `box` is their bounds) and its angle in radians. */
  polygon?: Array<[number, number]>;
  angle?: number;
}

/**
 * A binary mask over a region of the ORIGINAL image (the object's box, in whole pixels): pixel
 * (x, y) is inside when data[(y − top) · width + (x − left)] is 1.
 */
export interface Mask {
  left: number;
  top: number;
  width: number;
  height: number;
  data: Uint8Array;
}

/** A class id per pixel of the ORIGINAL image (semantic segmentation), row-major. */
export interface ClassMap {
  width: number;
  height: number;
  data: Uint8Array | Uint16Array;
}

/** An image a model produced (super-resolution, enhancement, matting), 8-bit, HWC interleaved. */
export interface ImageOutput {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
  /** The value range found in the output and mapped to 0..255. */
  range: '0..1' | '-1..1' | '0..255';
  /**
   * A one-channel model fed the luma of a colour image (YCbCr super-resolution): combine with the
   * input's chroma to view it.
   */
  luminance: boolean;
  /** Output pixels per input pixel (2 for a ×2 super-resolution model). */
  scale: number;
}

export interface ClassScore {
  /** Index into the model's class dimension. */
  index: number;
  label: string;
  score: number;
}

/**
 * One text region from a text detector (or a line a recogniser read), in ORIGINAL image pixels,
 * clipped to the image.
 */
export interface TextBox {
  /** Mean probability over the region's pixels. */
  score: number;
  /** The axis-aligned box around the (expanded) region. */
  box: Box;
  /**
   * With `rotated: true`: the corners of the minimum-area rectangle (expanded), clockwise from the
   * top-left one in image coordinates. Absent for axis-aligned output.
   */
  polygon?: Array<[number, number]>;
  /** With `rotated: true`: the rectangle's angle in degrees, in (-45, 45]. */
  angle?: number;
  /**
   * A text-line recogniser's reading (ctc head; then `box` is the whole image and `score` the mean
   * probability of its characters). Classes without a dictionary read as "[index]".
   */
  text?: string;
}

/** An uncompressed frame, row-major, interleaved channels: grey, grey+alpha, RGB or RGBA. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  /**
   * Set when the frame was already resized (and cropped) for the model by someone else, as ffmpeg
   * does for video: the size of the picture it came from. The frame must then be 3-channel and
   * exactly the content region that planTransform(original, config) asks for; results are reported
   * in the original picture's pixels.
   */
  original?: { width: number; height: number };
}

/** An encoded image (JPEG, PNG, WebP, ...) as bytes or a file path, or a raw frame. */
export type ImageSource = string | Uint8Array | RawImage;

/** What a head needs to know about a model input or output: its name and declared shape. */
export interface TensorMeta {
  name: string;
  /** Numbers for fixed dimensions, names ('' when unnamed) for symbolic ones. */
  shape: ReadonlyArray<number | string>;
  dtype?: string;
}

/**
 * A model output as the run function returns it: an onnxruntime Tensor, or any object with the same
 * `dims` and `data` (float32 as Float32Array, float16 as its bits in a Uint16Array, ...).
 */
export interface OutputTensor {
  dims: readonly number[];
  data: unknown;
  type?: string;
}

export type ModelOutputs = Readonly<Record<string, OutputTensor>>;

/** A head's result, discriminated by task. */
export type HeadResult =
  | { task: 'detect'; detections: Detection[] }
  | { task: 'classify'; classes: ClassScore[] }
  | { task: 'text'; texts: TextBox[] }
  | { task: 'semantic'; map: ClassMap; segments: Array<{ classId: number; label: string; pixels: number }> }
  | { task: 'image'; image: ImageOutput };

export type VisionTask = HeadResult['task'];

/** The input tensor preprocessing builds: onnxruntime's element type name, dims and data. */
export interface VisionTensor {
  type: 'float32' | 'float16' | 'uint8';
  dims: number[];
  /** float32: Float32Array; float16: IEEE half bits in a Uint16Array; uint8: Uint8Array. */
  data: Float32Array | Uint16Array | Uint8Array;
}
