/** The load generator's raw HTTP/1.1 client against a hand-written server: framing, reuse, closes and bad answers. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { HttpPool, serializeRequest } from '../../src/loadgen/http-client.js';

/** Answers by request path; each reply is written as the given pieces, 5 ms apart, to exercise reassembly. */
const REPLIES: Record<string, string[] | null> = {
  '/length': ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n', '\r\nhel', 'lo'],
  '/chunked': ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n', '4\r\ndefg\r\n0\r\n', '\r\n'],
  '/close': ['HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'],
  '/bad': ['HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n'],
  '/silent': null,
};

let server: net.Server;
let port = 0;
let connections = 0;

before(async () => {
  server = net.createServer((sock) => {
    connections++;
    let buf = '';
    sock.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        buf = buf.slice(end + 4 + length);
        const reply = REPLIES[head.split(' ')[1] ?? ''];
        if (reply) reply.forEach((piece, i) => setTimeout(() => sock.write(piece), 5 * i));
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});
after(() => server.close());

const wire = (path: string): Buffer =>
  serializeRequest('POST', `127.0.0.1:${port}`, path, { 'content-type': 'text/plain' }, Buffer.from('ping'));

test('Content-Length and chunked bodies are reassembled across packets, over one kept-alive connection', async () => {
  const pool = new HttpPool('127.0.0.1', port, 1, 5000);
  try {
    const before = connections;
    const a = await pool.request(wire('/length'));
    assert.equal(a.status, 200);
    assert.equal(a.body.toString(), 'hello');
    assert.equal(a.headers['x-a'], '1');
    const b = await pool.request(wire('/chunked'));
    assert.equal(b.body.toString(), 'abcdefg');
    const [c, d] = await Promise.all([pool.request(wire('/length')), pool.request(wire('/chunked'))]);
    assert.deepEqual(
      [c.body.toString(), d.body.toString()],
      ['hello', 'abcdefg'],
      'the second waits for the one socket',
    );
    assert.equal(connections - before, 1, 'the connection is reused');
  } finally {
    pool.close();
  }
});

test('Connection: close answers, then the next request opens a new connection', async () => {
  const pool = new HttpPool('127.0.0.1', port, 1, 5000);
  try {
    const before = connections;
    const r = await pool.request(wire('/close'));
    assert.deepEqual([r.status, r.body.toString()], [201, 'ok']);
    assert.equal((await pool.request(wire('/length'))).body.toString(), 'hello');
    assert.equal(connections - before, 2);
  } finally {
    pool.close();
  }
});

test('BAD CALL - a malformed status line, no answer in time, and a closed client reject', async () => {
  const pool = new HttpPool('127.0.0.1', port, 2, 200);
  try {
    await assert.rejects(pool.request(wire('/bad')), /malformed status line/);
    await assert.rejects(pool.request(wire('/silent')), /no answer within 200 ms/);
    assert.equal((await pool.request(wire('/length'))).body.toString(), 'hello', 'the pool recovers');
  } finally {
    pool.close();
  }
  await assert.rejects(pool.request(wire('/length')), /the client is closed/);
});
