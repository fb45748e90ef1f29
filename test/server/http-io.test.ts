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
