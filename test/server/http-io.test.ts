/**
 * readBody's hold on the server-wide byte budget, over a real socket: bytes stay reserved until
 * both the answer is done and the handler has let the body go (a decoder or a queue may still hold
 * it after its client left), then come back.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { test } from 'node:test';
import { BufferPool } from '../../src/engine/tensors.js';
import { ByteBudget, readBody } from '../../src/server/http-io.js';

test('a body stays reserved after its client leaves until the handler is done with it', async () => {
  const budget = new ByteBudget(1_000_000);
  let release = (): void => undefined;
  const handlerDone = new Promise<void>((r) => (release = r));
  const read = new Promise<number>((resolve) => {
    const server = http.createServer((req, res) => {
      void readBody(req, res, { limit: 500_000, budget, until: handlerDone }).then((b) => resolve(b.bytes.length));
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      const c = net.connect(port, '127.0.0.1', () => {
        c.write(`POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 300000\r\n\r\n`);
        c.end(Buffer.alloc(300_000));
      });
      c.on('error', () => undefined);
      c.on('end', () => c.destroy());
      server.unref();
    });
  });
  assert.equal(await read, 300_000);
  assert.equal(budget.held, 300_000);
  // The client is gone (its socket ended and the answer's connection closes with it)...
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(budget.held, 300_000, 'still held: the handler has the body');
  release();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(budget.held, 0);
});

/** Sends `body` to a server that reads it with readBody(options), in pieces with pauses between them. */
async function readOver(
  body: Buffer,
  chunked: boolean,
  options: Omit<Parameters<typeof readBody>[2], 'budget' | 'until' | 'limit'>,
): Promise<{ bytes?: Buffer; error?: Error }> {
  const budget = new ByteBudget(10_000_000);
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      readBody(req, res, { limit: 5_000_000, budget, until: Promise.resolve(), ...options }).then(
        (b) => {
          resolve({ bytes: b.bytes });
          res.end();
        },
        (error: Error) => {
          resolve({ error });
          res.destroy();
        },
      );
    });
    server.listen(0, '127.0.0.1', async () => {
      const { port } = server.address() as AddressInfo;
      const c = net.connect(port, '127.0.0.1');
      c.on('error', () => undefined);
      const length = chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${body.length}`;
      c.write(`POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n${length}\r\n\r\n`);
      // Pieces of odd sizes, apart in time, so the server sees them as separate chunks.
      for (let at = 0; at < body.length;) {
        const piece = body.subarray(at, at + 70_001);
        at += piece.length;
        c.write(
          chunked
            ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')])
            : piece,
        );
        await new Promise((r) => setTimeout(r, 5));
      }
      if (chunked) c.write('0\r\n\r\n');
      setTimeout(() => {
        c.destroy();
        server.close();
      }, 200);
    });
  });
}

test('a body read in pieces, with or without a Content-Length, arrives byte for byte and aligned', async () => {
  const body = Buffer.alloc(300_007);
  for (let i = 0; i < body.length; i++) body[i] = (i * 31 + 7) & 0xff;
  const pool = new BufferPool();
  for (const chunked of [false, true]) {
    const { bytes, error } = await readOver(body, chunked, { alignAt: 13, pool });
    assert.equal(error, undefined);
    assert.ok(bytes?.equals(body), `${chunked ? 'chunked' : 'declared'}: the bytes as sent`);
    assert.equal(((bytes?.byteOffset ?? NaN) + 13) % 8, 0, 'byte 13 on an 8-byte boundary');
  }
});

test('a declared body refused at its head gives its buffer back to the pool', async () => {
  const pool = new BufferPool();
  const body = Buffer.alloc(200_000, 1);
  const refusal = new Error('refused at the head');
  const { error } = await readOver(body, false, {
    pool,
    head: {
      bytes: 100,
      check: () => {
        throw refusal;
      },
    },
  });
  assert.equal(error, refusal);
  // The buffer taken for the whole body is the pool's again (the next take of that size reuses it).
  assert.equal(pool.pooledBytes, 200_000);
});
