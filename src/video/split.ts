/**
 * Byte streams → frames: fixed-size raw frames (ffmpeg's rawvideo, raw frames on stdin) and
 * concatenated JPEGs (MJPEG on stdin, as `ffmpeg -f mjpeg -` or a camera tool writes it). Each
 * frame is its own buffer, so one held by the pipeline is never overwritten by the next.
 */

/** Splits a stream into `frameBytes`-sized frames; a short tail is returned by `rest()` when the stream ends. */
export class RawFrameSplitter {
  readonly frameBytes: number;
  #buf: Buffer;
  #filled = 0;

  constructor(frameBytes: number) {
    if (!(Number.isInteger(frameBytes) && frameBytes > 0)) throw new RangeError(`invalid frameBytes ${frameBytes}`);
    this.frameBytes = frameBytes;
    this.#buf = Buffer.allocUnsafe(frameBytes);
  }

  /** The frames this chunk completes, in order. */
  push(chunk: Uint8Array): Buffer[] {
    const out: Buffer[] = [];
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.frameBytes - this.#filled, chunk.length - off);
      this.#buf.set(chunk.subarray(off, off + n), this.#filled);
      this.#filled += n;
      off += n;
      if (this.#filled === this.frameBytes) {
        out.push(this.#buf);
        this.#buf = Buffer.allocUnsafe(this.frameBytes);
        this.#filled = 0;
      }
    }
    return out;
  }

  /** Bytes of an incomplete frame left over (a truncated stream). */
  rest(): number {
    return this.#filled;
  }
}

/**
 * Splits concatenated JPEGs on their SOI (FF D8) and EOI (FF D9) markers, counting nesting so an
 * EXIF thumbnail (a whole JPEG inside APP1) does not end the frame. Entropy-coded data cannot hold
 * either marker (0xFF is stuffed as FF 00), so a byte scan is exact. Bytes between images are skipped.
 */
export class MjpegSplitter {
  #parts: Buffer[] = [];
  #depth = 0;
  #prevFF = false;
  /** Bounded: a "frame" that never ends is refused rather than grown without limit. */
  readonly maxFrameBytes: number;
  #size = 0;

  constructor(maxFrameBytes = 64 * 1024 * 1024) {
    this.maxFrameBytes = maxFrameBytes;
  }

  push(chunk: Uint8Array): Buffer[] {
    const out: Buffer[] = [];
    let start = this.#depth > 0 ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.#prevFF && b === 0xd8) {
        if (this.#depth === 0) {
          // A frame starts at the FF before this byte (possibly in the previous chunk).
          if (i === 0) {
            this.#parts = [Buffer.from([0xff])];
            this.#size = 1;
            start = 0;
          } else start = i - 1;
        }
        this.#depth++;
      } else if (this.#prevFF && b === 0xd9 && this.#depth > 0) {
        this.#depth--;
        if (this.#depth === 0) {
          this.#parts.push(Buffer.from(chunk.subarray(start, i + 1)));
          out.push(Buffer.concat(this.#parts));
          this.#parts = [];
          this.#size = 0;
          start = -1;
        }
      }
      this.#prevFF = b === 0xff;
    }
    if (this.#depth > 0 && start >= 0) {
      this.#parts.push(Buffer.from(chunk.subarray(start)));
      this.#size += chunk.length - start;
      if (this.#size > this.maxFrameBytes)
        throw new RangeError(
          `a JPEG frame longer than ${this.maxFrameBytes} bytes (no end marker): not an MJPEG stream`,
        );
    }
    return out;
  }

  /** Whether a frame was started and not finished (a truncated stream). */
  pending(): boolean {
    return this.#depth > 0;
  }
}
