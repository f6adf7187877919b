/**
 * endSockets, how both proxies end a finished session: a client still reading what it was sent is
 * kept while the bytes waiting for it go down (up to 10 s); one that stops reading is cut after a
 * second; the upstream goes with it. The sockets are stand-ins whose buffered byte count the test
 * drives (the kernel's socket buffers make a real reader's pace hard to pin down).
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { endSockets } from '../../src/proxy/end-sockets.js';

interface FakeSocket {
  writableLength: number;
  destroyed: boolean;
  ended: boolean;
  end(): void;
  destroy(): void;
}

function fake(writableLength: number): FakeSocket {
  return {
    writableLength,
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
  endSockets(client as unknown as Socket, upstream as unknown as Socket);
  assert.ok(client.ended && upstream.ended);
  const reading = setInterval(() => {
    client.writableLength = Math.max(0, client.writableLength - 150_000);
  }, 200);
  try {
    await sleep(1500);
    assert.ok(!client.destroyed, 'still reading after a second: kept');
    while (client.writableLength > 0) await sleep(50);
    await sleep(1200);
    assert.ok(client.destroyed && upstream.destroyed, 'cut once nothing waits');
  } finally {
    clearInterval(reading);
  }
});

test('a client that stops reading is cut after about a second, with the upstream', async () => {
  const client = fake(1_000_000);
  const upstream = fake(0);
  endSockets(client as unknown as Socket, upstream as unknown as Socket);
  await sleep(1500);
  assert.ok(client.destroyed && upstream.destroyed);
});
