/**
 * readChunks, the proxies' read path once forwarding starts: every byte arrives once, in order,
 * in chunks that stay intact after later reads of any socket (they are copied out of one shared
 * read buffer), pause() and resume() hold and release reads, the end of the stream still closes
 * the socket, and the fast path is really taken on this Node.js (it relies on net's internals:
 * if a Node.js upgrade drops them, this test says so instead of the proxies quietly slowing down).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { readChunks, readsThroughSharedBuffer } from '../../src/proxy/socket-chunks.js';
import { pattern, tcpPair, tlsPair } from '../support/socket-pairs.js';

test('accepted and connected TCP sockets read through the shared buffer', async () => {
  const p = await tcpPair({ pauseOnConnect: true });
  try {
    readChunks(p.accepted, () => {});
    readChunks(p.peer, () => {});
    assert.ok(readsThroughSharedBuffer(p.accepted), 'an accepted socket uses the shared read buffer');
    assert.ok(readsThroughSharedBuffer(p.peer), 'a connected socket uses the shared read buffer');
  } finally {
    p.close();
  }
});

test('chunks from several sockets stay intact while the shared buffer is reused', async () => {
  const pairs = await Promise.all([
    tcpPair({ pauseOnConnect: true }),
    tcpPair({ pauseOnConnect: true }),
    tcpPair({ pauseOnConnect: true }),
  ]);
  try {
    const kept: Buffer[][] = pairs.map(() => []);
    const total = 300_000;
    const done = pairs.map((p, i) => {
      let got = 0;
      return new Promise<void>((resolve) => {
        readChunks(p.accepted, (chunk) => {
          kept[i].push(chunk); // kept, not copied: later reads must not change it
          got += chunk.length;
          if (got === total) resolve();
        });
        p.accepted.resume();
      });
    });
    // Interleaved writes of different sizes, so reads of the three sockets alternate.
    for (let off = 0; off < total; ) {
      const n = Math.min(total - off, 1 + ((off * 13) % 70_000));
      for (const [i, p] of pairs.entries()) p.peer.write(pattern(i, n, off));
      off += n;
    }
    await Promise.all(done);
    pairs.forEach((_, i) => {
      assert.ok(Buffer.concat(kept[i]).equals(pattern(i, total)), `socket ${i}: every byte once, in order`);
    });
  } finally {
    for (const p of pairs) p.close();
  }
});

test('pause() in the handler holds the reads until resume(); the end still closes the socket', async () => {
  const p = await tcpPair({ pauseOnConnect: true });
  try {
    const got: Buffer[] = [];
    let paused = false;
    readChunks(p.accepted, (chunk) => {
      assert.ok(!paused, 'no chunk arrives while paused');
      got.push(chunk);
      p.accepted.pause();
      paused = true;
    });
    p.accepted.resume();
    p.peer.write('first');
    await waitUntil(() => got.length === 1);
    p.peer.write('second');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(got.length, 1, 'the second write waits in the kernel');
    paused = false;
    const closed = once(p.accepted, 'close');
    p.accepted.resume();
    await waitUntil(() => got.length === 2);
    assert.equal(Buffer.concat(got).toString(), 'firstsecond');
    p.peer.end();
    paused = false;
    p.accepted.resume();
    await closed;
  } finally {
    p.close();
  }
});

test('data the stream already holds, and TLS sockets, take the data events, losing nothing', async () => {
  const p = await tcpPair({ pauseOnConnect: true });
  try {
    p.accepted.resume();
    p.peer.write('early');
    await waitUntil(() => p.accepted.readableLength > 0 || p.accepted.readableFlowing === true);
    // A Readable in flowing mode without listeners drops nothing: it holds chunks once paused.
    p.accepted.pause();
    await new Promise((r) => setTimeout(r, 50));
    const got: Buffer[] = [];
    readChunks(p.accepted, (chunk) => got.push(chunk));
    assert.equal(readsThroughSharedBuffer(p.accepted), p.accepted.readableLength === 0);
    p.accepted.resume();
    p.peer.write('late');
    await waitUntil(() => Buffer.concat(got).length === 9);
    assert.equal(Buffer.concat(got).toString(), 'earlylate');
  } finally {
    p.close();
  }

  const t = await tlsPair();
  try {
    const socket = t.accepted;
    socket.pause();
    const got: Buffer[] = [];
    readChunks(socket, (chunk) => got.push(chunk));
    assert.ok(!readsThroughSharedBuffer(socket), 'TLS sockets keep the data events');
    socket.resume();
    t.peer.write('over tls');
    await waitUntil(() => Buffer.concat(got).toString() === 'over tls');
  } finally {
    t.close();
  }
});

async function waitUntil(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), 'condition not reached within 5 s');
}
