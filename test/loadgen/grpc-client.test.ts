import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import { GrpcH2Client } from '../../src/loadgen/grpc-client.js';
import { decodeHuffman, encodeHeaders, HpackDecoder, HpackError } from '../../src/loadgen/hpack.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');

test('HPACK: the RFC 7541 C.4 requests decode in order, the dynamic table carried between them', () => {
  const d = new HpackDecoder();
  assert.deepEqual(d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff')), [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
  ]);
  assert.deepEqual(d.decode(hex('8286 84be 5886 a8eb 1064 9cbf')), [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
    ['cache-control', 'no-cache'],
  ]);
  assert.deepEqual(d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')), [
    [':method', 'GET'],
    [':scheme', 'https'],
    [':path', '/index.html'],
    [':authority', 'www.example.com'],
    ['custom-key', 'custom-value'],
  ]);
});

test('EXPECTED FAILURE - HPACK: bad Huffman padding, an index past the tables and a truncated string are refused', () => {
  assert.equal(decodeHuffman(hex('07'), 0, 1), '0');
  assert.throws(() => decodeHuffman(hex('00'), 0, 1), /padding/);
  assert.throws(() => decodeHuffman(hex('07ff'), 0, 2), /padding/);
  // 30 one-bits are the end-of-string symbol, which a string may not contain.
  assert.throws(() => decodeHuffman(hex('ffffffff'), 0, 4), /end-of-string/);
  assert.throws(() => new HpackDecoder().decode(hex('be')), /no table entry 62/);
  assert.throws(() => new HpackDecoder().decode(hex('0003 6162')), /truncated/);
});

test('HPACK: encoded literals decode to the same list', () => {
  const headers: Array<[string, string]> = [
    [':path', '/a/b'],
    ['content-type', 'application/grpc'],
    ['x-long', 'v'.repeat(300)],
  ];
  assert.deepEqual(new HpackDecoder().decode(encodeHeaders(headers)), headers);
});

test('HPACK: whatever bytes a server sends, decoding ends in a list or an HpackError', () => {
  // A load generator connects to servers it does not control: nothing they send may throw anything
  // else (a TypeError or RangeError would be a bug), and every string is bounded by its block.
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 1, maxLength: 4 }), (blocks) => {
      const d = new HpackDecoder();
      for (const block of blocks) {
        try {
          for (const [name, value] of d.decode(block)) {
            assert.equal(typeof name, 'string');
            assert.equal(typeof value, 'string');
          }
        } catch (error) {
          assert.ok(error instanceof HpackError, String(error));
        }
        try {
          assert.ok(decodeHuffman(block, 0, block.length).length <= 2 * block.length);
        } catch (error) {
          assert.ok(error instanceof HpackError, String(error));
        }
      }
    }),
    { numRuns: 2000 },
  );
});

test('HPACK: any header value node:http2 sends decodes exactly, Huffman-coded or not, new or indexed', async (t) => {
  // The values go to an echo server as the client's literals and come back as nghttp2 encodes
  // them: Huffman-coded where that is shorter (text), raw where not (high octets), from its
  // dynamic table once seen, evicted as the table fills.
  const { address, server } = await echoServer({}, (stream, headers) => {
    const back: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) if (k.startsWith('x-v')) back[k] = String(v);
    stream.on('data', () => {});
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...back }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', ...back }));
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
    });
    return true;
  });
  const client = new GrpcH2Client(address);
  t.after(() => {
    client.close();
    server.close();
  });
  // Every octet a field value may hold: visible ASCII, space inside, obs-text (0x80-0xff).
  const octet = fc
    .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }))
    .map((c) => String.fromCharCode(c));
  const value = fc.string({ unit: octet, maxLength: 120 }).filter((v) => v.trim() === v);
  await fc.assert(
    fc.asyncProperty(fc.array(value, { minLength: 1, maxLength: 6 }), async (values) => {
      const sent = Object.fromEntries(values.map((v, i) => [`x-v${i}`, v]));
      const r = await client.call('/svc/Headers', Buffer.from('x'), 5_000, sent);
      assert.equal(r.status, 0);
      for (const [k, v] of Object.entries(sent)) assert.equal(r.metadata[k], v, k);
    }),
    { numRuns: 150 },
  );
});

/** A node:http2 server speaking just enough gRPC: it echoes the message, with metadata and trailers as asked. */
async function echoServer(
  settings: http2.Settings = {},
  onStream?: (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders) => boolean,
): Promise<{ address: string; server: http2.Http2Server }> {
  const server = http2.createServer({ settings });
  server.on('stream', (stream, headers) => {
    if (onStream?.(stream, headers)) return;
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      const meta: Record<string, string> = {};
      // Many distinct values: the server's HPACK table fills and evicts across calls.
      for (let i = 0; i < 20; i++) meta[`x-echo-${i}`] = `${String(headers['x-seed'])}-${i}-${'é~!'.repeat(i)}`;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...meta }, { waitForTrailers: true });
      stream.on('wantTrailers', () =>
        stream.sendTrailers({ 'grpc-status': '0', 'x-trailer': `len=${body.length}`, 'grpc-message': 'fine%20here' }),
      );
      stream.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

test('calls: messages of 0 B to 3 MB echo back through default 64 KiB windows, with headers and trailers decoded', async (t) => {
  const { address, server } = await echoServer();
  const client = new GrpcH2Client(address);
  t.after(() => {
    client.close();
    server.close();
  });
  for (const [i, size] of [0, 1, 16_384, 100_000, 3_000_000].entries()) {
    const message = Buffer.alloc(size, i + 1);
    const replies = await Promise.all(
      [0, 1, 2].map((k) => client.call('/svc/Echo', message, 10_000, { 'x-seed': `${i}.${k}` })),
    );
    for (const [k, r] of replies.entries()) {
      assert.equal(r.status, 0);
      assert.equal(r.details, 'fine here');
      assert.ok(r.message.equals(message), `size ${size}`);
      assert.equal(r.metadata['x-trailer'], `len=${size + 5}`);
      assert.equal(r.metadata['x-echo-19'], `${i}.${k}-19-${'é~!'.repeat(19)}`);
    }
  }
});

test('calls: an answer is placed so that the field asked for starts at a multiple of 8 bytes', async (t) => {
  const { address, server } = await echoServer();
  const client = new GrpcH2Client(address);
  t.after(() => {
    client.close();
    server.close();
  });
  for (const head of [0, 1, 5, 300]) {
    // Field 1 (a string) `head` bytes long, then field 2's 200 kB: field 2's bytes start 3 bytes after field 1's end.
    const message = Buffer.concat([
      Buffer.from([0x0a, ...(head < 128 ? [head] : [0x80 | (head & 0x7f), head >> 7])]),
      Buffer.alloc(head, 0x61),
      Buffer.from([0x12, 0xc0, 0x9a, 0x0c]),
      Buffer.alloc(200_000, 7),
    ]);
    const r = await client.call('/svc/Echo', message, 10_000, {}, 2);
    assert.ok(r.message.equals(message));
    assert.equal((r.message.byteOffset + message.length - 200_000) % 8, 0, `head ${head}`);
  }
});

test('calls: a trailers-only answer carries its status in the headers', async (t) => {
  const { address, server } = await echoServer({}, (stream) => {
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'no%20such' },
      {
        endStream: true,
      },
    );
    return true;
  });
  const client = new GrpcH2Client(address);
  t.after(() => {
    client.close();
    server.close();
  });
  const r = await client.call('/svc/Missing', Buffer.from('x'), 5_000);
  assert.equal(r.status, 5);
  assert.equal(r.details, 'no such');
  assert.equal(r.message.length, 0);
});

test('EXPECTED FAILURE - calls: a reset stream, an answer without grpc-status and a silent server reject; the client goes on', async (t) => {
  const { address, server } = await echoServer({}, (stream, headers) => {
    stream.on('error', () => {}); // the refused stream's own error, on this side
    if (headers[':path'] === '/svc/Reset') stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    else if (headers[':path'] === '/svc/Plain') stream.respond({ ':status': 404 }, { endStream: true });
    else if (headers[':path'] === '/svc/Silent') stream.on('data', () => {});
    else if (headers[':path'] === '/svc/Cut') {
      // A message that claims 100 bytes and brings 10, then an OK status.
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.concat([Buffer.from([0, 0, 0, 0, 100]), Buffer.alloc(10)]));
    } else return false;
    return true;
  });
  const client = new GrpcH2Client(address);
  t.after(() => {
    client.close();
    server.close();
  });
  await assert.rejects(client.call('/svc/Reset', Buffer.from('x'), 5_000), /reset the stream \(HTTP\/2 error 7\)/);
  await assert.rejects(client.call('/svc/Plain', Buffer.from('x'), 5_000), /no grpc-status .*HTTP 404/);
  await assert.rejects(client.call('/svc/Silent', Buffer.from('x'), 50), /no answer within 50 ms/);
  await assert.rejects(client.call('/svc/Cut', Buffer.from('x'), 5_000), /a truncated gRPC message/);
  await assert.rejects(client.call('/svc/Cut', Buffer.from('x'), 5_000, {}, 0, false), /a truncated gRPC message/);
  // Not kept: the status and metadata only.
  const dropped = await client.call('/svc/Echo', Buffer.alloc(100_000, 3), 5_000, {}, 0, false);
  assert.deepEqual([dropped.status, dropped.message.length, dropped.metadata['x-trailer']], [0, 0, 'len=100005']);
  assert.equal((await client.call('/svc/Echo', Buffer.from('after'), 5_000)).message.toString(), 'after');
});

test('connections: pings are answered, and a server that goes away leaves the client on a new connection', async (t) => {
  const { address, server } = await echoServer();
  const sessions: http2.ServerHttp2Session[] = [];
  server.on('session', (s) => sessions.push(s));
  const client = new GrpcH2Client(address);
  t.after(() => {
    client.close();
    server.close();
  });
  await client.call('/svc/Echo', Buffer.from('one'), 5_000);
  const rtt = await new Promise<number>((resolve, reject) =>
    sessions[0]!.ping((err, ms) => (err ? reject(err) : resolve(ms))),
  );
  assert.ok(rtt >= 0);
  sessions[0]!.goaway(http2.constants.NGHTTP2_NO_ERROR);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await client.call('/svc/Echo', Buffer.from('two'), 5_000)).message.toString(), 'two');
  assert.equal(sessions.length, 2);
});
