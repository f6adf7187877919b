/**
 * endSockets, how both proxies end a finished session: a client still reading what it was sent is
 * kept while the bytes waiting for it go down (up to 10 s); one that stops reading is cut after a
 * second; the upstream goes with it. The sockets are stand-ins whose buffered byte count the test
 * drives (the kernel's socket buffers make a real reader's pace hard to pin down).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endSockets } from '../../src/proxy/end-sockets.js';

interface FakeSocket {
  pending: number;
  destroyed: boolean;
  ended: boolean;
  end(): void;
  destroy(): void;
}

function fake(pending: number): FakeSocket {
  return {
    pending,
    destroyed: false,
    ended: false,
    end() {
      this.ended = true;
    },
    destroy() {
      this.destroyed = true;
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a client whose waiting bytes go down is kept past the first second, then cut once they are sent', async () => {
  const client = fake(1_000_000);
  const upstream = fake(0);
  endSockets(client, upstream);
  assert.ok(client.ended && upstream.ended);
  const reading = setInterval(() => {
    client.pending = Math.max(0, client.pending - 150_000);
  }, 200);
  try {
    await sleep(1500);
    assert.ok(!client.destroyed, 'still reading after a second: kept');
    while (client.pending > 0) await sleep(50);
    await sleep(1200);
    assert.ok(client.destroyed && upstream.destroyed, 'cut once nothing waits');
  } finally {
    clearInterval(reading);
  }
});

test('a client that stops reading is cut after about a second, with the upstream', async () => {
  const client = fake(1_000_000);
  const upstream = fake(0);
  endSockets(client, upstream);
  await sleep(1500);
  assert.ok(client.destroyed && upstream.destroyed);
});
