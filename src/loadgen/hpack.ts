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
 * code of RFC 7541 Appendix B is canonical, so the lengths determine every code.
 */
const HUFFMAN_LENGTHS =
  'dnsssssssoussussssssssusssssssss6aacd68baa8b8666555666666678f6cad67777777777777777777777878djde6' +
  'f56565666577666567655677777fbedskmkkmmmnmnnnnnonoomnonnnnlmnmnnomlkmmnnlnmmolmnnllmlnmnnkmmmnmmn' +
  'qqkjmnmpqqqrrqopjlqrrqrollqqsrrrkoklmllnmmppooqnqrqqrrrrrsrrrrrqu';

/**
 * The decoder as a state machine over 4-bit steps (nghttp2's design): a state is a node of the
 * code's binary tree (root 0, 256 internal nodes for 257 symbols); `step[state * 16 + nibble]`
 * packs the state after those 4 bits, the symbol they completed (at most one: no code is shorter
 * than 5 bits; NO_SYMBOL if none) and FAIL for the end-of-string symbol inside a string. `accept`
 * marks the states a string may end in: at most 7 bits into a code, all of them 1s (RFC 7541 §5.2).
 * Every answer's Server-Timing trailer is a new Huffman-coded value: decoded bit by bit, HPACK was
 * ~10 % of the gRPC client's CPU on the PP-OCR classifier (perf); by table a 91-byte value decodes
 * in 0.75-1.9 us against 3.1-4.2.
 */
interface HuffmanDecoder {
  step: Int32Array;
  accept: Uint8Array;
}

const NO_SYMBOL = 0x1ff;
const FAIL = 1 << 17;

function huffmanDecoder(): HuffmanDecoder {
  const lengths = [...HUFFMAN_LENGTHS].map((c) => parseInt(c, 36));
  if (lengths.length !== 257) throw new Error(`HPACK: ${lengths.length} Huffman lengths, 257 expected`);
  // The canonical code: symbols by (length, value), each code the previous one plus one, shifted
  // left to its length.
  const order = lengths.map((_, sym) => sym).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  // The tree: child[node * 2 + bit] is an internal node (>= 0) or a leaf, -1 - symbol.
  const UNSET = -1 - 1000;
  const child = new Int32Array(256 * 2).fill(UNSET);
  const depth = new Uint8Array(256);
  const ones = new Uint8Array(256).fill(1);
  let nodes = 1;
  let code = 0;
  let prevLen = lengths[order[0]!]!;
  for (const [k, sym] of order.entries()) {
    const len = lengths[sym]!;
    if (k > 0) code = (code + 1) * 2 ** (len - prevLen);
    prevLen = len;
    let node = 0;
    for (let b = len - 1; b >= 0; b--) {
      const bit = Math.floor(code / 2 ** b) % 2;
      const at = node * 2 + bit;
      if (b === 0) {
        child[at] = -1 - sym;
        break;
      }
      if (child[at] === UNSET) {
        const next = nodes++;
        child[at] = next;
        depth[next] = depth[node]! + 1;
        ones[next] = ones[node]! & bit;
      }
      node = child[at]!;
    }
  }
  if (nodes !== 256) throw new Error(`HPACK: a Huffman tree of ${nodes} internal nodes, 256 expected`);
  const step = new Int32Array(256 * 16);
  const accept = new Uint8Array(256);
  for (let state = 0; state < 256; state++) {
    accept[state] = depth[state]! <= 7 && ones[state] === 1 ? 1 : 0;
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let symbol = NO_SYMBOL;
      let fail = 0;
      for (let b = 3; b >= 0; b--) {
        const next = child[node * 2 + ((nibble >> b) & 1)]!;
        if (next === UNSET) throw new Error('HPACK: the Huffman code is not complete');
        if (next >= 0) node = next;
        else {
          const sym = -1 - next;
          if (sym === 256) fail = FAIL;
          symbol = sym;
          node = 0;
        }
      }
      step[state * 16 + nibble] = node | (symbol << 8) | fail;
    }
  }
  return { step, accept };
}

let huffman: HuffmanDecoder | undefined;

export class HpackError extends Error {}

const EMPTY = new Uint8Array(0);

/** A Huffman-coded string (RFC 7541 §5.2): padding of at most 7 one-bits, no end-of-string symbol. */
export function decodeHuffman(src: Uint8Array, start: number, end: number): string {
  const { step, accept } = (huffman ??= huffmanDecoder());
  // Each octet yields at most one symbol per nibble (codes are 5 bits or longer): 2 per octet at most.
  const out = Buffer.allocUnsafe(2 * (end - start));
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    for (let shift = 4; shift >= 0; shift -= 4) {
      const e = step[state * 16 + ((byte >> shift) & 15)]!;
      if (e & FAIL) throw new HpackError('HPACK: end-of-string symbol inside a string');
      const symbol = (e >> 8) & NO_SYMBOL;
      if (symbol !== NO_SYMBOL) out[n++] = symbol;
      state = e & 0xff;
    }
  }
  if (!accept[state]) throw new HpackError('HPACK: bad Huffman padding');
  return out.toString('latin1', 0, n);
}

/** A header list's decoder: one per connection, fed every header block in the order they came. */
export class HpackDecoder {
  /** Newest first. */
  readonly #dynamic: Array<[string, string]> = [];
  #size = 0;
  #maxSize: number;
  /** The block being decoded and the read position in it. */
  #block: Uint8Array = EMPTY;
  #at = 0;
  readonly #limit: number;

  /** `maxTableSize` is SETTINGS_HEADER_TABLE_SIZE as this side announced it (4096 by default). */
  constructor(maxTableSize = 4096) {
    this.#maxSize = maxTableSize;
    this.#limit = maxTableSize;
  }

  /** Name and value pairs, in order (names lower-case as HTTP/2 requires). */
  decode(block: Uint8Array): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    this.#block = block;
    this.#at = 0;
    while (this.#at < block.length) {
      const b = block[this.#at]!;
      if (b & 0x80) {
        const [name, value] = this.#entry(this.#int(7));
        out.push([name, value]);
      } else if (b & 0x40) {
        const index = this.#int(6);
        const name = index ? this.#entry(index)[0] : this.#str();
        const field: [string, string] = [name, this.#str()];
        this.#add(field);
        out.push(field);
      } else if (b & 0x20) {
        const size = this.#int(5);
        if (size > this.#limit) throw new HpackError(`HPACK: table size ${size} over the announced ${this.#limit}`);
        this.#maxSize = size;
        this.#evict();
      } else {
        // Literal without indexing (0000) or never indexed (0001): the same to a decoder.
        const index = this.#int(4);
        const name = index ? this.#entry(index)[0] : this.#str();
        out.push([name, this.#str()]);
      }
    }
    this.#block = EMPTY;
    return out;
  }

  /** An integer with an N-bit prefix (RFC 7541 §5.1) at the read position. */
  #int(prefixBits: number): number {
    const block = this.#block;
    const mask = (1 << prefixBits) - 1;
    let v = block[this.#at++]! & mask;
    if (v < mask) return v;
    let shift = 0;
    for (;;) {
      if (this.#at >= block.length) throw new HpackError('HPACK: truncated integer');
      const b = block[this.#at++]!;
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) return v;
      if (shift > 28) throw new HpackError('HPACK: integer too large');
    }
  }

  /** A string literal (RFC 7541 §5.2) at the read position. */
  #str(): string {
    const block = this.#block;
    if (this.#at >= block.length) throw new HpackError('HPACK: truncated string');
    const huff = (block[this.#at]! & 0x80) !== 0;
    const n = this.#int(7);
    const at = this.#at;
    if (at + n > block.length) throw new HpackError('HPACK: truncated string');
    this.#at = at + n;
    return huff
      ? decodeHuffman(block, at, at + n)
      : Buffer.from(block.buffer, block.byteOffset + at, n).toString('latin1');
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
