/**
 * bench/serve's client (bench/support/poisson-client.ts) reads answers on raw sockets with a parser
 * of its own; what it counts becomes the README's figures. Against a real node:http server: bodies
 * sent whole with their stamp, answers with a Content-Length or chunked and split across reads, a
 * refusal's body kept, `connection: close` followed by a fresh connection, and no answer within the
 * timeout.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { test } from 'node:test';
import { NO_ANSWER, randomFloats, V2Client, v2Body } from '../../bench/support/poisson-client.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('the client reads Content-Length, chunked and closing answers, keeps refusals, and times out', async (t) => {
  const body = v2Body('x', [1, 3, 50, 50], randomFloats(7500, 1), 2000);
  const seen: Array<{ bytes: number; equal: boolean; stamp: string | undefined }> = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', async () => {
      const got = Buffer.concat(parts);
      seen.push({ bytes: got.length, equal: got.equals(body.body), stamp: req.headers['x-request-start'] as string });
      const kind = req.headers['inference-header-content-length'] === undefined ? 'x' : String(req.url).split('/')[1];
      const big = Buffer.alloc(200_003, 7);
      if (kind === 'length') {
        res.writeHead(200, { 'content-length': String(big.length), 'server-timing': 'total;dur=1.5' });
        res.write(big.subarray(0, 70_000)); // the answer arrives in several reads
        await sleep(5);
        res.end(big.subarray(70_000));
      } else if (kind === 'chunked') {
        res.writeHead(200); // no length: node:http sends it chunked
        for (let at = 0; at < big.length; at += 65_000) {
          res.write(big.subarray(at, at + 65_000));
          await sleep(2);
        }
        res.end();
      } else if (kind === 'refused') {
        res.writeHead(503, { connection: 'close', 'content-length': '31' });
        res.end('{"error":"cannot finish: 12 ms"}'.slice(0, 31));
      }
      // 'silent': never answered
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  const client = (kind: string): V2Client => new V2Client(`http://127.0.0.1:${port}/${kind}/infer`, 2);
  const now = (): number => performance.now();

  const length = client('length');
  const a = await Promise.all([0, 1, 2, 3].map(() => length.send(body, now(), 5000)));
  assert.deepEqual(
    a.map((o) => o.status),
    [200, 200, 200, 200],
  );
  assert.equal(a[0]?.timing, 'total;dur=1.5');
  length.close();

  const chunked = client('chunked');
  const c = await Promise.all([0, 1, 2].map(() => chunked.send(body, now(), 5000)));
  assert.deepEqual(
    c.map((o) => o.status),
    [200, 200, 200],
  );
  chunked.close();

  // Each 503 closes its connection; the next requests still get answers on new ones.
  const refused = client('refused');
  const r = await Promise.all([0, 1, 2, 3, 4].map(() => refused.send(body, now(), 5000)));
  assert.deepEqual(
    r.map((o) => [o.status, o.message, o.error]),
    Array.from({ length: 5 }, () => [503, '{"error":"cannot finish: 12 ms"', undefined]),
  );
  refused.close();

  const silent = client('silent');
  const s = await silent.send(body, now(), 150);
  assert.equal(s.status, NO_ANSWER);
  assert.ok(s.ms >= 140 && s.ms < 2000, `no answer counted at ${s.ms} ms, its timeout 150 ms`);
  silent.close();

  assert.equal(seen.length, 4 + 3 + 5 + 1);
  assert.ok(
    seen.every((x) => x.equal && /^t=\d{16}$/.test(x.stamp ?? '')),
    'every body whole, every request stamped in epoch µs',
  );
});

test('the client reads an answer whose head is split across reads', async (t) => {
  const server = net.createServer((socket) => {
    socket.on('data', () => undefined);
    // Answer after the request's head: the status line and half a header, then the rest with the body.
    socket.once('data', async () => {
      socket.write('HTTP/1.1 503 Service Unavailable\r\nContent-Len');
      await sleep(20);
      socket.write('gth: 5\r\n\r\nhello');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const client = new V2Client(`http://127.0.0.1:${(server.address() as AddressInfo).port}/m/infer`, 1);
  const o = await client.send(v2Body('x', [1, 4], randomFloats(4, 2), undefined), performance.now(), 5000);
  client.close();
  assert.deepEqual([o.status, o.message], [503, 'hello']);
});
