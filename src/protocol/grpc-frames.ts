/**
 * gRPC's length-prefixed messages (a flag byte, a 4-byte big-endian length, the message) read from
 * a stream's chunks, as grpc-js's StreamDecoder reads them and with the same results (each message
 * with its 5-byte prefix, the same error beyond the size limit), but cheaper for large messages:
 *
 * - one buffer per message, allocated once its length is known and filled as chunks arrive, where
 *   grpc-js keeps every chunk and joins them once the last has come (a 2 MB copy on the call's
 *   path, after the last byte, on yolox_nano's input);
 * - placed so that the first entry of its raw contents field starts at a multiple of 8 bytes, so
 *   the decoded tensor is a typed-array view as it lies (alignRawInPlace then has nothing to move:
 *   it moved yolox_nano's 2 MB down by up to 7 bytes). The field is found in the message's first
 *   bytes (rawEntryOffset); a message whose first PLACE_WITHIN bytes do not reach it is placed as
 *   it comes.
 */
import { rawEntryOffset } from './grpc-v2.js';

/** How far into a message its raw contents are looked for before it is placed anyway. */
const PLACE_WITHIN = 64 * 1024;
const ALIGN = 8;

export class MessageDecoder {
  readonly #maxLength: number;
  readonly #rawField: number;
  readonly #prefix = Buffer.alloc(5);
  #prefixHave = 0;
  /** The message being read: its length, its buffer once placed, the bytes in it so far. */
  #length = -1;
  #out: Buffer | undefined;
  #have = 0;
  /** Bytes that came before the message was placed. */
  #early: Buffer[] = [];

  /** Messages are only counted through, never stored (a caller that reads the status alone). */
  readonly #discard: boolean;

  /**
   * `maxLength` -1 for none; `rawField` the field number whose first entry is aligned; with
   * `discard`, messages are read through but not kept (write returns none).
   */
  constructor(maxLength: number, rawField: number, discard = false) {
    this.#maxLength = maxLength;
    this.#rawField = rawField;
    this.#discard = discard;
  }

  /** Bytes of a message not yet complete are held. */
  get partial(): boolean {
    return this.#prefixHave > 0 || this.#length >= 0;
  }

  /**
   * The message not yet complete, for the refusal of a stream that ended inside it: the length its
   * prefix announces (undefined while the prefix itself is incomplete) and the bytes that came.
   */
  get held(): { length: number | undefined; bytes: number } | undefined {
    if (this.#length >= 0) return { length: this.#length, bytes: this.#have };
    return this.#prefixHave > 0 ? { length: undefined, bytes: this.#prefixHave } : undefined;
  }

  /** The messages that `data` completes, each with its 5-byte prefix. */
  write(data: Buffer): Buffer[] {
    const done: Buffer[] = [];
    let i = 0;
    while (i < data.length) {
      if (this.#length < 0) {
        const n = Math.min(5 - this.#prefixHave, data.length - i);
        data.copy(this.#prefix, this.#prefixHave, i, i + n);
        this.#prefixHave += n;
        i += n;
        if (this.#prefixHave < 5) break;
        this.#prefixHave = 0;
        const length = this.#prefix.readUInt32BE(1);
        if (this.#maxLength !== -1 && length > this.#maxLength)
          throw new Error(`Received message larger than max (${length} vs ${this.#maxLength})`);
        // A message read through ends at its last byte; an empty one at once.
        this.#length = this.#discard && length === 0 ? -1 : length;
      } else if (this.#discard) {
        const n = Math.min(this.#length - this.#have, data.length - i);
        this.#have += n;
        i += n;
        if (this.#have === this.#length) {
          this.#length = -1;
          this.#have = 0;
        }
        continue;
      } else {
        const n = Math.min(this.#length - this.#have, data.length - i);
        if (this.#out) data.copy(this.#out, 5 + this.#have, i, i + n);
        else this.#early.push(data.subarray(i, i + n));
        this.#have += n;
        i += n;
      }
      if (this.#length >= 0 && !this.#out && !this.#discard) this.#place();
      if (this.#out && this.#have === this.#length) {
        done.push(this.#out);
        this.#length = -1;
        this.#out = undefined;
        this.#have = 0;
      }
    }
    return done;
  }

  /** Allocates the message's buffer once its raw contents are found (or cannot be soon), with the bytes so far. */
  #place(): void {
    const early = this.#early.length === 1 ? this.#early[0]! : Buffer.concat(this.#early, this.#have);
    const at = rawEntryOffset(early, this.#rawField);
    if (at === undefined && this.#have < this.#length && this.#have < PLACE_WITHIN) {
      this.#early = early.length > 0 ? [early] : [];
      return;
    }
    const room = Buffer.allocUnsafe(5 + this.#length + ALIGN - 1);
    const shift = at === undefined ? 0 : (ALIGN - ((room.byteOffset + 5 + at) % ALIGN)) % ALIGN;
    const out = room.subarray(shift, shift + 5 + this.#length);
    this.#prefix.copy(out, 0);
    early.copy(out, 5);
    this.#early = [];
    this.#out = out;
  }
}
