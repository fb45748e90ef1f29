/**
 * HPACK (RFC 7541) for the load generator's HTTP/2 client (h2-connection.ts): a complete decoder
 * (static and dynamic tables, Huffman strings, table size updates), since a server may use any of
 * them, and an encoder of literals only (never indexed, never Huffman), which a decoder must accept
 * and which leaves no table state to keep on this side.
 */

/** RFC 7541 Appendix A. */
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ...[
    'accept-charset',
    'accept-encoding',
    'accept-language',
    'accept-ranges',
    'accept',
    'access-control-allow-origin',
    'age',
    'allow',
    'authorization',
    'cache-control',
    'content-disposition',
    'content-encoding',
    'content-language',
    'content-length',
    'content-location',
    'content-range',
    'content-type',
    'cookie',
    'date',
    'etag',
    'expect',
    'expires',
    'from',
    'host',
    'if-match',
    'if-modified-since',
    'if-none-match',
    'if-range',
    'if-unmodified-since',
    'last-modified',
    'link',
    'location',
    'max-forwards',
    'proxy-authenticate',
    'proxy-authorization',
    'range',
    'referer',
    'refresh',
    'retry-after',
    'server',
    'set-cookie',
    'strict-transport-security',
    'transfer-encoding',
    'user-agent',
    'vary',
    'via',
    'www-authenticate',
  ].map((name): [string, string] => [name, name === 'accept-encoding' ? 'gzip, deflate' : '']),
];

/**
 * The bit length of each symbol's Huffman code (octets 0-255, then end-of-string), in base 36: the
 * code of RFC 7541 Appendix B is canonical, so the lengths determine every code (symbols taken by
 * length, then by value, each code the previous one plus one, shifted left to its length).
 */
const HUFFMAN_LENGTHS =
  'dnsssssssoussussssssssusssssssss6aacd68baa8b8666555666666678f6cad67777777777777777777777878djde6' +
  'f56565666577666567655677777fbedskmkkmmmnmnnnnnonoomnonnnnlmnmnnomlkmmnnlnmmolmnnllmlnmnnkmmmnmmn' +
  'qqkjmnmpqqqrrqopjlqrrqrollqqsrrrkoklmllnmmppooqnqrqqrrrrrsrrrrrqu';

interface HuffmanTable {
  /** For each length, the first code of that length, the number of codes, and where its symbols start. */
  first: Int32Array;
  count: Int32Array;
  offset: Int32Array;
  /** Symbols by (length, value). */
  symbols: Uint16Array;
}

function huffmanTable(): HuffmanTable {
  const lengths = [...HUFFMAN_LENGTHS].map((c) => parseInt(c, 36));
  if (lengths.length !== 257) throw new Error(`HPACK: ${lengths.length} Huffman lengths, 257 expected`);
  const symbols = Uint16Array.from(lengths.map((_, s) => s).sort((a, b) => lengths[a]! - lengths[b]! || a - b));
  const first = new Int32Array(32);
  const count = new Int32Array(32);
  const offset = new Int32Array(32);
  for (const l of lengths) count[l]!++;
  let code = 0;
  let at = 0;
  for (let l = 1; l < 32; l++) {
    code = (code + count[l - 1]!) * 2;
    first[l] = code;
    offset[l] = at;
    at += count[l]!;
  }
  return { first, count, offset, symbols };
}

let huffman: HuffmanTable | undefined;

export class HpackError extends Error {}

/** A Huffman-coded string (RFC 7541 §5.2): padding of at most 7 one-bits, no end-of-string symbol. */
export function decodeHuffman(src: Uint8Array, start: number, end: number): string {
  const t = (huffman ??= huffmanTable());
  let out = '';
  let code = 0;
  let len = 0;
  let ones = true;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >> b) & 1;
      code = code * 2 + bit;
      len++;
      ones &&= bit === 1;
      const k = code - t.first[len]!;
      if (k >= 0 && k < t.count[len]!) {
        const s = t.symbols[t.offset[len]! + k]!;
        if (s === 256) throw new HpackError('HPACK: end-of-string symbol inside a string');
        out += String.fromCharCode(s);
        code = 0;
        len = 0;
        ones = true;
      } else if (len >= 30) throw new HpackError('HPACK: bad Huffman code');
    }
  }
  if (len > 7 || !ones) throw new HpackError('HPACK: bad Huffman padding');
  return out;
}

/** A header list's decoder: one per connection, fed every header block in the order they came. */
export class HpackDecoder {
  /** Newest first. */
  readonly #dynamic: Array<[string, string]> = [];
  #size = 0;
  #maxSize: number;
  readonly #limit: number;

  /** `maxTableSize` is SETTINGS_HEADER_TABLE_SIZE as this side announced it (4096 by default). */
  constructor(maxTableSize = 4096) {
    this.#maxSize = maxTableSize;
    this.#limit = maxTableSize;
  }

  /** Name and value pairs, in order (names lower-case as HTTP/2 requires). */
  decode(block: Uint8Array): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    let i = 0;
    const int = (prefixBits: number): number => {
      const mask = (1 << prefixBits) - 1;
      let v = block[i++]! & mask;
      if (v < mask) return v;
      let shift = 0;
      for (;;) {
        if (i >= block.length) throw new HpackError('HPACK: truncated integer');
        const b = block[i++]!;
        v += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if ((b & 0x80) === 0) return v;
        if (shift > 28) throw new HpackError('HPACK: integer too large');
      }
    };
    const str = (): string => {
      if (i >= block.length) throw new HpackError('HPACK: truncated string');
      const huff = (block[i]! & 0x80) !== 0;
      const n = int(7);
      if (i + n > block.length) throw new HpackError('HPACK: truncated string');
      const s = huff
        ? decodeHuffman(block, i, i + n)
        : Buffer.from(block.buffer, block.byteOffset + i, n).toString('latin1');
      i += n;
      return s;
    };
    while (i < block.length) {
      const b = block[i]!;
      if (b & 0x80) {
        const [name, value] = this.#entry(int(7));
        out.push([name, value]);
      } else if (b & 0x40) {
        const index = int(6);
        const name = index ? this.#entry(index)[0] : str();
        const field: [string, string] = [name, str()];
        this.#add(field);
        out.push(field);
      } else if (b & 0x20) {
        const size = int(5);
        if (size > this.#limit) throw new HpackError(`HPACK: table size ${size} over the announced ${this.#limit}`);
        this.#maxSize = size;
        this.#evict();
      } else {
        // Literal without indexing (0000) or never indexed (0001): the same to a decoder.
        const index = int(4);
        const name = index ? this.#entry(index)[0] : str();
        out.push([name, str()]);
      }
    }
    return out;
  }

  #entry(index: number): readonly [string, string] {
    if (index >= 1 && index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]!;
    const e = this.#dynamic[index - STATIC_TABLE.length - 1];
    if (!e) throw new HpackError(`HPACK: no table entry ${index}`);
    return e;
  }

  #add(field: [string, string]): void {
    // RFC 7541 §4.1: an entry's size is its name and value lengths in octets plus 32.
    this.#dynamic.unshift(field);
    this.#size += field[0].length + field[1].length + 32;
    this.#evict();
  }

  #evict(): void {
    while (this.#size > this.#maxSize) {
      const e = this.#dynamic.pop()!;
      this.#size -= e[0].length + e[1].length + 32;
    }
  }
}

function pushInt(out: number[], v: number, prefixBits: number, flags: number): void {
  const mask = (1 << prefixBits) - 1;
  if (v < mask) {
    out.push(flags | v);
    return;
  }
  out.push(flags | mask);
  v -= mask;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

function pushString(out: number[], s: string): void {
  const bytes = Buffer.from(s, 'latin1');
  pushInt(out, bytes.length, 7, 0);
  for (const b of bytes) out.push(b);
}

/**
 * A header block of literals without indexing, names from the static table where it has them (a
 * load generator sends the same few headers again and again; the caller keeps the block).
 */
export function encodeHeaders(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  const out: number[] = [];
  for (const [name, value] of headers) {
    const index = STATIC_TABLE.findIndex(([n]) => n === name) + 1;
    pushInt(out, index, 4, 0);
    if (!index) pushString(out, name);
    pushString(out, value);
  }
  return Buffer.from(out);
}
