/**
 * RefusedBodies over real sockets: the rest of a body refused at its head is read and dropped in
 * turn, the answer of one refused behind another comes once its own body is read, a body that goes
 * quiet gives up its turn, and every connection stays usable for its next request.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { test } from 'node:test';
import { ByteBudget, HttpError, readBody, RefusedBodies, sendError } from '../../src/server/http-io.js';

const HEAD = 16;

interface Events {
  /** What happened on the server, in order: `end:ID` (a body read to its end), `answer:ID STATUS`. */
  log: string[];
}

/**
 * A server whose requests carry `x-id`; a body starting with "refuse" is refused at its first HEAD
 * bytes (503), any other is read whole and answered 200 with its length.
 */
async function startServer(refused: RefusedBodies): Promise<{ port: number; events: Events; close: () => void }> {
  const events: Events = { log: [] };
  const budget = new ByteBudget(64 * 1024 * 1024);
  const server = http.createServer((req, res) => {
    const id = String(req.headers['x-id']);
    req.once('end', () => events.log.push(`end:${id}`));
    res.once('finish', () => events.log.push(`answer:${id} ${res.statusCode}`));
    readBody(req, res, {
      limit: 32 * 1024 * 1024,
      budget,
      refused,
      head: {
        bytes: HEAD,
        check: (head) => {
          if (head.toString('latin1').startsWith('refuse')) throw new HttpError(503, 'refused at its head');
        },
      },
    }).then(
      (body) => {
        const text = String(body.bytes.length);
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(text.length) });
        res.end(text);
      },
      (error: unknown) => sendError(res, error),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    events,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

function body(kind: 'refuse' | 'serve', bytes: number): Buffer {
  const b = Buffer.alloc(bytes, 0x61);
  b.write(kind === 'refuse' ? 'refuse..........' : 'serve...........');
  return b;
}

/** One request on `agent`; resolves with its status, its answer and whether its socket was reused. */
function send(
  port: number,
  agent: http.Agent,
  id: string,
  payload: Buffer,
): Promise<{ status: number; text: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/',
        agent,
        headers: { 'x-id': id, 'content-length': payload.length },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, reused: req.reusedSocket }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

test('refused bodies on many connections: every one answered 503, and each connection then serves its next request', async () => {
  const refused = new RefusedBodies();
  const srv = await startServer(refused);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  try {
    const results = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const first = await send(srv.port, agent, `r${i}`, body('refuse', 1_000_000));
        const second = await send(srv.port, agent, `s${i}`, body('serve', 1000));
        return { first, second };
      }),
    );
    for (const { first, second } of results) {
      assert.equal(first.status, 503);
      assert.match(first.text, /refused at its head/);
      assert.equal(second.status, 200);
      assert.equal(second.text, '1000');
      assert.equal(second.reused, true, 'the next request came on the same kept-alive connection');
    }
    assert.equal(refused.waiting, 0);
  } finally {
    agent.destroy();
    srv.close();
  }
});

test(
  'a body refused while another is being dropped is read after it, and only then answered',
  { timeout: 20_000 },
  async () => {
    // A long quiet time: on a loaded machine the client may pause between writes.
    const refused = new RefusedBodies({ quietMs: 5000, freeTurns: 1 });
    const srv = await startServer(refused);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    const a = net.connect(srv.port, '127.0.0.1');
    try {
      await new Promise<void>((resolve) => a.once('connect', resolve));
      const big = body('refuse', 8_000_000);
      // A's head, then the rest of its 8 MB once its 503 has come: A's drop holds the turn meanwhile.
      const aAnswered = new Promise<void>((resolve) => a.once('data', () => resolve()));
      a.write(`POST / HTTP/1.1\r\nHost: x\r\nx-id: A\r\nContent-Length: ${big.length}\r\n\r\n`);
      a.write(big.subarray(0, 65536));
      await aAnswered;
      const rest = new Promise<void>((resolve) => a.write(big.subarray(65536), () => resolve()));
      const b = await send(srv.port, agent, 'B', body('refuse', 1_000_000));
      await rest;
      assert.equal(b.status, 503);
      const log = srv.events.log;
      assert.ok(log.indexOf('answer:A 503') < log.indexOf('end:A'), `A answered at once: ${log.join(', ')}`);
      assert.ok(log.indexOf('end:A') < log.indexOf('end:B'), `B's body read after A's: ${log.join(', ')}`);
      assert.ok(log.indexOf('end:B') < log.indexOf('answer:B 503'), `B answered after its body: ${log.join(', ')}`);
    } finally {
      a.destroy();
      agent.destroy();
      srv.close();
    }
  },
);

test(
  'a refused body that goes quiet gives up its turn: the next refused one is answered without waiting for it',
  { timeout: 20_000 },
  async () => {
    const refused = new RefusedBodies({ quietMs: 20, freeTurns: 1 });
    const srv = await startServer(refused);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    const slow = net.connect(srv.port, '127.0.0.1');
    try {
      await new Promise<void>((resolve) => slow.once('connect', resolve));
      const payload = body('refuse', 1_000_000);
      const slowAnswer = new Promise<string>((resolve) => {
        let text = '';
        slow.on('data', (c: Buffer) => {
          text += c.toString('latin1');
          if (text.includes('refused at its head')) resolve(text);
        });
      });
      slow.write(`POST / HTTP/1.1\r\nHost: x\r\nx-id: slow\r\nContent-Length: ${payload.length}\r\n\r\n`);
      slow.write(payload.subarray(0, 1000));
      assert.match(await slowAnswer, /^HTTP\/1\.1 503/);
      // The slow client stalls with 999 KB unsent; another refused request must not wait for it.
      const started = performance.now();
      const other = await send(srv.port, agent, 'other', body('refuse', 500_000));
      const waitedMs = performance.now() - started;
      assert.equal(other.status, 503);
      assert.ok(!srv.events.log.includes('end:slow'), 'the slow body is still unfinished');
      assert.ok(waitedMs < 2000, `answered in ${waitedMs.toFixed(0)} ms, not held behind the stalled body`);
      // The slow client finishes later: its body is still dropped, and its connection serves the next request.
      const next = body('serve', 10);
      const served = new Promise<string>((resolve) => {
        let text = '';
        slow.on('data', (c: Buffer) => {
          text += c.toString('latin1');
          if (/\r\n\r\n10$/.test(text)) resolve(text);
        });
      });
      slow.write(payload.subarray(1000));
      slow.write(`POST / HTTP/1.1\r\nHost: x\r\nx-id: slow2\r\nContent-Length: ${next.length}\r\n\r\n`);
      slow.write(next);
      assert.match(await served, /^HTTP\/1\.1 200/);
      assert.equal(refused.waiting, 0);
    } finally {
      slow.destroy();
      agent.destroy();
      srv.close();
    }
  },
);
