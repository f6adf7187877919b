/**
 * SocketWriter, the proxies' write path once forwarding starts: bytes arrive once and in order
 * whether the kernel takes them at once or libuv queues them, a queued buffer stays alive until it
 * is sent (a collected one would reach the peer as garbage or fail the write), backpressure is
 * reported and released as net.Socket's is, end() follows the queued bytes, a failed write destroys
 * the socket with an error instead of throwing, and sockets that cannot be written directly (TLS,
 * or bytes already waiting in the Writable) still get everything in order. The direct path must
 * really be taken on this Node.js: it relies on Node's internals, and if an upgrade drops them
 * this test says so instead of the proxies quietly slowing down.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type net from 'node:net';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { SocketWriter } from '../../src/proxy/socket-writes.js';
import { pattern, type SocketPair, tcpPair, tlsPair } from '../support/socket-pairs.js';

async function pair(): Promise<SocketPair> {
  const p = await tcpPair();
  // The tests reset and destroy connections on purpose.
  p.accepted.on('error', () => {});
  p.peer.on('error', () => {});
  return p;
}

/** Everything `socket` receives until it has `size` bytes. */
async function receive(socket: net.Socket, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  socket.resume();
  for await (const chunk of socket) {
    parts.push(chunk as Buffer);
    n += (chunk as Buffer).length;
    if (n >= size) break;
  }
  return Buffer.concat(parts);
}

test('a plain TCP socket is written straight to its handle, in order, with writes that queue', async () => {
  const p = await pair();
  try {
    const w = new SocketWriter(p.accepted, () => {});
    assert.ok(w.direct, 'the direct write path is taken on this Node.js');
    p.peer.pause();
    // Small writes the kernel takes at once, then big ones it cannot while the peer does not read,
    // then more small ones and writev batches that must queue behind them.
    const sizes = [5, 300, 4096, 3_000_000, 17, 2_000_000, 1, 70_000, 9];
    let at = 0;
    for (const [i, size] of sizes.entries()) {
      if (i % 3 === 2) {
        const half = size >> 1;
        w.writev([pattern(1, half, at), pattern(1, size - half, at + half)]);
      } else {
        w.write(pattern(1, size, at));
      }
      at += size;
    }
    assert.ok(w.pending > 0, 'bytes wait in the handle while the peer does not read');
    const got = await receive(p.peer, at);
    assert.equal(got.length, at);
    assert.ok(got.equals(pattern(1, at)), 'every byte once, in order');
  } finally {
    p.close();
  }
});

test('a queued buffer stays alive until it is sent, though the caller dropped it', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const p = await pair();
  try {
    const w = new SocketWriter(p.accepted, () => {});
    p.peer.pause();
    const size = 16 * 1024 * 1024;
    // Written from a function whose buffer nothing else references once it returns.
    ((): void => {
      w.write(pattern(2, size));
    })();
    assert.ok(w.pending > 0);
    for (let i = 0; i < 5; i++) {
      gc();
      // Other allocations that would reuse the freed memory.
      Buffer.alloc(size, 0xee);
    }
    const got = await receive(p.peer, size);
    assert.ok(!p.accepted.destroyed, 'the write did not fail');
    assert.ok(got.equals(pattern(2, size)), 'the queued bytes arrive intact');
  } finally {
    p.close();
  }
});

test('backpressure: write returns false once the peer stops reading, onDrain once it has read', async () => {
  const p = await pair();
  try {
    let drains = 0;
    const w = new SocketWriter(p.accepted, () => drains++);
    p.peer.pause();
    const block = pattern(3, 64 * 1024);
    let written = 0;
    let ok = true;
    while (ok && written < 256 * 1024 * 1024) {
      ok = w.write(block);
      written += block.length;
    }
    assert.equal(ok, false, 'the writer reports a full buffer');
    assert.ok(w.needDrain);
    assert.ok(w.pending >= p.accepted.writableHighWaterMark);
    assert.equal(drains, 0);
    const drained = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (drains > 0) {
          clearInterval(check);
          resolve();
        }
      }, 5);
    });
    const got = receive(p.peer, written);
    await drained;
    assert.equal(drains, 1);
    assert.equal(w.needDrain, false);
    assert.equal(w.pending, 0);
    assert.equal((await got).length, written);
  } finally {
    p.close();
  }
});

test('end() half-closes after the queued bytes', async () => {
  const p = await pair();
  try {
    const w = new SocketWriter(p.accepted, () => {});
    p.peer.pause();
    const size = 8 * 1024 * 1024;
    w.write(pattern(4, size));
    w.end();
    assert.equal(w.write(Buffer.from('late')), false, 'nothing is written after end()');
    const parts: Buffer[] = [];
    p.peer.on('data', (c: Buffer) => parts.push(c));
    p.peer.resume();
    await once(p.peer, 'end');
    const got = Buffer.concat(parts);
    assert.ok(got.equals(pattern(4, size)), 'everything before end(), nothing after');
  } finally {
    p.close();
  }
});

test('a write to a reset connection destroys the socket with the error, without throwing', async () => {
  const p = await pair();
  try {
    const w = new SocketWriter(p.accepted, () => {});
    const error = once(p.accepted, 'error') as Promise<[NodeJS.ErrnoException]>;
    p.peer.resetAndDestroy();
    await once(p.peer, 'close');
    // The first write may still be taken by the kernel; the reset shows on one of the next.
    const deadline = Date.now() + 10_000;
    while (!p.accepted.destroyed && Date.now() < deadline) {
      w.write(Buffer.alloc(1024));
      await new Promise((r) => setTimeout(r, 10));
    }
    const [err] = await error;
    assert.ok(p.accepted.destroyed);
    assert.match(String(err.code), /^(EPIPE|ECONNRESET)$/);
    assert.equal(err.syscall, 'write');
    assert.equal(w.write(Buffer.from('x')), false, 'writes to a destroyed socket are dropped');
    assert.equal(w.pending, 0);
  } finally {
    p.close();
  }
});

test('a socket with bytes waiting in its Writable keeps the Writable, in order', async () => {
  const p = await pair();
  try {
    p.peer.pause();
    const first = pattern(5, 4 * 1024 * 1024);
    p.accepted.write(first);
    assert.ok(p.accepted.writableLength > 0);
    let drains = 0;
    const w = new SocketWriter(p.accepted, () => drains++);
    assert.equal(w.direct, false);
    const rest = pattern(5, 1024 * 1024, first.length);
    assert.equal(w.writev([rest.subarray(0, 10), rest.subarray(10)]), false);
    assert.ok(w.needDrain);
    const got = await receive(p.peer, first.length + rest.length);
    assert.ok(got.equals(pattern(5, first.length + rest.length)));
    await new Promise((r) => setImmediate(r));
    assert.equal(drains, 1, "the Writable's drain reaches onDrain");
  } finally {
    p.close();
  }
});

test('a TLS socket keeps its own write path', async () => {
  const t = await tlsPair();
  try {
    const w = new SocketWriter(t.accepted, () => {});
    assert.equal(w.direct, false);
    const data = pattern(6, 300_000);
    w.writev([data.subarray(0, 1000), data.subarray(1000)]);
    const got = await receive(t.peer, data.length);
    assert.ok(got.equals(data));
  } finally {
    t.close();
  }
});
