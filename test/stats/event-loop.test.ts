import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startLagMonitor } from '../../src/stats/event-loop.js';

test('event-loop lag is about zero when idle and shows a blocked thread, net of the sampling interval', async () => {
  const idle = startLagMonitor();
  await new Promise((r) => setTimeout(r, 120));
  const quiet = idle.stop();
  assert.ok(quiet.mean < 5, `idle mean ${quiet.mean} ms (a raw monitor reports about 10)`);
  const busy = startLagMonitor();
  await new Promise((r) => setTimeout(r, 30));
  const until = performance.now() + 60;
  while (performance.now() < until) {
    // block the thread, as session.run does
  }
  await new Promise((r) => setTimeout(r, 30));
  const blocked = busy.stop();
  assert.ok(blocked.max >= 40 && blocked.max < 120, `max ${blocked.max} ms for a 60 ms block`);
});
