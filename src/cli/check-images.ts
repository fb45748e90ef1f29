/** bench --images: every image decoded once before the measurement, so a bad file is refused by name. */
import { RtinferError } from '../errors.js';
import { scanImageSource } from '../loadgen/images-bench.js';
import { DEFAULT_PREPROCESS } from '../vision/config.js';
import { decodeImage } from '../vision/decode.js';

/**
 * Throws the decoder's one-line error (RTI_ERR_IMAGE_*, exit 2) for the first image that does not decode.
 * Refused rather than skipped: a run over fewer images than asked measures something else, and a file
 * that fails mid-run ended the measurement after one query with an all-zero report.
 */
export async function checkImages(source: string): Promise<void> {
  const { images } = await scanImageSource(source);
  for (const image of images) {
    try {
      await decodeImage(image, DEFAULT_PREPROCESS);
    } catch (error) {
      if (error instanceof RtinferError) throw new RtinferError(error.code, `--images: ${error.message}`);
      throw error;
    }
  }
}
